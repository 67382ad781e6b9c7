"""The simulator: determinism, output shapes, fault injection and the consistency of its truth."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import hmac
import itertools
import json
import zlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from evlog._errors import UsageError
from evlog._simulate import WEBHOOK_SECRET, simulate

# What docs/lake.md's default OCPP → OCPI mapping gives the statuses the simulator sends
OCPI_OF_OCPP = {
    "Available": "AVAILABLE",
    "Charging": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUT_OF_ORDER",
}
DAY_MS = 86_400_000
SKEW_MS = 300_000
EVSE_STATES = (
    "AVAILABLE", "CHARGING", "RESERVED", "BLOCKED", "INOPERATIVE", "OUT_OF_ORDER", "PLANNED",
    "REMOVED", "UNKNOWN",
)  # fmt: skip


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sim")
    manifest = simulate(out, stations=20, days=7, seed=1)
    return out, manifest


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("clean")
    manifest = simulate(out, stations=8, days=3, seed=5, faults=False)
    return out, manifest


def here_messages(out: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((out / "here").glob("partitions-*.json")):
        yield from orjson.loads(path.read_bytes())["messages"]


def webhooks(out: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((out / "edrv").glob("webhooks-*.jsonl")):
        for line in path.read_bytes().splitlines():
            yield orjson.loads(line)


def decode_member(member: bytes) -> dict[str, Any] | str:
    """The message, or the quarantine reason the importer should give."""
    try:
        text = gzip.decompress(member)
    except EOFError:
        return "truncated gzip member"
    except (OSError, zlib.error):
        return "bad gzip"
    try:
        doc = json.loads(text)
    except ValueError:
        return "invalid JSON"
    if any("status" not in e for e in doc["evses"]):
        return "missing status"
    assert isinstance(doc, dict)
    return doc


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def intervals(path: Path) -> dict[tuple[str, str], list[tuple[str, int, int]]]:
    by_entity: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for row in read_csv(path):
        key = (row["entity_type"], row["entity_id"])
        by_entity[key].append((row["state"], ms(row["start"]), ms(row["end"])))
    for rows in by_entity.values():
        rows.sort(key=lambda r: r[1])
    return by_entity


def gaps_of(manifest: dict[str, Any], source: str) -> list[tuple[int, int]]:
    covered = sorted(
        (ms(c["from"]), ms(c["to"])) for c in manifest["coverage"] if c["source"] == source
    )
    return [(a[1], b[0]) for a, b in itertools.pairwise(covered)]


# -- determinism and arguments ---------------------------------------------------------------


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    simulate(tmp_path, stations=5, days=2, seed=11)
    first = files(tmp_path)
    simulate(tmp_path, stations=5, days=2, seed=11, overwrite=True)
    assert files(tmp_path) == first
    simulate(tmp_path, stations=5, days=2, seed=12, overwrite=True)
    assert files(tmp_path) != first


def test_a_station_does_not_depend_on_the_network_size(tmp_path: Path) -> None:
    simulate(tmp_path / "a", stations=3, days=2, seed=4)
    simulate(tmp_path / "b", stations=6, days=2, seed=4)
    a = intervals(tmp_path / "a" / "truth" / "true_intervals.csv")
    b = intervals(tmp_path / "b" / "truth" / "true_intervals.csv")
    assert a and all(b[key] == rows for key, rows in a.items())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stations": 0, "days": 1},
        {"stations": 1, "days": 0},
        {"stations": 1, "days": 1, "seed": -1},
        {"stations": 1, "days": 1, "start": "yesterday"},
        {"stations": 1, "days": 1, "start": "2026-01-01T00:00:00.5Z"},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        simulate(tmp_path, **kwargs)


def test_refuses_to_overwrite_without_asking(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("kept")
    simulate(tmp_path, stations=1, days=1, seed=0)
    with pytest.raises(UsageError, match="overwrite"):
        simulate(tmp_path, stations=1, days=1, seed=0)
    simulate(tmp_path, stations=1, days=1, seed=0, overwrite=True)
    assert (tmp_path / "README.md").read_text() == "kept"


def test_start_that_is_not_midnight(tmp_path: Path) -> None:
    m = simulate(tmp_path, stations=2, days=1, seed=2, start="2026-03-29T13:30:00+02:00")
    assert (m["start"], m["end"]) == ("2026-03-29T11:30:00Z", "2026-03-30T11:30:00Z")
    rows = read_csv(tmp_path / "truth" / "expected_uptime.csv")
    periods = sorted({(r["period_start"], r["period_end"]) for r in rows})
    assert periods == [
        ("2026-03-29T11:30:00.000Z", "2026-03-30T00:00:00.000Z"),
        ("2026-03-30T00:00:00.000Z", "2026-03-30T11:30:00.000Z"),
    ]


# -- output shapes -----------------------------------------------------------------------------


def test_here_partitions_shape(sim: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sim
    mapping = read_csv(out / "truth" / "mapping.csv")
    evses = {r["evse_id"]: r["location_id"] for r in mapping}
    defects: dict[str, int] = defaultdict(int)
    identities = set()
    n = 0
    for path in (out / "here").glob("partitions-*.json"):
        messages = orjson.loads(path.read_bytes())["messages"]
        assert 0 < len(messages) <= 2000
        day = path.name[len("partitions-") : len("partitions-") + 10]
        for m in messages:
            n += 1
            meta, offset = m["metaData"], m["offset"]
            assert isinstance(meta["partition"], str)
            assert isinstance(meta["timestamp"], int)
            assert datetime.fromtimestamp(meta["timestamp"] / 1000).isoformat()
            assert isinstance(offset["partition"], int) and isinstance(offset["offset"], int)
            assert ms(day + "T00:00:00Z") <= meta["timestamp"] < ms(day + "T00:00:00Z") + DAY_MS
            doc = decode_member(base64.b64decode(meta["data"]))
            identities.add((offset["partition"], offset["offset"]))
            if isinstance(doc, str):
                defects[doc] += 1
                continue
            assert doc["id"].startswith("here:evcp:loc:")
            assert 1 <= len(doc["evses"]) <= 6
            for e in doc["evses"]:
                assert evses[e["id"]] == doc["id"]
                assert e["status"] in EVSE_STATES
                assert e["last_updated"].endswith("Z") and len(e["last_updated"]) == 20
    faults = manifest["faults"]["here_stream"]
    assert n == manifest["counts"]["here_messages"]
    assert dict(defects) == faults["malformed_by_reason"]
    # a redelivery reuses its offset; everything else has its own
    assert len(identities) == n - faults["redelivered"]


def test_here_members_shape(sim: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sim
    members = 0
    defects: dict[str, int] = defaultdict(int)
    for path in sorted((out / "here-members").glob("evse-updates-*.gz")):
        data = path.read_bytes()
        while data:
            d = zlib.decompressobj(31)
            try:
                text = d.decompress(data)
            except zlib.error:
                defects["bad gzip"] += 1
                break
            if not d.eof:
                defects["truncated gzip member"] += 1
                assert not d.unused_data
                break
            members += 1
            doc = decode_member(data[: len(data) - len(d.unused_data)])
            assert isinstance(doc, str) or orjson.loads(text) == doc
            if isinstance(doc, str):
                defects[doc] += 1
            data = d.unused_data
    assert members + defects["truncated gzip member"] == manifest["counts"]["here_members"]
    assert defects["bad gzip"] == 0
    assert defects["truncated gzip member"] >= 1
    assert defects["invalid JSON"] >= 1 and defects["missing status"] >= 1


def test_webhooks_shape_and_signature(sim: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sim
    secret = manifest["webhook_secret"].encode()
    assert manifest["webhook_secret"] == WEBHOOK_SECRET
    stations = {r["station_id"] for r in read_csv(out / "truth" / "mapping.csv")}
    seen: dict[str, bytes] = {}
    defects: dict[str, int] = defaultdict(int)
    last_by_station: dict[str, int] = {}
    n = 0
    for hook in webhooks(out):
        n += 1
        body = hook["body"]
        header = hook["headers"]["edrv-signature"]
        t, v1 = (part.split("=", 1)[1] for part in header.split(","))
        raw = orjson.dumps(body)
        assert raw == json.dumps(body, separators=(",", ":")).encode()
        expected = hmac.new(secret, f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, expected)
        assert int(t) == ms(hook["received_at"]) // 1000
        assert seen.setdefault(body["_id"], raw) == raw  # a redelivery is the same body
        if "event" not in body:
            defects["missing event"] += 1
            continue
        if "_id" not in body["data"]:
            defects["missing station id"] += 1
            continue
        assert body["event"] in (
            "chargestation.online",
            "chargestation.offline",
            "chargestation.connector_status.updated",
        )
        assert body["object"] == "chargestation"
        data = body["data"]
        assert data["_id"] in stations
        assert data["online"] is (body["event"] != "chargestation.offline")
        for key in ("lastConnectAt", "lastDisconnectAt", "lastMessageAt", "name", "model"):
            assert key in data
        assert data["connectors"] and all(
            {"_id", "status", "updatedAt"} <= set(c) and c["chargestation"] == data["_id"]
            for c in data["connectors"]
        )
        # FIFO per station
        received = ms(hook["received_at"])
        assert last_by_station.get(data["_id"], 0) <= received
        last_by_station[data["_id"]] = received
    faults = manifest["faults"]["edrv_webhooks"]
    assert n == manifest["counts"]["webhooks"]
    assert dict(defects) == faults["malformed_by_reason"]
    assert n - len(seen) == faults["redelivered"]


def test_manifest(sim: tuple[Path, dict[str, Any]]) -> None:
    out, m = sim
    assert orjson.loads((out / "manifest.json").read_bytes()) == m
    assert m["seed"] == 1 and m["args"]["stations"] == 20 and m["args"]["days"] == 7
    assert (m["start"], m["end"]) == ("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")
    assert m["stations"] == 20 and m["evses"] == len(read_csv(out / "truth" / "mapping.csv"))
    assert all(v > 0 for v in m["profiles"].values())
    for source in ("here_stream", "edrv_webhooks"):
        assert len(gaps_of(m, source)) == 1
        counts = m["faults"][source]
        for key in ("redelivered", "clock_skew_clamped", "lost_in_recorder_outage", "malformed"):
            assert counts[key] > 0, (source, key)
    here = m["faults"]["here_stream"]
    assert here["out_of_order"] > 0 and here["republished"] > 0
    assert set(here["malformed_by_reason"]) == {
        "bad gzip",
        "truncated gzip member",
        "invalid JSON",
        "missing status",
    }


def test_mapping(sim: tuple[Path, dict[str, Any]]) -> None:
    out, _ = sim
    rows = read_csv(out / "truth" / "mapping.csv")
    per_station: dict[str, set[str]] = defaultdict(set)
    per_location: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        per_station[r["station_id"]].add(r["location_id"])
        per_location[r["location_id"]].append(r["evse_id"])
        assert r["evse_id"].startswith(r["location_id"] + ":evse:")
    assert all(len(locs) == 1 for locs in per_station.values())
    assert len(per_location) == len(per_station) == 20
    assert all(1 <= len(e) <= 6 for e in per_location.values())


def test_out_of_order_arrival_is_really_out_of_order(sim: tuple[Path, dict[str, Any]]) -> None:
    out, _ = sim
    newest: dict[str, str] = {}
    late = 0
    for m in here_messages(out):
        doc = decode_member(base64.b64decode(m["metaData"]["data"]))
        if isinstance(doc, str):
            continue
        for e in doc["evses"]:
            if e["last_updated"] < newest.get(e["id"], ""):
                late += 1
            newest[e["id"]] = max(newest.get(e["id"], ""), e["last_updated"])
    assert late > 0


# -- truth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["true_intervals.csv", "expected_intervals.csv", "expected_edrv_intervals.csv"]
)
def test_intervals_tile_the_span(sim: tuple[Path, dict[str, Any]], name: str) -> None:
    out, m = sim
    start, end = ms(m["start"]), ms(m["end"])
    by_entity = intervals(out / "truth" / name)
    # HERE's EVSEs, eDRV's ports (one per connector) and the stations; the eDRV-only lake's
    # truth holds only the ports
    wanted = m["ports"] if "edrv" in name else m["evses"] + m["ports"] + m["stations"]
    assert len(by_entity) == wanted
    for key, rows in by_entity.items():
        assert rows[0][1] == start and rows[-1][2] == end, key
        for (s1, _, b1), (s2, a2, _) in itertools.pairwise(rows):
            assert b1 == a2 and s1 != s2, key
        assert all(a < b for _, a, b in rows), key
        allowed = EVSE_STATES if key[0] == "evse" else ("online", "offline")
        if name.startswith("expected"):
            allowed = (*allowed, "no_data", "unobserved")
        assert {s for s, _, _ in rows} <= set(allowed)


def test_figures_match_the_expected_intervals(sim: tuple[Path, dict[str, Any]]) -> None:
    """Recompute availability and uptime by UTC day from expected_intervals.csv."""
    out, m = sim
    start, end = ms(m["start"]), ms(m["end"])
    days = [(d, d + DAY_MS) for d in range(start, end, DAY_MS)]
    by_entity = intervals(out / "truth" / "expected_intervals.csv")

    def overlap(a: int, b: int, lo: int, hi: int) -> int:
        return max(0, min(b, hi) - max(a, lo))

    avail = {
        (r["evse_id"], ms(r["period_start"])): r
        for r in read_csv(out / "truth" / "expected_availability.csv")
    }
    uptime = {
        (r["station_id"], ms(r["period_start"])): r
        for r in read_csv(out / "truth" / "expected_uptime.csv")
    }
    rows_expected = 0
    for (kind, entity), rows in by_entity.items():
        if all(s in ("no_data", "unobserved") for s, _, _ in rows):
            assert all(key[0] != entity for key in (avail if kind == "evse" else uptime))
            continue
        for lo, hi in days:
            rows_expected += 1
            t: dict[str, int] = defaultdict(int)
            for s, a, b in rows:
                t[s] += overlap(a, b, lo, hi)
            assert sum(t.values()) == hi - lo
            if kind == "evse":
                r = avail[(entity, lo)]
                observed = sum(t[s] for s in EVSE_STATES)
                assert float(r["observed_s"]) * 1000 == pytest.approx(observed)
                for s in (*EVSE_STATES, "no_data", "unobserved"):
                    assert float(r[f"{s.lower()}_s"]) * 1000 == pytest.approx(t[s]), (entity, lo, s)
                known = observed - t["UNKNOWN"]
                if known:
                    assert float(r["available_pct"]) == pytest.approx(
                        100 * t["AVAILABLE"] / known, abs=1e-5
                    )
                else:
                    assert r["available_pct"] == ""
            else:
                r = uptime[(entity, lo)]
                for s in ("online", "offline", "no_data", "unobserved"):
                    assert float(r[f"{s}_s"]) * 1000 == pytest.approx(t[s]), (entity, lo, s)
                outages = [b - a for s, a, b in rows if s == "offline" and lo <= a < hi]
                assert int(r["outages"]) == len(outages)
                if outages:
                    assert float(r["longest_outage_s"]) * 1000 == pytest.approx(max(outages))
                    assert float(r["mttr_s"]) * 1000 == pytest.approx(
                        sum(outages) / len(outages), abs=1e-3
                    )
                    assert float(r["mtbf_s"]) * 1000 == pytest.approx(
                        t["online"] / len(outages), abs=1e-3
                    )
                else:
                    assert r["longest_outage_s"] == r["mttr_s"] == r["mtbf_s"] == ""
    assert rows_expected == len(avail) + len(uptime)


def replay(
    observations: dict[str, list[tuple[int, int, str]]],
    entities: list[str],
    gaps: list[tuple[int, int]],
    start: int,
    end: int,
) -> dict[str, list[tuple[str, int, int]]]:
    """A plain reading of docs/replay.md's rules, independent of the simulator's code."""
    result = {}
    for entity in entities:
        obs = sorted(set(observations.get(entity, [])))  # (event_time, arrival, state)
        for t, _, _ in obs:
            assert not any(g0 <= t < g1 for g0, g1 in gaps), "an observation inside a gap"
        points: list[tuple[int, int, str]] = [(start, 0, "no_data")]
        for g0, g1 in gaps:
            points += [(g0, 0, "unobserved"), (g1, 0, "no_data")]
        points += [(t, 1 + arrival, state) for t, arrival, state in obs]
        points.sort()
        merged: list[tuple[str, int, int]] = []
        for i, (t, _, state) in enumerate(points):
            t_next = points[i + 1][0] if i + 1 < len(points) else end
            if t == t_next:
                continue  # overridden at the same instant by a later arrival or an observation
            if merged and merged[-1][0] == state and merged[-1][2] == t:
                merged[-1] = (state, merged[-1][1], t_next)
            else:
                merged.append((state, t, t_next))
        result[entity] = merged
    return result


def clamp(event_time: int, received: int) -> int:
    return received if event_time > received + SKEW_MS else event_time


def test_expected_intervals_are_a_replay_of_the_delivered_feed(
    sim: tuple[Path, dict[str, Any]],
) -> None:
    out, m = sim
    start, end = ms(m["start"]), ms(m["end"])
    mapping = read_csv(out / "truth" / "mapping.csv")
    expected = intervals(out / "truth" / "expected_intervals.csv")

    status: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    for msg in here_messages(out):
        doc = decode_member(base64.b64decode(msg["metaData"]["data"]))
        if isinstance(doc, str):
            continue
        received = msg["metaData"]["timestamp"]
        for e in doc["evses"]:
            t = clamp(ms(e["last_updated"]), received)
            status[e["id"]].add((t, 0, e["status"]))  # no same-time conflicts: arrival irrelevant
    evses = [r["evse_id"] for r in mapping]
    got = replay(
        {k: list(v) for k, v in status.items()}, evses, gaps_of(m, "here_stream"), start, end
    )
    for evse in evses:
        assert got[evse] == expected[("evse", evse)], evse

    conn: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    ports: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    for hook in webhooks(out):
        body = hook["body"]
        if "event" not in body or "_id" not in body["data"]:
            continue
        for c in body["data"]["connectors"]:  # every webhook's connectors are observations
            t = clamp(ms(c["updatedAt"]), ms(hook["received_at"]))
            ports[c["_id"]].add((t, 0, OCPI_OF_OCPP[c["status"]]))
        if body["event"] == "chargestation.connector_status.updated":
            continue
        online = body["event"] == "chargestation.online"
        data = body["data"]
        t = clamp(
            ms(data["lastConnectAt" if online else "lastDisconnectAt"]), ms(hook["received_at"])
        )
        conn[data["_id"]].add((t, 0, "online" if online else "offline"))
    stations = sorted({r["station_id"] for r in mapping})
    got = replay(
        {k: list(v) for k, v in conn.items()}, stations, gaps_of(m, "edrv_webhooks"), start, end
    )
    for station in stations:
        assert got[station] == expected[("station", station)], station

    # eDRV ports (rule *Coverage*): governed by HERE's gaps in the lake of both feeds and by the
    # webhook receiver's in a lake of the webhooks alone; an observation inside a gap ends no
    # `no_data` and is itself unobserved: left out
    connectors = [r["connector_id"] for r in mapping]
    edrv_only = intervals(out / "truth" / "expected_edrv_intervals.csv")
    hook_gaps = gaps_of(m, "edrv_webhooks")
    for gaps, want in ((gaps_of(m, "here_stream"), expected), (hook_gaps, edrv_only)):
        seen = {
            port: [o for o in obs if not any(g0 <= o[0] < g1 for g0, g1 in gaps)]
            for port, obs in ports.items()
        }
        got = replay(seen, connectors, gaps, start, end)
        for port in connectors:
            assert got[port] == want[("evse", port)], port


def test_without_faults_expected_is_the_truth_after_the_first_observation(
    clean: tuple[Path, dict[str, Any]],
) -> None:
    out, m = clean
    assert m["coverage"] == [
        {"source": s, "from": m["start"], "to": m["end"]} for s in ("here_stream", "edrv_webhooks")
    ]
    assert all(v == 0 for k, v in m["faults"]["here_stream"].items() if k != "malformed_by_reason")
    true = intervals(out / "truth" / "true_intervals.csv")
    expected = intervals(out / "truth" / "expected_intervals.csv")
    for key, rows in expected.items():
        if rows[0][0] != "no_data":
            assert rows == true[key]
            continue
        first = rows[0][2]
        if first == ms(m["end"]):
            continue  # never observed
        truth = [(s, max(a, first), b) for s, a, b in true[key] if b > first]
        assert rows[1:] == truth, key


def test_truth_reflects_the_clamp(sim: tuple[Path, dict[str, Any]]) -> None:
    """A clamped observation starts its state at received_at, not at the source's time."""
    out, _ = sim
    expected = intervals(out / "truth" / "expected_intervals.csv")
    starts = {(k[1], a, s) for k, rows in expected.items() for s, a, _ in rows}

    def state_at(evse: str, t: int) -> str:
        return next(s for s, a, b in expected[("evse", evse)] if a <= t < b)

    clamped = started = 0
    for msg in here_messages(out):
        doc = decode_member(base64.b64decode(msg["metaData"]["data"]))
        if isinstance(doc, str):
            continue
        received = msg["metaData"]["timestamp"]
        for e in doc["evses"]:
            if ms(e["last_updated"]) > received + SKEW_MS:
                clamped += 1
                assert state_at(e["id"], received) == e["status"]
                started += (e["id"], received, e["status"]) in starts
    assert clamped == _manifest_count(out, "here_stream", "clock_skew_clamped")
    assert started > 0


def _manifest_count(out: Path, source: str, key: str) -> int:
    value = orjson.loads((out / "manifest.json").read_bytes())["faults"][source][key]
    assert isinstance(value, int)
    return value


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evlog._cli import main

    args = ["simulate", "--out", str(tmp_path), "--stations", "2", "--days", "1", "--seed", "3"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    assert "simulated 2 stations" in capsys.readouterr().out
    assert orjson.loads((tmp_path / "manifest.json").read_bytes())["args"]["seed"] == 3
    with pytest.raises(SystemExit) as done:
        main(args)  # output already there
    assert done.value.code == 2
    assert "use --overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main([*args, "--overwrite", "--start", "tomorrow"])
    assert done.value.code == 2
    assert capsys.readouterr().err.startswith("evlog: error: --start")
    assert (tmp_path / "manifest.json").exists()  # nothing removed before the arguments are valid
