"""eDRV connectivity scenarios with figures computed by hand (uptime, flaps, intervals)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

import evlog
from evlog._lake.names import Source
from tests.replay.lakes import Connectivity, at, make_lake, write_coverage

DAY = ("2024-04-05T00:00:00Z", "2024-04-06T00:00:00Z")


def on(station: str, when: str, received: str | None = None, key: str = "") -> Connectivity:
    return Connectivity(station, True, at(when), at(received) if received else None, record_key=key)


def off(station: str, when: str, received: str | None = None, key: str = "") -> Connectivity:
    return Connectivity(
        station, False, at(when), at(received) if received else None, record_key=key
    )


def one_row(frame: pl.DataFrame, **where: str) -> dict[str, object]:
    rows = frame.filter(*(pl.col(k) == v for k, v in where.items())).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_carry_in_state_from_a_year_ago_holds_all_window(tmp_path: Path) -> None:
    make_lake(tmp_path, [on("S1", "2023-04-05T08:00:00")])
    row = one_row(evlog.open_lake(tmp_path).uptime(*DAY, by="none"), station_id="S1")
    assert row["online_s"] == 86_400.0
    assert row["no_data_s"] == 0.0
    assert row["outages"] == 0
    assert row["uptime_pct"] == 100.0
    assert row["mtbf_s"] is None  # zero outages: empty, not infinite


REPEATS = [
    on("S1", "2024-04-05T00:00:00", key="a"),
    on("S1", "2024-04-05T06:00:00", key="b"),  # a repeat, not a transition
    off("S1", "2024-04-05T12:00:00", key="c"),
    on("S1", "2024-04-05T12:30:00", key="d"),
    on("S1", "2024-04-05T18:00:00", key="e"),
]


def check_repeats(lake: evlog.EvlogLake) -> None:
    row = one_row(lake.uptime(*DAY, by="none"), station_id="S1")
    assert row["online_s"] == 86_400.0 - 1_800.0
    assert row["offline_s"] == 1_800.0
    assert row["outages"] == 1
    assert row["longest_outage_s"] == 1_800.0
    assert row["mttr_s"] == 1_800.0
    assert row["mtbf_s"] == (86_400.0 - 1_800.0) / 1
    flaps = one_row(lake.flaps(*DAY, by="none"), station_id="S1")
    assert flaps["disconnects"] == 1
    assert flaps["short_disconnects"] == 0  # 30 min is not short
    intervals = lake.intervals(*DAY, station=["S1"])
    assert intervals["state"].to_list() == ["online", "offline", "online"]
    assert intervals["duration_s"].to_list() == [43_200.0, 1_800.0, 41_400.0]


def test_repeated_online_events_are_not_transitions(tmp_path: Path) -> None:
    make_lake(tmp_path, REPEATS)
    check_repeats(evlog.open_lake(tmp_path))


def test_out_of_order_and_duplicated_delivery(tmp_path: Path) -> None:
    # Delivered newest first, the offline event twice (a webhook retry) and a stray late repeat.
    delivered = [
        Connectivity(
            e.station_id,
            e.online,
            e.event_time,
            at("2024-04-05T23:00:00") - i * timedelta(minutes=1),
            record_key=e.record_key,
        )
        for i, e in enumerate(REPEATS)
    ]
    delivered.append(
        Connectivity(
            "S1", False, at("2024-04-05T12:00:00"), at("2024-04-05T23:30:00"), record_key="c"
        )
    )
    make_lake(tmp_path, delivered, files=3, seed=7)
    check_repeats(evlog.open_lake(tmp_path))


FLAPPING = [
    on("S1", "2024-04-05T09:00:00"),
    off("S1", "2024-04-05T10:00:00"),
    on("S1", "2024-04-05T10:00:20"),
    off("S1", "2024-04-05T10:05:00"),
    on("S1", "2024-04-05T10:05:45"),
    off("S1", "2024-04-05T10:20:00"),
    on("S1", "2024-04-05T10:20:10"),
    off("S1", "2024-04-05T10:50:00"),
    on("S1", "2024-04-05T10:50:30"),
    on("S2", "2024-04-05T00:00:00"),
]


def test_flapping_station(tmp_path: Path) -> None:
    make_lake(tmp_path, FLAPPING)
    frame = evlog.open_lake(tmp_path).flaps(*DAY, by="none")
    assert frame["station_id"].to_list() == ["S1", "S2"]  # worst first
    row = one_row(frame, station_id="S1")
    assert row["disconnects"] == 4
    assert row["short_disconnects"] == 4  # 20 s, 45 s, 10 s, 30 s: all under 5 min
    # runs of 3 within 1 h: 10:00-10:20 and 10:05-10:50 overlap, one episode 10:00:00-10:50:30
    assert row["flapping_episodes"] == 1
    assert row["flapping_s"] == 50 * 60 + 30
    assert row["offline_s"] == 105.0
    assert row["observed_s"] == 15 * 3600.0  # no data before 09:00
    assert row["uptime_pct"] == pytest.approx(100 * (54_000 - 105) / 54_000)
    assert row["effective_uptime_pct"] == 100.0
    # 9 observations, 8 changes entering observations k = 2..9, each weighing 0.75 + (k + 10) / 38
    assert row["percent_state_change"] == pytest.approx((8 * 0.75 + sum(range(12, 20)) / 38) * 5)
    assert row["is_flapping"] is True


def test_flapping_settings_and_hourly_split(tmp_path: Path) -> None:
    make_lake(tmp_path, FLAPPING)
    lake = evlog.open_lake(tmp_path)
    hourly = lake.flaps(*DAY, by="hour", station=["S1"], flap_threshold="30s")
    ten = one_row(hourly.with_columns(pl.col("period_start").dt.hour().alias("h")), h=10)  # type: ignore[arg-type]
    assert ten["short_disconnects"] == 2  # 20 s and 10 s; 45 s and 30 s are not < 30 s
    assert ten["flapping_episodes"] == 1
    assert ten["flapping_s"] == 3030.0
    assert hourly["flapping_s"].sum() == 3030.0
    # four disconnects but never three within 10 minutes
    strict = lake.flaps(*DAY, by="none", station=["S1"], flap_window="10m")
    assert strict["flapping_episodes"].to_list() == [0]
    assert strict["flapping_s"].to_list() == [0.0]


def test_no_data_until_midday(tmp_path: Path) -> None:
    make_lake(tmp_path, [on("S1", "2024-04-05T12:00:00"), on("S2", "2024-04-05T00:00:00")])
    lake = evlog.open_lake(tmp_path)
    row = one_row(lake.uptime(*DAY, by="none"), station_id="S1")
    assert (row["no_data_s"], row["online_s"], row["uptime_pct"]) == (43_200.0, 43_200.0, 100.0)
    hourly = lake.uptime(*DAY, by="hour", station=["S1"])
    assert hourly.height == 24  # every period, the all-no_data ones too
    morning = hourly.head(12)
    assert morning["no_data_s"].to_list() == [3600.0] * 12
    assert morning["uptime_pct"].to_list() == [None] * 12


def test_coverage_gap_is_unobserved_then_no_data_or_held(tmp_path: Path) -> None:
    lake = make_lake(
        tmp_path,
        [
            on("S1", "2024-04-05T01:00:00"),
            off("S1", "2024-04-05T12:00:00"),
            on("S1", "2024-04-05T12:10:00"),
        ],
    )
    write_coverage(
        lake,
        Source.EDRV_WEBHOOKS,
        {
            "first": [
                (at("2024-04-05T00:00:00"), at("2024-04-05T04:00:00")),
                (at("2024-04-05T04:00:00"), at("2024-04-05T08:00:00")),
            ],
            "second": [(at("2024-04-05T10:00:00"), at("2024-04-06T00:00:00"))],
        },
    )
    reports = evlog.open_lake(tmp_path)
    row = one_row(reports.uptime(*DAY, by="none"), station_id="S1")
    assert row["unobserved_s"] == 7_200.0  # 08:00-10:00
    assert row["no_data_s"] == 3_600.0 + 7_200.0  # before 01:00, and 10:00-12:00 after the gap
    assert row["online_s"] == 25_200.0 + 42_600.0
    assert row["offline_s"] == 600.0
    held = one_row(reports.uptime(*DAY, by="none", hold_after_gap=True), station_id="S1")
    assert held["no_data_s"] == 3_600.0
    assert held["online_s"] == 25_200.0 + 7_200.0 + 42_600.0


def test_outage_counted_where_it_starts_and_cut_at_window_end(tmp_path: Path) -> None:
    make_lake(tmp_path, [on("S1", "2024-04-04T00:00:00"), off("S1", "2024-04-05T22:30:00")])
    frame = evlog.open_lake(tmp_path).uptime(*DAY, by="hour")
    assert frame["outages"].sum() == 1
    late = frame.filter(pl.col("outages") == 1).to_dicts()[0]
    assert late["period_start"].hour == 22
    assert late["longest_outage_s"] == 5_400.0  # 22:30 to the window end, not beyond


def test_microsecond_exact_durations(tmp_path: Path) -> None:
    make_lake(tmp_path, [on("S1", "2024-04-05T00:00:00"), off("S1", "2024-04-05T12:00:00.000001")])
    row = one_row(evlog.open_lake(tmp_path).uptime(*DAY, by="day"), station_id="S1")
    assert row["online_s"] == 43_200.000001
    assert row["offline_s"] == 43_199.999999


def test_dst_days_are_23_and_25_hours(tmp_path: Path) -> None:
    make_lake(tmp_path, [on("S1", "2024-03-01T00:00:00")])
    lake = evlog.open_lake(tmp_path)
    spring = lake.uptime(
        "2024-03-30T00:00+01:00", "2024-04-02T00:00+02:00", by="day", tz="Europe/Berlin"
    )
    assert spring["online_s"].to_list() == [86_400.0, 82_800.0, 86_400.0]
    assert [p.hour for p in spring["period_start"]] == [0, 0, 0]  # local midnights
    autumn = lake.uptime(
        "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", by="hour", tz="Europe/Berlin"
    )
    assert autumn.height == 25
    month = lake.uptime("2024-03-15", "2024-05-10", by="month")
    assert [p.month for p in month["period_start"]] == [3, 4, 5]
    week = lake.uptime("2024-04-03", "2024-04-20", by="week")
    assert [p.weekday() for p in week["period_start"][1:]] == [0, 0]  # ISO weeks start on Monday


def test_filters_and_empty_result(tmp_path: Path) -> None:
    make_lake(tmp_path, FLAPPING)
    lake = evlog.open_lake(tmp_path)
    assert lake.uptime(*DAY, station=["S2"])["station_id"].unique().to_list() == ["S2"]
    empty = lake.uptime(*DAY, station=["nope"])
    assert empty.is_empty()
    assert "uptime_pct" in empty.columns


def test_relation_api_and_default_window(tmp_path: Path) -> None:
    made = make_lake(tmp_path, [on("S1", "2024-04-05T00:00:00", "2024-04-05T06:00:00")])
    lake = evlog.open_lake(tmp_path)
    relation = lake.uptime_relation(by="none")
    assert relation.filter("uptime_pct = 100").count("*").fetchall() == [(1,)]
    # default window (docs/replay.md, "The window"): a receive time alone does not extend it,
    # the window ends one microsecond after the last event ...
    assert lake.uptime(by="none")["online_s"].to_list() == [1e-6]
    # ... or at the end of the source's coverage
    span = (at("2024-04-05T00:00:00"), at("2024-04-05T09:00:00"))
    write_coverage(made, Source.EDRV_WEBHOOKS, {"s": [span]})
    lake.refresh()
    frame = lake.uptime(by="none")
    assert frame["online_s"].to_list() == [9 * 3600.0]
