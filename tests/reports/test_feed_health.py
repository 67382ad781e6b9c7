"""feed-health, given these events, expect these rows (figures worked out by hand)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import evlog
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
