"""The live webhook receiver over real HTTP on loopback: uvicorn in a thread (or, for the crash
test, `evlog record webhooks --listen` in a subprocess killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from evlog._cli import main
from evlog._lake.layout import Lake
from evlog._lake.names import QuarantineReason, Table
from evlog._record import wal
from evlog._record.receiver import Receiver, ReceiverConfig, open_receiver, wal_lock
from evlog._sources import edrv
from tests import feeds

SECRET = "whsec_test"
PATH = "/webhooks/edrv"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def online(webhook_id: str, station: str = "st-1") -> bytes:
    return json.dumps(feeds.webhook(webhook_id, station, True, "2026-11-21T10:00:00Z")).encode()


def signed(body: bytes, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    return {edrv.SIGNATURE_HEADER: edrv.sign(secret, body, timestamp)}


@contextmanager
def serving(lake: Path, **options: Any) -> Iterator[tuple[str, Receiver]]:
    """A receiver on a free loopback port in a thread; stopped (gracefully) on exit."""
    config = ReceiverConfig(lake=lake, port=free_port(), secret=SECRET, status=False)
    config = replace(config, **options)
    with wal_lock(config.wal_directory()):
        receiver, _ = open_receiver(config)
        server = receiver.make_server()
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "the receiver did not start"
        try:
            yield f"http://127.0.0.1:{config.port}", receiver
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            assert not thread.is_alive(), "the receiver did not stop"


def raw_ids(lake: Path) -> list[str | None]:
    return [r["webhook_id"] for r in Lake.open(lake).read(Table.RAW_WEBHOOKS).to_pylist()]


def test_signed_webhook_is_acknowledged_empty_and_stored(tmp_path: Path) -> None:
    body = online("w-1")
    with serving(tmp_path / "lake") as (url, _), httpx.Client() as client:
        response = client.post(url + PATH, content=body, headers=signed(body))
        assert response.status_code == 200
        assert response.content == b""
    lake = Lake.open(tmp_path / "lake")
    raw = lake.read(Table.RAW_WEBHOOKS).to_pylist()
    assert len(raw) == 1 and raw[0]["payload"] == body and raw[0]["webhook_id"] == "w-1"
    assert json.loads(raw[0]["headers"])[edrv.SIGNATURE_HEADER].startswith("t=")
    assert raw[0]["capture"].startswith("http://127.0.0.1:")
    events = lake.read(Table.CONNECTIVITY_EVENTS).to_pylist()
    assert [(e["station_id"], e["online"]) for e in events] == [("st-1", True)]
    coverage = lake.read(Table.COVERAGE).to_pylist()
    kinds = {c["kind"] for c in coverage}
    assert {"start", "stop"} <= kinds
    stop = next(c for c in coverage if c["kind"] == "stop")
    assert stop["covered_from"] < stop["covered_to"]
    assert wal.segments(tmp_path / "lake" / "_wal" / "edrv_webhooks") == []


def test_bad_signatures_get_401_and_store_nothing(tmp_path: Path) -> None:
    body = online("w-bad")
    now = time.time()
    attempts = [
        {},  # no header
        {edrv.SIGNATURE_HEADER: "garbage"},
        signed(body, secret="another secret"),
        signed(body, at=now - 310),  # stale
        signed(body, at=now + 310),  # from the future (ints truncate)
        signed(online("w-other")),  # signs another body
    ]
    with serving(tmp_path / "lake") as (url, receiver), httpx.Client() as client:
        for headers in attempts:
            assert client.post(url + PATH, content=body, headers=headers).status_code == 401
        assert receiver.summary.received == 0
    assert raw_ids(tmp_path / "lake") == []


def test_body_over_limit_gets_413(tmp_path: Path) -> None:
    big = b'{"_id": "w-big", "pad": "' + b"x" * 2000 + b'"}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size is checked
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    with serving(tmp_path / "lake", max_body=1000) as (url, _), httpx.Client() as client:
        assert client.post(url + PATH, content=big, headers=signed(big)).status_code == 413
        response = client.post(url + PATH, content=chunks(), headers=signed(big))
        assert response.status_code == 413
        small = online("w-small")
        assert client.post(url + PATH, content=small, headers=signed(small)).status_code == 200
    assert raw_ids(tmp_path / "lake") == ["w-small"]


def test_authentic_unparseable_body_is_stored_and_quarantined(tmp_path: Path) -> None:
    body = b'{"_id": "w-broken", "event": '
    with serving(tmp_path / "lake") as (url, _), httpx.Client() as client:
        response = client.post(url + PATH, content=body, headers=signed(body))
        assert (response.status_code, response.content) == (200, b"")
    lake = Lake.open(tmp_path / "lake")
    assert [r["payload"] for r in lake.read(Table.RAW_WEBHOOKS).to_pylist()] == [body]
    quarantine = lake.read(Table.QUARANTINE).to_pylist()
    assert [(q["reason"], q["payload"]) for q in quarantine] == [
        (QuarantineReason.INVALID_JSON, body)
    ]
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 0


def test_same_webhook_twice_is_one_event(tmp_path: Path) -> None:
    body = online("w-dup")
    with serving(tmp_path / "lake") as (url, _), httpx.Client() as client:
        for _ in range(2):  # within one log segment
            assert client.post(url + PATH, content=body, headers=signed(body)).status_code == 200
    with serving(tmp_path / "lake") as (url, _), httpx.Client() as client:  # a later session
        assert client.post(url + PATH, content=body, headers=signed(body)).status_code == 200
    lake = Lake.open(tmp_path / "lake")
    assert raw_ids(tmp_path / "lake") == ["w-dup"]
    assert lake.read(Table.CONNECTIVITY_EVENTS).num_rows == 1


def test_healthz_and_rotation_while_running(tmp_path: Path) -> None:
    rotate = timedelta(seconds=0.2)
    with serving(tmp_path / "lake", rotate_every=rotate) as (url, _), httpx.Client() as client:
        health = client.get(url + "/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["records"] == 0
        body = online("w-rot")
        assert client.post(url + PATH, content=body, headers=signed(body)).status_code == 200
        health = client.get(url + "/healthz").json()
        assert health["records"] == 1 and health["last_received_at"] is not None
        deadline = time.monotonic() + 10  # rotation turns the log into Parquet while serving
        while not raw_ids(tmp_path / "lake") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert raw_ids(tmp_path / "lake") == ["w-rot"]
        assert client.get(url + PATH).status_code == 405
        assert client.post(url + "/elsewhere", content=body).status_code == 404


def test_unsigned_mode_accepts_unsigned(tmp_path: Path) -> None:
    body = online("w-unsigned")
    with serving(tmp_path / "lake", secret=None) as (url, _), httpx.Client() as client:
        assert client.post(url + PATH, content=body).status_code == 200
    assert raw_ids(tmp_path / "lake") == ["w-unsigned"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either --from"),
        (["--from", "x.jsonl", "--listen", "8080"], "either --from"),
        (["--listen", "host:notaport"], "--listen"),
        (["--listen", "127.0.0.1:70000"], "--listen"),
        (["--listen", "8080", "--secret-env", "EVLOG_TEST_UNSET_VAR"], "EVLOG_TEST_UNSET_VAR"),
        (["--listen", "8080", "--max-body", "lots"], "--max-body"),
        (["--listen", "8080", "--heartbeat", "5m"], "--heartbeat"),
        (["--listen", "8080", "--max-body", "256MiB"], "--max-body: at most"),
        (["--from", "x.jsonl", "--redact-header", "X-Token"], "--redact-header"),
    ],
)
def test_cli_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    os.environ.pop("EVLOG_TEST_UNSET_VAR", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "webhooks", "--lake", str(tmp_path / "lake"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# Crash: SIGKILL mid-load, restart, every acknowledged webhook is in the lake.


def start_cli(lake: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from evlog._cli import main; main()"]
    args = ["record", "webhooks", "--lake", str(lake), "--listen", f"127.0.0.1:{port}"]
    env = {**os.environ, "EVLOG_TEST_SECRET": SECRET}
    return subprocess.Popen(
        [*command, *args, "--secret-env", "EVLOG_TEST_SECRET"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"receiver not healthy: {process.poll()=}")


def test_sigkill_mid_load_loses_no_acknowledged_webhook(tmp_path: Path) -> None:
    lake, port = tmp_path / "lake", free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_cli(lake, port)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(timeout=2) as http:
            for n in range(5000):  # bounded; the kill ends it long before
                if stop.is_set():
                    return
                webhook_id = f"w-{worker}-{n}"
                body = online(webhook_id, f"st-{worker}")
                try:
                    response = http.post(url + PATH, content=body, headers=signed(body))
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    with lock:
                        acked.append(webhook_id)

    try:
        wait_healthy(url, process)
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(client, w) for w in range(6)]
            deadline = time.monotonic() + 10
            while len(acked) < 300 and time.monotonic() < deadline:
                time.sleep(0.01)
            killed_at = datetime.now(UTC)
            process.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
            process.wait(timeout=10)
            stop.set()
            for future in futures:
                future.result(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert len(acked) >= 300
    wal_dir = lake / "_wal" / "edrv_webhooks"
    assert wal.segments(wal_dir), "a crash leaves the log behind"

    restart = start_cli(lake, port)  # recovery runs before it listens
    try:
        wait_healthy(url, restart)
        restart.send_signal(signal.SIGTERM)
        _, err = restart.communicate(timeout=20)
        assert restart.returncode == 0, err.decode()[-2000:]
    finally:
        if restart.poll() is None:
            restart.kill()
            restart.wait(timeout=10)
    assert b"recovered a log segment" in err
    stored = set(raw_ids(lake))
    assert set(acked) <= stored
    events = Lake.open(lake).read(Table.CONNECTIVITY_EVENTS).to_pylist()
    assert {e["webhook_id"] for e in events} == stored
    assert len(events) == len(stored)  # one event per webhook, none doubled by the replay
    assert wal.segments(wal_dir) == []
    # Coverage of the killed session ends at its last durable heartbeat, never later.
    coverage = Lake.open(lake).read(Table.COVERAGE).to_pylist()
    killed = [c for c in coverage if c["covered_from"] < killed_at]
    assert killed and all(c["covered_to"] <= killed_at for c in killed)
    assert {c["kind"] for c in killed} == {"start"}  # no heartbeat was due, no stop was written


# ---------------------------------------------------------------------------------------------
# Slow and hostile clients, secrets in headers (in-process receiver, raw sockets on loopback)


def open_request(url: str, head: str) -> socket.socket:
    """A connection that sent `head` (request line and headers, maybe unfinished) and waits."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=3)
    sock.sendall(head.encode())
    return sock


def status_of(sock: socket.socket) -> int | None:
    """The status code the server answered on `sock`, None if it closed without one."""
    data = sock.recv(4096)
    return int(data.split()[1]) if data else None


def webhook_head(length: int, signature: str | None) -> str:
    signed_line = "" if signature is None else f"{edrv.SIGNATURE_HEADER}: {signature}\r\n"
    return f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n{signed_line}\r\n"


def test_connection_that_never_finishes_its_headers_is_closed(tmp_path: Path) -> None:
    timeout = timedelta(seconds=0.3)
    with serving(tmp_path / "lake", header_timeout=timeout) as (url, _):
        sock = open_request(url, f"POST {PATH} HTTP/1.1\r\nhost: x\r\n")  # no blank line
        started = time.monotonic()
        assert status_of(sock) is None  # closed, no request to answer
        assert time.monotonic() - started < 2


def test_unsigned_or_stale_request_is_refused_before_its_body(tmp_path: Path) -> None:
    big = 8 << 20
    with serving(tmp_path / "lake", max_body=big) as (url, receiver):
        stale = signed(b"", at=time.time() - 600)[edrv.SIGNATURE_HEADER]
        for signature in (None, "t=1,v1=zz", stale):
            sock = open_request(url, webhook_head(big, signature))  # the body never comes
            assert status_of(sock) == 401
        assert receiver.summary.rejected == {401: 3}


def test_bodies_held_at_once_are_bounded(tmp_path: Path) -> None:
    body = online("w-after")
    options: dict[str, Any] = {"max_body": 100_000, "body_budget": 250_000}
    with serving(tmp_path / "lake", **options) as (url, _), httpx.Client() as client:
        signature = signed(b"")[edrv.SIGNATURE_HEADER]  # well-formed and fresh: bodies are read
        slow = [open_request(url, webhook_head(100_000, signature) + "{") for _ in range(2)]
        time.sleep(0.2)
        third = open_request(url, webhook_head(100_000, signature))
        assert status_of(third) == 503  # 300,000 bytes would be held: over the budget
        for sock in slow:
            sock.close()
        time.sleep(0.2)
        assert client.post(url + PATH, content=body, headers=signed(body)).status_code == 200
    assert raw_ids(tmp_path / "lake") == ["w-after"]


def test_body_that_never_arrives_times_out(tmp_path: Path) -> None:
    timeout = timedelta(seconds=0.3)
    with serving(tmp_path / "lake", body_timeout=timeout) as (url, _):
        signature = signed(b"")[edrv.SIGNATURE_HEADER]
        sock = open_request(url, webhook_head(1000, signature) + '{"_id": ')
        assert status_of(sock) == 408


def test_secret_headers_are_stored_redacted(tmp_path: Path) -> None:
    body = online("w-secrets")
    sent = {
        "Authorization": "Bearer live-token",
        "Cookie": "session=cookie-secret",
        "X-Api-Key": "key-1",
        "X-Tenant-Token": "tenant-secret",
        "X-Request-Id": "req-7",
    }
    options: dict[str, Any] = {"redact_headers": ("x-tenant-token",)}
    with serving(tmp_path / "lake", **options) as (url, _), httpx.Client() as client:
        response = client.post(url + PATH, content=body, headers={**sent, **signed(body)})
        assert response.status_code == 200
    (raw,) = Lake.open(tmp_path / "lake").read(Table.RAW_WEBHOOKS).to_pylist()
    stored = json.loads(raw["headers"])
    for name in ("authorization", "cookie", "x-api-key", "x-tenant-token"):
        assert stored[name] == "[redacted]"
    assert stored["x-request-id"] == "req-7"
    assert stored[edrv.SIGNATURE_HEADER].startswith("t=")
    assert not any(
        secret in raw["headers"] for secret in ("live-token", "cookie-secret", "tenant-secret")
    )


def test_saved_envelopes_are_imported_with_secret_headers_redacted(tmp_path: Path) -> None:
    envelope = {
        "received_at": "2026-11-21T10:00:01Z",
        "headers": {"Authorization": "Bearer saved-token", "Set-Cookie": "a=b", "X-Trace": "t1"},
        "body": json.loads(online("w-saved")),
    }
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes(json.dumps(envelope).encode() + b"\n")
    command = [
        sys.executable,
        "-m",
        "evlog",
        "record",
        "webhooks",
        "--lake",
        str(tmp_path / "lake"),
    ]
    subprocess.run([*command, "--from", str(saved)], check=True, capture_output=True)
    (raw,) = Lake.open(tmp_path / "lake").read(Table.RAW_WEBHOOKS).to_pylist()
    assert json.loads(raw["headers"]) == {
        "Authorization": "[redacted]",
        "Set-Cookie": "[redacted]",
        "X-Trace": "t1",
    }


def test_body_of_a_refused_request_must_still_come_in_time(tmp_path: Path) -> None:
    timeout = timedelta(seconds=0.3)
    with serving(tmp_path / "lake", max_body=8 << 20, body_timeout=timeout) as (url, _):
        sock = open_request(url, webhook_head(5_000_000, None))
        assert status_of(sock) == 401
        started = time.monotonic()
        with pytest.raises(OSError):  # closed: the rest of the body is not waited for
            while time.monotonic() - started < 3:
                sock.sendall(b"x" * 1000)
                time.sleep(0.05)
