"""The live receiver under faults, end to end: `python -m evlog record webhooks --listen` in a
subprocess, real HTTP on loopback, poison records, failed writes (injected, or a real full tmpfs),
SIGKILL, exhausted file descriptors. What is acknowledged must end in Parquet; nothing a client
sends may stop the receiver or its recovery."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evlog._lake.layout import Lake
from evlog._lake.names import QuarantineReason, Table
from evlog._record import wal
from tests import feeds
from tests.record.test_receiver import PATH, SECRET, free_port, online, raw_ids, signed

POISON_TIME = "0001-01-01T00:00:00+01:00"  # overflows astimezone


class Cli:
    """One receiver process on a free port."""

    def __init__(
        self, lake: Path, *extra: str, faults: str | None = None, nofile: int | None = None
    ) -> None:
        self.lake, self.port = lake, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EVLOG_TEST_SECRET": SECRET}
        env.pop("EVLOG_FAULTS", None)
        if faults is not None:
            env["EVLOG_FAULTS"] = faults

        def limit_fds() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        command = [sys.executable, "-m", "evlog", "record", "webhooks", "--lake", str(lake)]
        listen = ["--listen", f"127.0.0.1:{self.port}", "--secret-env", "EVLOG_TEST_SECRET"]
        self.process = subprocess.Popen(
            [*command, *listen, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=limit_fds,
        )
        self.wait_listening()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        _, err = self.process.communicate(timeout=10)
        raise AssertionError(f"receiver exited {self.process.returncode}: {err.decode()[-3000:]}")

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=5).json()
        return health

    def post(self, body: bytes, client: httpx.Client, **headers: str) -> int:
        response = client.post(self.url + PATH, content=body, headers={**headers, **signed(body)})
        return response.status_code

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> tuple[str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err.decode()[-3000:]
        return out.decode(), err.decode()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def receiver(lake: Path, *extra: str, **options: Any) -> Iterator[Cli]:
    cli = Cli(lake, *extra, **options)
    try:
        yield cli
    finally:
        if cli.process.poll() is None:
            cli.kill()


def until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def webhooks(count: int, prefix: str = "w") -> list[bytes]:
    return [online(f"{prefix}-{n}", f"st-{n % 7}") for n in range(count)]


def poison(webhook_id: str) -> bytes:
    return json.dumps(feeds.webhook(webhook_id, "st-p", True, POISON_TIME)).encode()


def stored(lake: Path, table: Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = Lake.open(lake).read(table).to_pylist()
    return rows


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "2m") -> Iterator[Path]:
    """A small real filesystem at `directory` (root only), to fill up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Write a file in `directory` until its filesystem is full; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, bytes(1 << 16)):
                pass
    finally:
        os.close(fd)
    with pytest.raises(OSError) as full:
        (directory / "probe").write_bytes(bytes(8192))
    assert full.value.errno == errno.ENOSPC
    (directory / "probe").unlink(missing_ok=True)
    return filler


# ---------------------------------------------------------------------------------------------
# Poison records


def test_poison_time_among_good_webhooks_is_quarantined_and_nothing_lost(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    bodies = webhooks(100)
    bodies.insert(50, poison("w-poison"))
    with receiver(lake, "--redact-header", "X-Tenant-Token") as cli, httpx.Client() as client:
        secrets = {"Authorization": "Bearer t0ken", "X-Tenant-Token": "tenant-s3cret"}
        assert [cli.post(body, client, **secrets) for body in bodies] == [200] * 101
        out, _ = cli.stop()
    assert "recorded 101 records (100 events)" in out and "NOT STORED" not in out
    assert len(set(raw_ids(lake))) == 101
    events = stored(lake, Table.CONNECTIVITY_EVENTS)
    assert len({e["webhook_id"] for e in events}) == 100
    quarantine = stored(lake, Table.QUARANTINE)
    assert [(q["reason"], q["record_key"]) for q in quarantine] == [
        (QuarantineReason.UNPARSEABLE_TIME, "webhook:w-poison")
    ]
    headers = [json.loads(r["headers"]) for r in stored(lake, Table.RAW_WEBHOOKS)]
    assert all(h["authorization"] == h["x-tenant-token"] == "[redacted]" for h in headers)


def test_poison_segment_left_at_a_stop_is_recovered_and_the_receiver_starts(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    wal_dir = lake / "_wal" / "edrv_webhooks"
    bodies = webhooks(100)
    bodies.insert(10, poison("w-poison"))
    with receiver(lake) as cli, httpx.Client() as client:
        assert [cli.post(body, client) for body in bodies] == [200] * 101
        cli.kill()  # the poison record is only in the log now
    left = wal.segments(wal_dir)
    assert left and all(p.stat().st_mode & 0o777 == 0o600 for p in left)
    # And a segment no conversion can read (a record time beyond year 9999, CRC intact).
    unreadable = wal_dir / "wal-20261121T000000000000-sess-corrupt-000000-abcdef.log"
    meta = wal.SegmentMeta("sess-corrupt", "http://127.0.0.1:1/webhooks/edrv", "2026-11-21")
    writer = wal.SegmentWriter(unreadable, meta)
    writer.append([wal.encode_record(0, 2**62, b"{}", online("w-unreadable"))])
    writer.close()

    with receiver(lake) as cli:  # recovery runs before it listens: it must get there
        health = cli.health()
        assert (health["status"], health["set_aside_segments"]) == ("degraded", 1)
        out, err = cli.stop()
    assert "recovered a log segment" in err
    assert "1 log segments could not be converted" in out
    assert wal.segments(wal_dir) == []
    assert [p.name for p in wal.segments(wal_dir / "poison")] == [unreadable.name]
    assert len(set(raw_ids(lake))) == 101
    assert len({e["webhook_id"] for e in stored(lake, Table.CONNECTIVITY_EVENTS)}) == 100
    assert [q["record_key"] for q in stored(lake, Table.QUARANTINE)] == ["webhook:w-poison"]


# ---------------------------------------------------------------------------------------------
# Failed writes


def test_failed_write_during_recovery_keeps_the_segment_and_the_receiver_starts(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    bodies = webhooks(60)
    with receiver(lake) as cli, httpx.Client() as client:
        assert [cli.post(body, client) for body in bodies] == [200] * 60
        cli.kill()  # the webhooks are only in the log
    faults = "receiver.convert=enospc@1"  # recovery's write fails
    with receiver(lake, faults=faults) as cli, httpx.Client() as client:
        until(lambda: cli.health()["pending"] == 0)  # retried while serving
        assert cli.health()["status"] == "ok"
        assert cli.post(online("w-after"), client) == 200
        _, err = cli.stop()
    assert "it is kept and retried while serving" in err
    assert set(raw_ids(lake)) == {json.loads(b)["_id"] for b in bodies} | {"w-after"}


def test_full_disk_under_the_raw_table_then_space_freed_loses_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    Lake.create(lake)
    first, second = webhooks(50, "first"), webhooks(50, "second")
    with tmpfs(lake / Table.RAW_WEBHOOKS.value) as raw_dir:
        filler = fill(raw_dir)  # events and quarantine are written, the raw file is not
        with receiver(lake, "--rotate-every", "0.3s") as cli, httpx.Client() as client:
            assert [cli.post(body, client) for body in first] == [200] * 50
            until(lambda: cli.health()["conversion_error"] is not None)
            health = cli.health()
            assert health["status"] == "degraded"
            assert (health["records"], health["stored"], health["pending"]) == (50, 0, 50)
            filler.unlink()  # the same process stores them, no restart
            until(lambda: cli.health()["pending"] == 0)
            assert cli.health()["status"] == "ok"
            filler = fill(raw_dir)
            assert [cli.post(body, client) for body in second] == [200] * 50
            until(lambda: cli.health()["conversion_error"] is not None)
            out, _ = cli.stop()  # still full: the stop says so and keeps the log
        assert "NOT STORED: 50 received webhooks" in out
        assert wal.segments(lake / "_wal" / "edrv_webhooks")
        filler.unlink()
        with receiver(lake) as cli:  # the next start stores them
            cli.stop()
        assert set(raw_ids(lake)) == {json.loads(b)["_id"] for b in first + second}
        assert wal.segments(lake / "_wal" / "edrv_webhooks") == []


def test_full_log_disk_leaks_no_fd_nor_segment_and_recovers_without_restart(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    Lake.create(lake)
    wal_dir = lake / "_wal" / "edrv_webhooks"
    with tmpfs(lake / "_wal") as log_fs, receiver(lake) as cli, httpx.Client() as client:
        filler = fill(log_fs)
        fds_before = cli.fds()
        refused = [cli.post(body, client) for body in webhooks(150, "refused")]
        assert refused == [503] * 150
        assert cli.fds() <= fds_before + 2
        assert len(wal.segments(wal_dir)) <= 1
        assert cli.health()["status"] == "failing"
        filler.unlink()  # space again: the same process takes webhooks again
        accepted = webhooks(20, "accepted")
        assert [cli.post(body, client) for body in accepted] == [200] * 20
        assert cli.health()["status"] == "ok"
        cli.stop()
    assert set(raw_ids(lake)) == {json.loads(b)["_id"] for b in accepted}


# ---------------------------------------------------------------------------------------------
# Slow clients


def test_idle_sockets_beyond_the_fd_limit_do_not_starve_a_real_webhook(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    idle: list[socket.socket] = []
    with receiver(lake, nofile=256) as cli, httpx.Client(timeout=5) as client:
        try:
            for _ in range(400):  # more than the receiver has descriptors for
                sock = socket.create_connection(("127.0.0.1", cli.port), timeout=3)
                sock.sendall(f"POST {PATH} HTTP/1.1\r\nhost: x\r\n".encode())  # and no more
                idle.append(sock)
            time.sleep(0.5)
            for body in webhooks(5, "real"):
                assert cli.post(body, client) == 200
        finally:
            for sock in idle:
                sock.close()
        _, err = cli.stop()
    assert len(set(raw_ids(lake))) == 5
    assert len(err.splitlines()) < 40  # repeated warnings are rate-limited
