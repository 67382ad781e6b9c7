"""Encoding and writing the raw feeds exactly as a recorder receives them.

* `here/partitions-<date>-<NNN>.json`: HERE Data API stream v2 `partitions` responses.
* `here-members/evse-updates-<date>.gz`: the same messages as concatenated gzip members.
* `edrv/webhooks-<date>.jsonl`: eDRV webhooks, one signed envelope per line.

Files are named by the UTC date the records were received and written in receive order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from evlog._simulate.truth import iso_ms

MAX_MESSAGES_PER_FILE: Final = 2000
HERE_KAFKA_PARTITIONS: Final = 4


def gzip_member(data: bytes) -> bytes:
    """A gzip member with a fixed header (mtime 0, OS 255): the same input gives the same bytes."""
    member = zlib.compress(data, 6, 31)
    return member[:9] + b"\xff" + member[10:]


def sign(secret: str, t: int, body: bytes) -> str:
    """The `edrv-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass(slots=True)
class HereOut:
    """One HERE message delivery. `key` names the published message: a redelivery reuses the
    Kafka offset its original got (`redelivery=True`); any other delivery takes a new offset."""

    r: int  # receive time (ms)
    location_id: str
    kafka_partition: int
    member: bytes
    key: int
    redelivery: bool = False
    redelivered_later: bool = False
    defect: str | None = None  # a quarantine reason for injected malformed records


@dataclass(slots=True)
class HookOut:
    r: int
    body: dict[str, Any]


Delivery = HereOut | HookOut


class FeedWriter:
    """Writes deliveries, in receive order, into one set of files per UTC day."""

    def __init__(self, out: Path, secret: str, offset_base: list[int]) -> None:
        self.here_dir = out / "here"
        self.members_dir = out / "here-members"
        self.edrv_dir = out / "edrv"
        for d in (self.here_dir, self.members_dir, self.edrv_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.next_offset = list(offset_base)
        self._offsets: dict[int, int] = {}
        self.day = ""
        self._messages: list[dict[str, Any]] = []
        self._file_no = 0
        self._members: IO[bytes] | None = None
        self._trailing: list[bytes] = []
        self._hooks: IO[bytes] | None = None
        self.here_files = 0
        self.here_messages = 0
        self.members_written = 0
        self.webhooks = 0

    def start_day(self, day: str) -> None:
        self.close_day()
        self.day = day
        self._file_no = 0

    def add(self, d: Delivery) -> None:
        if isinstance(d, HookOut):
            self._add_hook(d)
        else:
            self._add_here(d)

    def _add_here(self, d: HereOut) -> None:
        if d.redelivery:
            offset = self._offsets.pop(d.key)
        else:
            offset = self.next_offset[d.kafka_partition]
            self.next_offset[d.kafka_partition] += 1
            if d.redelivered_later:
                self._offsets[d.key] = offset
        self._messages.append(
            {
                "metaData": {
                    "partition": d.location_id,
                    "data": base64.b64encode(d.member).decode(),
                    "timestamp": d.r,
                },
                "offset": {"partition": d.kafka_partition, "offset": offset},
            }
        )
        self.here_messages += 1
        if len(self._messages) >= MAX_MESSAGES_PER_FILE:
            self._flush_here()
        # The concatenated-members capture cannot carry a broken member in the middle (a reader
        # could not find the next one): bad gzip is left out, one truncated member may go last.
        if d.defect == "bad gzip":
            return
        if d.defect == "truncated gzip member":
            if not self._trailing:  # one per file at most, as its last member
                self._trailing.append(d.member)
            return
        if self._members is None:
            self._members = open(self.members_dir / f"evse-updates-{self.day}.gz", "wb")  # noqa: SIM115
        self._members.write(d.member)
        self.members_written += 1

    def _flush_here(self) -> None:
        if not self._messages:
            return
        path = self.here_dir / f"partitions-{self.day}-{self._file_no:03d}.json"
        path.write_bytes(orjson.dumps({"messages": self._messages}))
        self._messages = []
        self._file_no += 1
        self.here_files += 1

    def _add_hook(self, d: HookOut) -> None:
        body = orjson.dumps(d.body)
        envelope = {
            "received_at": iso_ms(d.r),
            "headers": {"edrv-signature": sign(self.secret, d.r // 1000, body)},
            "body": d.body,
        }
        if self._hooks is None:
            self._hooks = open(self.edrv_dir / f"webhooks-{self.day}.jsonl", "wb")  # noqa: SIM115
        self._hooks.write(orjson.dumps(envelope) + b"\n")
        self.webhooks += 1

    def close_day(self) -> None:
        self._flush_here()
        if self._trailing:
            if self._members is None:
                path = self.members_dir / f"evse-updates-{self.day}.gz"
                self._members = open(path, "wb")  # noqa: SIM115
            for member in self._trailing:
                self._members.write(member)
                self.members_written += 1
            self._trailing = []
        if self._members is not None:
            self._members.close()
            self._members = None
        if self._hooks is not None:
            self._hooks.close()
            self._hooks = None
