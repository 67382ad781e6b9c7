"""`simulate()`: run the world day by day, deliver its events with faults, write feeds and truth."""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from evlog._errors import OutputError, UsageError
from evlog._progress import Progress, ProgressStep, quiet
from evlog._simulate.feeds import (
    HERE_KAFKA_PARTITIONS,
    MAX_MESSAGES_PER_FILE,
    Delivery,
    FeedWriter,
    HereOut,
    HookOut,
    gzip_member,
)
from evlog._simulate.model import (
    DAY,
    HOUR,
    MINUTE,
    OCPI_OF_OCPP,
    SECOND,
    UNKNOWN_AFTER,
    ConnectorEvent,
    ConnEvent,
    Event,
    StationInfo,
    StationSim,
    StatusEvent,
    make_stations,
)
from evlog._simulate.truth import (
    EVSE_STATES,
    INTERVAL_COLUMNS,
    OFFLINE,
    ONLINE,
    Periods,
    ReplayTimeline,
    TrueTimeline,
    iso_ms,
    iso_s,
    write_availability,
    write_uptime,
)

DEFAULT_START: Final = "2026-11-02T00:00:00Z"  # a Monday
WEBHOOK_SECRET: Final = "whsec_evlog_demo_4f1c2b7e9a"
SKEW_TOLERANCE: Final = 5 * MINUTE
LOOKAHEAD: Final = HOUR  # no delivery is later than its event by more than this
MAX_STATIONS: Final = 1_000_000
MAX_DAYS: Final = 3660
OUTPUTS: Final = ("here", "here-members", "edrv", "truth", "manifest.json")
CONNECTOR_STATUS_EVENT: Final = "chargestation.connector_status.updated"

# Delivery fault probabilities (per published message / webhook) when faults are on.
P_HERE_SKEW: Final = 0.003
P_HERE_LATE: Final = 0.01
P_HERE_REDELIVER: Final = 0.008
P_HERE_REPUBLISH: Final = 0.004
P_HOOK_SKEW: Final = 0.003
P_HOOK_REDELIVER: Final = 0.01

FAULT_KEYS: Final = {
    "here_stream": (
        "redelivered",
        "republished",
        "out_of_order",
        "clock_skew_clamped",
        "lost_in_recorder_outage",
        "undelivered_after_end",
        "malformed",
    ),
    "edrv_webhooks": (
        "redelivered",
        "clock_skew_clamped",
        "lost_in_recorder_outage",
        "undelivered_after_end",
        "malformed",
    ),
}


def parse_start(value: str | datetime | None) -> int:
    """An ISO 8601 time (naive means UTC) as epoch ms; whole seconds only."""
    if value is None:
        value = DEFAULT_START
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(f"--start: not an ISO 8601 time: {value!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.microsecond:
        raise UsageError("--start: must be a whole second")
    return int(value.timestamp()) * SECOND


def _in_gap(t: int, gaps: list[tuple[int, int]]) -> bool:
    return any(g0 <= t < g1 for g0, g1 in gaps)


def _touches_gap(a: int, b: int, gaps: list[tuple[int, int]]) -> bool:
    """Whether [a, b] meets a gap."""
    return any(a < g1 and g0 <= b for g0, g1 in gaps)


def _make_gap(
    rng: random.Random, start: int, end: int, at: float, hours: tuple[float, float]
) -> tuple[int, int]:
    span = end - start
    dur = min(int(rng.uniform(*hours) * HOUR), span // 10) // SECOND * SECOND
    g0 = start + (int(span * at) + int(rng.uniform(-1, 1) * HOUR)) // SECOND * SECOND
    g0 = min(max(g0, start + span // 10), end - span // 10 - dur)
    return g0, g0 + dur


class _Delivery:
    """Per station: decides how each published event reaches the recorder."""

    def __init__(
        self,
        info: StationInfo,
        seed: int,
        end: int,
        faults: bool,
        here_gaps: list[tuple[int, int]],
        hook_gaps: list[tuple[int, int]],
        counts: dict[str, dict[str, int]],
        key_base: int,
    ) -> None:
        self.info = info
        self.rng = random.Random(f"evlog-sim:{seed}:delivery:{info.index}")
        # connector status webhooks draw from their own stream, so the other deliveries are
        # the same with or without them
        self.connector_rng = random.Random(f"evlog-sim:{seed}:connector-delivery:{info.index}")
        self.end = end
        self.faults = faults
        self.here_gaps = here_gaps
        self.hook_gaps = hook_gaps
        self.here = counts["here_stream"]
        self.hook = counts["edrv_webhooks"]
        self.kafka_partition = info.index % HERE_KAFKA_PARTITIONS
        self.key = key_base
        self.webhook_n = 0

    def status(self, ev: StatusEvent, nxt: int | None, out: list[Delivery]) -> int | None:
        """Deliveries of a HERE message; returns the replay's event time, None if lost."""
        rng = self.rng
        info = self.info
        t = ev.t
        r = t + int(rng.uniform(1, 20) * SECOND)
        if _in_gap(t, self.here_gaps) or _in_gap(r, self.here_gaps):
            self.here["lost_in_recorder_outage"] += 1
            return None
        if r >= self.end:
            self.here["undelivered_after_end"] += 1
            return None
        stamp = iso_s(t)
        event_time = t
        roll = rng.random() if self.faults else 1.0
        if roll < P_HERE_SKEW and len(ev.evses) == 1 and (nxt is None or nxt > r + SECOND):
            stamp = iso_s(t + int(rng.uniform(6, 120)) * MINUTE)
            event_time = r  # the importer clamps to received_at
            self.here["clock_skew_clamped"] += 1
        elif roll < P_HERE_SKEW + P_HERE_LATE:
            # Arrive after the EVSE's next event when there is one soon, else just late.
            late = nxt + int(rng.uniform(25, 900) * SECOND) if nxt is not None else 0
            if late <= r:
                late = r + int(rng.uniform(2, 30) * MINUTE)
            late = min(late, t + LOOKAHEAD)
            if late < self.end and not _touches_gap(t, late, self.here_gaps):
                r = late
                self.here["out_of_order"] += 1
        message = {
            "id": info.location_id,
            "evses": [
                {"id": info.evse_ids[k], "status": s, "last_updated": stamp} for k, s, _ in ev.evses
            ],
        }
        member = gzip_member(orjson.dumps(message))
        self.key += 1
        first = HereOut(r, info.location_id, self.kafka_partition, member, self.key)
        out.append(first)
        if event_time == t and self.faults:
            extra = rng.random()
            if extra < P_HERE_REDELIVER:
                again = r + int(rng.uniform(1, 1200) * SECOND)
                if again < self.end and not _in_gap(again, self.here_gaps):
                    first.redelivered_later = True
                    out.append(
                        HereOut(
                            again,
                            info.location_id,
                            self.kafka_partition,
                            member,
                            self.key,
                            redelivery=True,
                        )
                    )
                    self.here["redelivered"] += 1
            elif extra < P_HERE_REDELIVER + P_HERE_REPUBLISH:
                again = r + int(rng.uniform(1, 120) * SECOND)
                if again < self.end and not _in_gap(again, self.here_gaps):
                    self.key += 1
                    out.append(
                        HereOut(again, info.location_id, self.kafka_partition, member, self.key)
                    )
                    self.here["republished"] += 1
        return event_time

    def _hook_lost(self, t: int, r: int) -> bool:
        """Whether a webhook of source time `t` received at `r` is lost (counted)."""
        if _in_gap(t, self.hook_gaps) or _in_gap(r, self.hook_gaps):
            self.hook["lost_in_recorder_outage"] += 1
            return True
        if r >= self.end:
            self.hook["undelivered_after_end"] += 1
            return True
        return False

    def webhook_id(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"

    def conn(self, ev: ConnEvent, nxt: int | None, out: list[Delivery]) -> int | None:
        """Deliveries of an eDRV webhook (FIFO per station); returns the replay's event time."""
        rng = self.rng
        info = self.info
        t = ev.t
        r = t + int(rng.uniform(50, 1500))
        wid = self.webhook_id()
        if self._hook_lost(t, r):
            return None
        last_connect, last_disconnect = ev.last_connect, ev.last_disconnect
        event_time = t
        roll = rng.random() if self.faults else 1.0
        if roll < P_HOOK_SKEW and (nxt is None or nxt > r + SECOND):
            skewed = t + int(rng.uniform(6, 120) * MINUTE)
            if ev.online:
                last_connect = skewed
            else:
                last_disconnect = skewed
            event_time = r
            self.hook["clock_skew_clamped"] += 1
        body = {
            "_id": wid,
            "event": "chargestation.online" if ev.online else "chargestation.offline",
            "object": "chargestation",
            "data": chargestation(info, ev, ev.online, last_connect, last_disconnect),
        }
        out.append(HookOut(r, body))
        if event_time == t and roll < P_HOOK_SKEW + P_HOOK_REDELIVER:
            again = r + int(rng.uniform(0.5, 30) * SECOND)
            fifo = nxt is None or again + 2 * SECOND < nxt
            if fifo and again < self.end and not _in_gap(again, self.hook_gaps):
                out.append(HookOut(again, body))
                self.hook["redelivered"] += 1
        return event_time

    def connector(self, ev: ConnectorEvent, out: list[Delivery]) -> bool:
        """Deliveries of a `chargestation.connector_status.updated` webhook; whether it is
        delivered. No clock skew: a connector's `updatedAt` is eDRV's own time."""
        rng = self.connector_rng
        t = ev.t
        r = t + int(rng.uniform(50, 1500))
        wid = f"{rng.getrandbits(96):024x}"
        if self._hook_lost(t, r):
            return False
        body = {
            "_id": wid,
            "event": CONNECTOR_STATUS_EVENT,
            "object": "chargestation",
            "data": chargestation(self.info, ev, True, ev.last_connect, ev.last_disconnect),
        }
        out.append(HookOut(r, body))
        if self.faults and rng.random() < P_HOOK_REDELIVER:
            again = r + int(rng.uniform(0.5, 30) * SECOND)
            if again < self.end and not _in_gap(again, self.hook_gaps):
                out.append(HookOut(again, body))
                self.hook["redelivered"] += 1
        return True


def chargestation(
    info: StationInfo,
    ev: ConnEvent | ConnectorEvent,
    online: bool,
    last_connect: int,
    last_disconnect: int,
) -> dict[str, Any]:
    """eDRV's Chargestation object as a webhook carries it, with its connectors as eDRV knows
    them (OCPP status, `updatedAt`)."""
    last_message = ev.last_message if isinstance(ev, ConnEvent) else ev.t
    return {
        "_id": info.station_id,
        "name": info.name,
        "vendor": info.vendor,
        "model": info.model,
        "ocppVersion": "1.6-J",
        "online": online,
        "lastConnectAt": iso_ms(last_connect),
        "lastDisconnectAt": iso_ms(last_disconnect),
        "lastMessageAt": iso_ms(last_message),
        "connectors": [
            {
                "_id": c.connector_id,
                "status": status,
                "type": c.type,
                "format": c.format,
                "power": c.power_kw,
                "powerType": c.power_type,
                "chargestation": info.station_id,
                "updatedAt": iso_ms(updated),
            }
            for c, status, updated in zip(
                info.connectors, ev.connectors, ev.connector_times, strict=True
            )
        ],
        "public": True,
        "createdAt": "2024-03-01T09:00:00.000Z",
    }


def _malformed(
    stations: list[StationInfo],
    seed: int,
    start: int,
    end: int,
    here_gaps: list[tuple[int, int]],
    hook_gaps: list[tuple[int, int]],
    key_base: int,
) -> tuple[list[Delivery], dict[str, int], dict[str, int]]:
    """A few records the importer must quarantine, as extra deliveries (they replace nothing)."""
    rng = random.Random(f"evlog-sim:{seed}:malformed")
    per_kind = 1 + len(stations) * ((end - start) // DAY) // 100
    out: list[Delivery] = []
    here: dict[str, int] = {}
    hook: dict[str, int] = {}

    def when(gaps: list[tuple[int, int]]) -> int:
        while True:
            r = rng.randrange(start + 10 * MINUTE, end - 10 * MINUTE)
            if not _in_gap(r, gaps):
                return r

    for kind in ("bad gzip", "truncated gzip member", "invalid JSON", "missing status"):
        for _ in range(per_kind):
            info = stations[rng.randrange(len(stations))]
            r = when(here_gaps)
            evse = {
                "id": info.evse_ids[0],
                "status": "AVAILABLE",
                "last_updated": iso_s(r // SECOND * SECOND),
            }
            if kind == "bad gzip":
                member = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + rng.randbytes(48)
            elif kind == "truncated gzip member":
                whole = gzip_member(orjson.dumps({"id": info.location_id, "evses": [evse]}))
                member = whole[: len(whole) // 2]
            elif kind == "invalid JSON":
                text = orjson.dumps({"id": info.location_id, "evses": [evse]})
                member = gzip_member(text[: len(text) - 7])
            else:
                del evse["status"]
                member = gzip_member(orjson.dumps({"id": info.location_id, "evses": [evse]}))
            key_base += 1
            out.append(
                HereOut(
                    r,
                    info.location_id,
                    info.index % HERE_KAFKA_PARTITIONS,
                    member,
                    key_base,
                    defect=kind,
                )
            )
            here[kind] = here.get(kind, 0) + 1
    for kind in ("missing event", "missing station id"):
        for _ in range(per_kind):
            info = stations[rng.randrange(len(stations))]
            r = when(hook_gaps)
            body: dict[str, Any] = {
                "_id": f"{rng.getrandbits(96):024x}",
                "event": "chargestation.online",
                "object": "chargestation",
                "data": {"_id": info.station_id, "online": True, "lastConnectAt": iso_ms(r)},
            }
            if kind == "missing event":
                del body["event"]
            else:
                del body["data"]["_id"]
            out.append(HookOut(r, body))
            hook[kind] = hook.get(kind, 0) + 1
    return out, here, hook


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: not a directory: {out}")
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present and not overwrite:
        raise UsageError(
            f"--out: {out} already holds simulator output ({present[0]}); use --overwrite"
        )
    for name in present:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    try:
        (out / "truth").mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"--out: cannot make {out}: {exc.strerror or exc}") from None


def simulate(
    out: str | Path,
    *,
    stations: int = 20,
    days: int = 7,
    seed: int = 0,
    start: str | datetime | None = None,
    faults: bool = True,
    overwrite: bool = False,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Simulate `stations` stations for `days` days and write raw feeds, ground truth and a manifest
    under `out`. Same arguments, same bytes. Returns the manifest. `progress` is told the (UTC)
    days simulated."""
    if not 1 <= stations <= MAX_STATIONS:
        raise UsageError(f"--stations: must be between 1 and {MAX_STATIONS}, got {stations}")
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days: must be between 1 and {MAX_DAYS}, got {days}")
    if seed < 0:
        raise UsageError(f"--seed: must not be negative, got {seed}")
    t0 = parse_start(start)
    t1 = t0 + days * DAY
    out = Path(out)
    _prepare_out(out, overwrite)

    infos = make_stations(stations, seed)
    grng = random.Random(f"evlog-sim:{seed}:recorders")
    here_gaps = [_make_gap(grng, t0, t1, 0.45, (2, 5))] if faults else []
    hook_gaps = [_make_gap(grng, t0, t1, 0.7, (1, 3))] if faults else []
    offset_base = [grng.randrange(10_000, 900_000) for _ in range(HERE_KAFKA_PARTITIONS)]
    counts: dict[str, dict[str, int]] = {
        source: {k: 0 for k in keys if k != "malformed"} for source, keys in FAULT_KEYS.items()
    }

    sims = [StationSim(info, seed, t0, t1) for info in infos]
    evse_base = []
    evse_ids: list[str] = []
    evse_locs: list[str] = []
    evse_initial: list[str] = []
    for info, sim in zip(infos, sims, strict=True):
        evse_base.append(len(evse_ids))
        evse_ids.extend(info.evse_ids)
        evse_locs.extend([info.location_id] * len(info.evse_ids))
        evse_initial.extend(sim.published)
    station_ids = [info.station_id for info in infos]
    station_locs = [info.location_id for info in infos]
    # eDRV ports (docs/lake.md, "Events from eDRV connectors"): the connector `_id`, located at
    # its station's `_id`, in the OCPI status the default mapping gives eDRV's OCPP status
    port_base = []
    port_ids: list[str] = []
    port_locs: list[str] = []
    port_initial: list[str] = []
    for info, sim in zip(infos, sims, strict=True):
        port_base.append(len(port_ids))
        port_ids.extend(c.connector_id for c in info.connectors)
        port_locs.extend([info.station_id] * len(info.connectors))
        port_initial.extend(OCPI_OF_OCPP[status] for status in sim.edrv_status)
    periods = Periods(t0, t1)
    truth = out / "truth"
    _write_mapping(truth / "mapping.csv", infos)

    true_file = open(truth / "true_intervals.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    replay_file = open(truth / "expected_intervals.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    edrv_file = open(truth / "expected_edrv_intervals.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    with true_file, replay_file, edrv_file:
        for f in (true_file, replay_file, edrv_file):
            f.write(",".join(INTERVAL_COLUMNS) + "\n")
        true_evse = TrueTimeline(true_file, "evse", evse_ids, evse_locs, evse_initial, t0)
        true_station = TrueTimeline(
            true_file, "station", station_ids, station_locs, [ONLINE] * len(infos), t0
        )
        replay_evse = ReplayTimeline(
            replay_file, "evse", evse_ids, evse_locs, EVSE_STATES, here_gaps, periods
        )
        replay_station = ReplayTimeline(
            replay_file, "station", station_ids, station_locs, (ONLINE, OFFLINE), hook_gaps, periods
        )
        true_port = TrueTimeline(true_file, "evse", port_ids, port_locs, port_initial, t0)
        # Rule *Coverage*: ports are governed by the status stream's coverage in the lake of both
        # feeds (the HERE gaps), by the webhook receiver's in a lake of the webhooks alone.
        replay_ports = (
            ReplayTimeline(
                replay_file, "evse", port_ids, port_locs, EVSE_STATES, here_gaps, periods
            ),
            ReplayTimeline(edrv_file, "evse", port_ids, port_locs, EVSE_STATES, hook_gaps, periods),
        )
        key_base = 0
        deliverers = []
        for info in infos:
            deliverers.append(
                _Delivery(info, seed, t1, faults, here_gaps, hook_gaps, counts, key_base)
            )
            key_base += 1 << 32
        heap: list[tuple[int, int, Delivery]] = []
        seq = 0
        if faults:
            bad, bad_here, bad_hook = _malformed(
                infos, seed, t0, t1, here_gaps, hook_gaps, key_base
            )
            for d in bad:
                seq += 1
                heapq.heappush(heap, (d.r, seq, d))
        else:
            bad_here, bad_hook = {}, {}
        writer = FeedWriter(out, WEBHOOK_SECRET, offset_base)
        true_events = connector_events = 0
        bounds = [t0, *range(t0 // DAY * DAY + DAY, t1, DAY), t1]
        pending: list[Delivery] = []
        progress(ProgressStep("simulating days", 0, len(bounds) - 1, "days"))
        for day, (c0, c1) in enumerate(itertools.pairwise(bounds), 1):
            for sim, dl, base in zip(sims, deliverers, evse_base, strict=True):
                sim.advance(c1 + LOOKAHEAD)
                events = sim.out
                events.sort(key=_event_time)
                split = bisect.bisect_left(events, c1, key=_event_time)
                nexts = _next_times(events, split)
                sim.out = events[split:]
                for ev, nxt in zip(events[:split], nexts, strict=True):
                    if isinstance(ev, ConnectorEvent):
                        connector_events += 1
                        pb = port_base[ev.station]
                        for k in ev.changed:
                            true_port.observe(pb + k, OCPI_OF_OCPP[ev.connectors[k]], ev.t)
                        if dl.connector(ev, pending):
                            _observe_ports(replay_ports, pb, ev)
                        continue
                    true_events += 1
                    if isinstance(ev, StatusEvent):
                        for k, status, tk in ev.evses:
                            true_evse.observe(base + k, status, tk)
                        et = dl.status(ev, nxt, pending)
                        if et is not None:
                            for k, status, _ in ev.evses:
                                replay_evse.observe(base + k, status, et)
                    else:
                        state = ONLINE if ev.online else OFFLINE
                        true_station.observe(ev.station, state, ev.t)
                        et = dl.conn(ev, nxt, pending)
                        if et is not None:
                            replay_station.observe(ev.station, state, et)
                            _observe_ports(replay_ports, port_base[ev.station], ev)
                for d in pending:
                    seq += 1
                    heapq.heappush(heap, (d.r, seq, d))
                pending.clear()
            writer.start_day(iso_ms(c0)[:10])
            while heap and heap[0][0] < c1:
                writer.add(heapq.heappop(heap)[2])
            progress(ProgressStep("simulating days", day, len(bounds) - 1, "days"))
        writer.close_day()
        assert not heap
        true_evse.finish(t1)
        true_station.finish(t1)
        true_port.finish(t1)
        for timeline in (replay_evse, replay_station, *replay_ports):
            timeline.finish()
    with open(truth / "expected_availability.csv", "w", encoding="utf-8", newline="") as f:
        availability_rows = write_availability(f, replay_evse, replay_ports[0])
    with open(truth / "expected_edrv_availability.csv", "w", encoding="utf-8", newline="") as f:
        write_availability(f, replay_ports[1])
    with open(truth / "expected_uptime.csv", "w", encoding="utf-8", newline="") as f:
        uptime_rows = write_uptime(f, replay_station)

    counts["here_stream"]["malformed"] = sum(bad_here.values())
    counts["edrv_webhooks"]["malformed"] = sum(bad_hook.values())
    args = {"stations": stations, "days": days, "seed": seed, "start": iso_s(t0), "faults": faults}
    command = (
        f"evlog simulate --out {out} --stations {stations} --days {days} --seed {seed}"
        f" --start {iso_s(t0)}"
    )
    manifest: dict[str, Any] = {
        "generator": "evlog simulate",
        "format": 1,
        "command": command + ("" if faults else " --no-faults"),
        "seed": seed,
        "args": args,
        "start": iso_s(t0),
        "end": iso_s(t1),
        "stations": len(infos),
        "locations": len(infos),
        "evses": len(evse_ids),
        "ports": len(port_ids),
        "profiles": {
            p: sum(1 for i in infos if i.profile == p) for p in ("stable", "flaky", "outage_prone")
        },
        "webhook_secret": WEBHOOK_SECRET,
        "signature": {
            "header": "edrv-signature",
            "format": "t=<unix seconds of received_at>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>",
            "body": "orjson.dumps(body), identical to"
            " json.dumps(body, separators=(',', ':')).encode() for these bodies (ASCII only, no"
            " floats); it is also the body's exact text in the JSONL line",
        },
        "coverage": _coverage("here_stream", t0, t1, here_gaps)
        + _coverage("edrv_webhooks", t0, t1, hook_gaps),
        "skew_tolerance_s": SKEW_TOLERANCE // SECOND,
        "unknown_after_offline_s": UNKNOWN_AFTER // SECOND,
        "faults": {
            "here_stream": {**counts["here_stream"], "malformed_by_reason": bad_here},
            "edrv_webhooks": {**counts["edrv_webhooks"], "malformed_by_reason": bad_hook},
            "here_members_note": "here-members/ omits bad-gzip records and holds at most one"
            " truncated member per file, as its last member",
        },
        "counts": {
            "true_events": true_events,
            "here_messages": writer.here_messages,
            "here_files": writer.here_files,
            "here_members": writer.members_written,
            "webhooks": writer.webhooks,
            "delivered_records": writer.here_messages + writer.webhooks,
            "max_messages_per_file": MAX_MESSAGES_PER_FILE,
            "availability_rows": availability_rows,
            "connector_events": connector_events,
            "uptime_rows": uptime_rows,
        },
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


def _event_time(ev: Event) -> int:
    return ev.t


def _observe_ports(
    timelines: tuple[ReplayTimeline, ...], base: int, ev: ConnEvent | ConnectorEvent
) -> None:
    """A delivered eDRV webhook's connectors as port observations, each at its `updatedAt`.
    One whose time lies in a coverage gap of the timeline is left out: it ends no `no_data`
    (rule *Coverage*), and the state it reports is `unobserved` there."""
    for timeline in timelines:
        for k, (status, t) in enumerate(zip(ev.connectors, ev.connector_times, strict=True)):
            if not _in_gap(t, timeline.gaps):
                timeline.observe(base + k, OCPI_OF_OCPP[status], t)


def _next_times(events: list[Event], split: int) -> list[int | None]:
    """For each of the first `split` events (sorted by time): the time of the next event of the same
    entity (the station for connectivity, any of its EVSEs for a status message) if it is at most
    `LOOKAHEAD` later, else None. The caller has run the station `LOOKAHEAD` past the split."""
    nxt: dict[int, int] = {}
    result: list[int | None] = [None] * split
    for j in range(len(events) - 1, -1, -1):
        ev = events[j]
        if isinstance(ev, ConnectorEvent):
            continue  # its deliveries depend on no next event
        if isinstance(ev, ConnEvent):
            if j < split:
                result[j] = nxt.get(-1)
            nxt[-1] = ev.t
        else:
            if j < split:
                result[j] = min((nxt[k] for k, _, _ in ev.evses if k in nxt), default=None)
            for k, _, tk in ev.evses:
                nxt[k] = tk
    # Beyond the lookahead counts as "no next event", whatever the chunking saw.
    for j in range(split):
        n = result[j]
        if n is not None and n > events[j].t + LOOKAHEAD:
            result[j] = None
    return result


def _coverage(
    source: str, start: int, end: int, gaps: list[tuple[int, int]]
) -> list[dict[str, str]]:
    intervals = []
    a = start
    for g0, g1 in sorted(gaps):
        intervals.append({"source": source, "from": iso_s(a), "to": iso_s(g0)})
        a = g1
    intervals.append({"source": source, "from": iso_s(a), "to": iso_s(end)})
    return intervals


def _write_mapping(path: Path, infos: list[StationInfo]) -> None:
    lines = ["station_id,location_id,evse_id,connector_id,profile,name\n"]
    for info in infos:
        for evse_id, c in zip(info.evse_ids, info.connectors, strict=True):
            lines.append(
                f"{info.station_id},{info.location_id},{evse_id},{c.connector_id},{info.profile},{info.name}\n"
            )
    path.write_text("".join(lines), encoding="utf-8")
