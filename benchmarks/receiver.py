"""Benchmark of the live eDRV webhook receiver: sustained signed requests/s with durable
acknowledgement, and p50/p99 latency, on loopback with concurrent keep-alive clients.

Three servers, each in its own process, loaded by the same client process in one run:

    durable   the real receiver: signature check, write-ahead log, group-commit fsync before the
              200, rotation into Parquet every --rotate-every (so conversion cost is included)
    no-fsync  the same receiver with fsync disabled (acknowledgements NOT durable): what the
              fsync costs
    bare      a bare Starlette endpoint on the same uvicorn settings that reads the body and
              answers 200: the HTTP stack's own ceiling

The load generator is a raw asyncio HTTP/1.1 client (one request in flight per connection, keep-
alive), so the client costs less CPU than the server. Client and servers share the machine's
cores; the figures are for the whole machine.

    .venv/bin/python benchmarks/receiver.py [--seconds 10] [--connections 64]

`--hostile` instead measures the durable receiver against hostile clients, at a 1,024-descriptor
limit: 1,100 connections that never finish their headers, then 20 legitimate signed requests
(how many are answered, and how fast); 600 unsigned 1 MiB bodies sent 64 at a time (the
receiver's peak and final RSS); and the bytes the receiver wrote to stderr meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

SECRET = "whsec_benchmark"
PATH = "/webhooks/edrv"
MODES = ("durable", "no-fsync", "bare")


# ---------------------------------------------------------------------------------------------
# Servers (run in a subprocess: `receiver.py --serve MODE --port P --lake DIR`)


def serve(mode: str, port: int, lake: Path, rotate_every: float) -> None:
    import logging

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from evlog._record.live import configure_logging
    from evlog._record.receiver import ReceiverConfig, open_receiver, wal_lock

    configure_logging(level=logging.WARNING)
    if mode == "bare":

        async def ok(request: Request) -> Response:
            await request.body()
            return Response(status_code=200)

        app = Starlette(routes=[Route(PATH, ok, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        uvicorn.Server(config).run()
        return
    receiver_config = ReceiverConfig(
        lake=lake,
        port=port,
        secret=SECRET,
        fsync=mode == "durable",
        status=False,
        rotate_every=timedelta(seconds=rotate_every),
    )
    with wal_lock(receiver_config.wal_directory()):
        receiver, _ = open_receiver(receiver_config)
        receiver.make_server().run()
    print(json.dumps({"received": receiver.summary.received, **receiver.health()}), flush=True)


# ---------------------------------------------------------------------------------------------
# Load generator


def request_bytes(n: int, worker: int) -> bytes:
    body = (
        f'{{"_id":"bench-{worker}-{n}","event":"chargestation.online","object":"chargestation",'
        f'"data":{{"_id":"st-{n % 5000}","online":true,"lastConnectAt":"2026-11-21T10:00:00Z"}}}}'
    ).encode()
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"edrv-signature: t={t},v1={digest}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def worker(
    port: int, index: int, warmup_end: float, end: float, latencies: list[float], errors: list[int]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while (now := time.perf_counter()) < end:
            writer.write(request_bytes(n, index))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            done = time.perf_counter()
            n += 1
            if status != 200:
                errors.append(status)
            elif now >= warmup_end:
                latencies.append(done - now)
    finally:
        writer.close()
    return n


async def load(port: int, connections: int, seconds: float, warmup: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    warmup_end, end = start + warmup, start + warmup + seconds
    await asyncio.gather(
        *(worker(port, i, warmup_end, end, latencies, errors) for i in range(connections))
    )
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else float("nan")

    return {
        "requests": count,
        "req_per_s": round(count / seconds),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(latencies[-1] * 1000, 2) if count else float("nan"),
        "errors": len(errors),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not start (exit {process.poll()})")


def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, float | str]:
    port = free_port()
    lake = workdir / f"lake-{mode}"
    command = [sys.executable, __file__, "--serve", mode, "--port", str(port), "--lake", str(lake)]
    command += ["--rotate-every", str(args.rotate_every)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        wait_listening(port, process)
        result: dict[str, float | str] = {"mode": mode}
        result.update(asyncio.run(load(port, args.connections, args.seconds, args.warmup)))
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if mode != "bare":
        from evlog._lake.layout import Lake
        from evlog._lake.names import Table

        final = json.loads(out.decode().strip().splitlines()[-1])
        stored = Lake.open(lake).read(Table.RAW_WEBHOOKS).num_rows
        result["acknowledged_total"] = final["received"]
        result["in_lake_after_stop"] = stored
    return result


def rss_mib(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("rss_mib", "VmRSS"), ("peak_rss_mib", "VmHWM"))
    }


async def unsigned_bodies(port: int, count: int, size: int, concurrency: int) -> int:
    """Send `count` unsigned bodies of `size` bytes, `concurrency` at a time; returns 401s."""
    gate = asyncio.Semaphore(concurrency)
    head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {size}\r\n\r\n".encode()
    body = b"x" * size

    async def one() -> bool:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(head + body)
                with contextlib.suppress(OSError):
                    await writer.drain()
                return (await reader.read(12))[9:12] == b"401"
            except OSError:
                return False
            finally:
                writer.close()

    return sum(await asyncio.gather(*(one() for _ in range(count))))


def hostile(workdir: Path) -> dict[str, object]:
    port = free_port()
    lake = workdir / "lake-hostile"
    command = [sys.executable, __file__, "--serve", "durable", "--port", str(port)]
    command += ["--lake", str(lake), "--rotate-every", "5"]
    stderr_path = workdir / "stderr"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, preexec_fn=limit)
    idle: list[socket.socket] = []
    result: dict[str, object] = {"mode": "hostile"}
    try:
        wait_listening(port, process)
        for _ in range(1100):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(f"POST {PATH} HTTP/1.1\r\nhost: x\r\n".encode())
            idle.append(sock)
        answered, latencies = 0, []
        for n in range(20):
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(request_bytes(n, 0))
                    answered += sock.recv(12)[9:12] == b"200"
            except OSError:
                continue
            latencies.append(time.perf_counter() - started)
        result["legit_answered"] = f"{answered}/20"
        result["legit_max_ms"] = round(max(latencies, default=float("nan")) * 1000, 1)
        for sock in idle:
            sock.close()
        result["unsigned_401"] = asyncio.run(unsigned_bodies(port, 600, 1 << 20, 64))
        result.update(rss_mib(process.pid))
        result["stderr_bytes"] = stderr_path.stat().st_size
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        for sock in idle:
            sock.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rotate-every", type=float, default=5.0, help="log → Parquet, seconds")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--hostile", action="store_true", help="hostile clients instead")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.lake, args.rotate_every)
        return
    stack = [name for name in ("httptools", "uvloop") if importlib.util.find_spec(name)]
    workdir = Path(tempfile.mkdtemp(prefix="evlog-bench-"))
    print(
        f"# {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"uvicorn with {', '.join(stack) or 'h11 + asyncio'}; {args.connections} connections, "
        f"{args.seconds:g}s per mode after {args.warmup:g}s warmup",
        flush=True,
    )
    try:
        if args.hostile:
            print(json.dumps(hostile(workdir), default=str), flush=True)
            return
        for mode in args.modes.split(","):
            print(json.dumps(run_mode(mode, args, workdir), default=str), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
