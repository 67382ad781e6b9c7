"""feed-health, given these events, expect these rows (figures worked out by hand)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import evlog
from evlog._record.offline import record_webhook_files
from tests.replay.lakes import StatusEvent, at, make_lake

S = timedelta(seconds=1)


def test_feed_health_counts_what_the_replay_smooths_over(tmp_path: Path) -> None:
    t0 = at("2024-04-05T00:00:00")
    make_lake(
        tmp_path,
        status=[
            # e1: a repeat, an event that arrives after a later one, a clamped time
            StatusEvent("e1", "AVAILABLE", t0, received_at=t0 + 10 * S, arrival_index=0),
            StatusEvent("e1", "AVAILABLE", t0, received_at=t0 + 20 * S, arrival_index=1),
            StatusEvent(
                "e1", "CHARGING", t0 + 7200 * S, received_at=t0 + 7230 * S, arrival_index=2
            ),
            StatusEvent(
                "e1", "AVAILABLE", t0 + 3600 * S, received_at=t0 + 7240 * S, arrival_index=3
            ),
            StatusEvent(
                "e1", "CHARGING", t0 + 9000 * S, received_at=t0 + 9000 * S, arrival_index=4
            ),
            # e2: removed, then reports again; silent since 06:00
            StatusEvent("e2", "REMOVED", t0, received_at=t0 + 5 * S),
            StatusEvent("e2", "AVAILABLE", t0 + 21600 * S, received_at=t0 + 21605 * S),
        ],
    )
    lake = evlog.open_lake(tmp_path)
    frame = lake.feed_health("2024-04-05", "2024-04-06")
    rows = {row["evse_id"]: row for row in frame.iter_rows(named=True)}
    e1, e2 = rows["e1"], rows["e2"]
    assert (e1["events"], e1["repeated"], e1["out_of_order"], e1["clamped"]) == (5, 1, 1, 1)
    assert e1["repeated_pct"] == 20.0 and e1["out_of_order_pct"] == 20.0
    # lags 10, 20, 30, 3640, 0 s: median 20
    assert e1["lag_p50_s"] == 20.0
    assert e1["lag_p95_s"] == pytest.approx(30 + 0.8 * (3640 - 30))
    # CHARGING from 02:00 to 02:30, then from 02:30 to the window end (21.5 h)
    assert e1["longest_charging_s"] == 21.5 * 3600
    assert e1["silent_s"] == 21.5 * 3600 and e1["busiest_day_events"] == 5
    assert (e2["after_removed"], e2["silent_s"], e2["implausible_rate"]) == (1, 18 * 3600, False)
    # worst first: e1 has four findings, e2 one
    assert frame["evse_id"].to_list() == ["e1", "e2"]


def test_more_than_one_status_a_minute_all_day_is_implausible(tmp_path: Path) -> None:
    t0 = at("2024-04-05T00:00:00")
    statuses = ("AVAILABLE", "CHARGING")
    make_lake(
        tmp_path,
        status=[
            StatusEvent("busy", statuses[i % 2], t0 + i * 59 * S, received_at=t0 + i * 59 * S + S)
            for i in range(1441)
        ],
    )
    (row,) = evlog.open_lake(tmp_path).feed_health("2024-04-05", "2024-04-06").iter_rows(named=True)
    assert row["busiest_day_events"] == 1441 and row["implausible_rate"] is True


def envelope(received: str, event: str, data: dict[str, object], hook: str) -> str:
    body = {"_id": hook, "event": event, "object": "chargestation", "data": data}
    return json.dumps({"received_at": received, "body": body})


def test_station_feed_health_counts_webhooks_of_other_types(tmp_path: Path) -> None:
    saved = tmp_path / "hooks.jsonl"
    saved.write_text(
        "\n".join(
            [
                envelope(
                    "2025-01-01T00:00:02Z",
                    "chargestation.online",
                    {"_id": "S1", "lastConnectAt": "2025-01-01T00:00:00Z"},
                    "w1",
                ),
                envelope(
                    "2025-01-01T06:00:04Z",
                    "chargestation.offline",
                    {"_id": "S1", "lastDisconnectAt": "2025-01-01T06:00:00Z"},
                    "w2",
                ),
                envelope(
                    "2025-01-01T07:00:00Z",
                    "session.updated",
                    {"_id": "session-9", "chargestation": "S1"},
                    "w3",
                ),
                envelope(
                    "2025-01-01T08:00:00Z", "chargestation.firmware.updated", {"_id": "S1"}, "w4"
                ),
                envelope(
                    "2025-01-01T09:00:00Z",
                    "chargestation.online",
                    {"_id": "S2", "lastConnectAt": "2025-01-01T09:00:00Z"},
                    "w5",
                ),
            ]
        )
        + "\n"
    )
    record_webhook_files(tmp_path / "lake", [str(saved)])
    frame = evlog.open_lake(tmp_path / "lake").feed_health(
        "2025-01-01", "2025-01-02", stations=True
    )
    rows = {r["station_id"]: r for r in frame.iter_rows(named=True)}
    s1, s2 = rows["S1"], rows["S2"]
    assert s1["events"] == 2 and s2["events"] == 1
    assert s1["other_webhooks"] == 2
    assert s1["other_types"] == "chargestation.firmware.updated;session.updated"
    assert s2["other_webhooks"] == 0 and s2["other_types"] == ""
    assert s1["lag_p50_s"] == pytest.approx(3.0)  # 2 s and 4 s
    assert s1["silent_s"] == 18 * 3600  # last event 06:00, window end midnight
    assert frame["station_id"].to_list() == ["S1", "S2"]  # S1 first: it has other webhooks


def repeat_then_charging(day: datetime, charging_at: datetime) -> list[StatusEvent]:
    """e1 AVAILABLE at `day`'s midnight twice (received 10 s and 20 s after), then CHARGING at
    `charging_at` (received 30 s after)."""
    return [
        StatusEvent("e1", "AVAILABLE", day, received_at=day + 10 * S, arrival_index=0),
        StatusEvent("e1", "AVAILABLE", day, received_at=day + 20 * S, arrival_index=1),
        StatusEvent("e1", "CHARGING", charging_at, received_at=charging_at + 30 * S),
    ]


def test_feed_health_by_day_has_a_row_per_evse_and_day_each_day_worst_first(
    tmp_path: Path,
) -> None:
    d1, d2 = at("2024-04-05T00:00:00"), at("2024-04-06T00:00:00")
    h = 3600 * S
    make_lake(
        tmp_path,
        status=[
            # e1, day 1: a repeat, then CHARGING from 22:00 to 02:00 the next day (4 h)
            *repeat_then_charging(d1, d1 + 22 * h),
            # e1, day 2: AVAILABLE at 02:00, then silent
            StatusEvent("e1", "AVAILABLE", d2 + 2 * h, received_at=d2 + 2 * h + 5 * S),
            # e2: one event on day 1 at 06:00, nothing on day 2
            StatusEvent("e2", "AVAILABLE", d1 + 6 * h, received_at=d1 + 6 * h + S),
        ],
    )
    frame = evlog.open_lake(tmp_path).feed_health("2024-04-05", "2024-04-07", by="day")
    rows = [(r["period_start"], r["evse_id"]) for r in frame.iter_rows(named=True)]
    # day 1: e1 has a repeat, e2 nothing; day 2: neither, e2 silent longer (since day 1 06:00)
    assert rows == [(d1, "e1"), (d1, "e2"), (d2, "e2"), (d2, "e1")]
    by = {(r["period_start"], r["evse_id"]): r for r in frame.iter_rows(named=True)}

    e1 = by[d1, "e1"]
    assert (e1["events"], e1["repeated"], e1["repeated_pct"]) == (3, 1, 33.333)
    assert e1["period_end"] == d2
    # lags 10, 20, 30 s: median 20, p95 20 + 0.9 x 10
    assert e1["lag_p50_s"] == 20.0 and e1["lag_p95_s"] == pytest.approx(29.0)
    assert e1["busiest_day_events"] == 3 and e1["longest_charging_s"] == 4 * 3600
    assert e1["last_event"] == d1 + 22 * h and e1["silent_s"] == 2 * 3600

    e1 = by[d2, "e1"]
    assert (e1["events"], e1["repeated"], e1["lag_p50_s"]) == (1, 0, 5.0)
    # the CHARGING spell from the evening before overlaps day 2 too
    assert e1["longest_charging_s"] == 4 * 3600
    assert e1["last_event"] == d2 + 2 * h and e1["silent_s"] == 22 * 3600

    e2 = by[d1, "e2"]
    assert (e2["events"], e2["lag_p50_s"], e2["silent_s"]) == (1, 1.0, 18 * 3600)
    e2 = by[d2, "e2"]  # a day without its events: zeros, and the silence since day 1 06:00
    assert (e2["events"], e2["repeated"], e2["busiest_day_events"]) == (0, 0, 0)
    assert e2["repeated_pct"] is None and e2["lag_p50_s"] is None
    assert e2["longest_charging_s"] == 0 and e2["implausible_rate"] is False
    assert e2["last_event"] == d1 + 6 * h and e2["silent_s"] == 42 * 3600

    # over the whole window (the default), one row per EVSE as before
    whole = evlog.open_lake(tmp_path).feed_health("2024-04-05", "2024-04-07")
    assert whole["evse_id"].to_list() == ["e1", "e2"] and whole["events"].to_list() == [4, 1]
    assert whole["period_start"].to_list() == [d1, d1]


def test_station_feed_health_by_day_counts_other_webhooks_on_their_day(tmp_path: Path) -> None:
    saved = tmp_path / "hooks.jsonl"
    online = {"_id": "S1", "lastConnectAt": "2025-01-01T00:00:00Z"}
    saved.write_text(
        envelope("2025-01-01T00:00:02Z", "chargestation.online", online, "w1")
        + "\n"
        + envelope("2025-01-01T08:00:00Z", "chargestation.firmware.updated", {"_id": "S1"}, "w2")
        + "\n"
        + envelope("2025-01-02T09:00:00Z", "session.updated", {"chargestation": "S1"}, "w3")
        + "\n"
        + envelope("2025-01-02T10:00:00Z", "session.updated", {"chargestation": "S1"}, "w4")
        + "\n"
    )
    record_webhook_files(tmp_path / "lake", [str(saved)])
    frame = evlog.open_lake(tmp_path / "lake").feed_health(
        "2025-01-01", "2025-01-03", stations=True, by="day"
    )
    got = [
        (r["period_start"].date().isoformat(), r["events"], r["other_webhooks"], r["other_types"])
        for r in frame.iter_rows(named=True)
    ]
    assert got == [
        ("2025-01-01", 1, 1, "chargestation.firmware.updated"),
        ("2025-01-02", 0, 2, "session.updated"),
    ]


def test_network_feed_health_by_day(tmp_path: Path) -> None:
    d1, d2 = at("2024-04-05T00:00:00"), at("2024-04-06T00:00:00")
    h = 3600 * S
    make_lake(
        tmp_path,
        status=[
            # e1: a repeat, then CHARGING from day 1 06:00 to day 2 12:00 (30 h)
            *repeat_then_charging(d1, d1 + 6 * h),
            StatusEvent("e1", "AVAILABLE", d2 + 12 * h, received_at=d2 + 12 * h + 40 * S),
            # e2: a status after REMOVED on day 1
            StatusEvent("e2", "REMOVED", d1 + h, received_at=d1 + h + S),
            StatusEvent("e2", "AVAILABLE", d1 + 2 * h, received_at=d1 + 2 * h + S),
            # e3: a time clamped to its receipt (event time = receive time)
            StatusEvent("e3", "AVAILABLE", d1 + 3 * h, received_at=d1 + 3 * h),
        ],
    )
    frame = evlog.open_lake(tmp_path).feed_health(
        "2024-04-05", "2024-04-07", by="day", network=True
    )
    day1, day2 = frame.iter_rows(named=True)
    assert (day1["period_start"], day2["period_start"]) == (d1, d2)
    assert (day1["evses"], day1["reporting_evses"], day1["silent_evses"]) == (3, 3, 0)
    # 3 + 2 + 1 events, one repeat, one clamped
    assert (day1["events"], day1["repeated"], day1["repeated_pct"]) == (6, 1, 16.667)
    assert (day1["clamped"], day1["out_of_order"]) == (1, 0)
    # lags 0, 1, 1, 10, 20, 30 s: median (1 + 10) / 2, p95 at 4.75 of 5: 20 + 0.75 x 10
    assert day1["lag_p50_s"] == 5.5 and day1["lag_p95_s"] == pytest.approx(27.5)
    assert (day1["charging_over_24h_evses"], day1["after_removed_evses"]) == (1, 1)
    assert day1["implausible_evses"] == 0
    # day 2: only e1 reports (12:00, 40 s late); its 30 h CHARGING spell overlaps day 2 too
    assert (day2["evses"], day2["reporting_evses"], day2["silent_evses"]) == (3, 1, 2)
    assert (day2["events"], day2["repeated_pct"], day2["lag_p50_s"]) == (1, 0.0, 40.0)
    assert (day2["charging_over_24h_evses"], day2["after_removed_evses"]) == (1, 0)
    with pytest.raises(evlog.UsageError, match=r"^network: not with stations"):
        evlog.open_lake(tmp_path).feed_health(network=True, stations=True)
