"""reconcile's webhook state at a snapshot is the replay's: the tie order of rule *Order by event
time* (docs/replay.md), written once in `arrival_order`, including its NULLs and first copies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import evlog
from evlog._lake.names import Source
from evlog._reports.reconcile import reconcile
from tests.replay.lakes import Connectivity, at, make_lake

T = at("2026-11-20T10:00:00")
POLL = Source.EDRV_POLL.value


def test_ties_at_one_instant_are_broken_as_the_replay_breaks_them(tmp_path: Path) -> None:
    later = T + timedelta(seconds=5)
    make_lake(
        tmp_path,
        [
            # N: one webhook lacks arrival_index; the rule sorts it after those that have one
            # (the latest arrival), so `online` holds. (The old DESC order, NULLS LAST, took it
            # for the earliest: `offline`, agreeing with the snapshot.)
            Connectivity("N", False, T, received_at=later, arrival_index=5, record_key="n1"),
            Connectivity("N", True, T, received_at=later, arrival_index=None, record_key="n2"),
            # R: `online` arrived first, `offline` next, then a republished copy of `online`: a
            # state arrives with its first copy, so `offline` holds.
            Connectivity("R", True, T, arrival_index=1, record_key="r1"),
            Connectivity("R", False, T, arrival_index=2, record_key="r2"),
            Connectivity("R", True, T, arrival_index=3, record_key="r3"),
            # P: a plain tie, the later arrival (`offline`) holds.
            Connectivity("P", True, T, arrival_index=1, record_key="p1"),
            Connectivity("P", False, T, arrival_index=2, record_key="p2"),
            *(
                Connectivity(station, online, T + timedelta(minutes=1), source=POLL, record_key=k)
                for station, online, k in (("N", False, "s1"), ("R", True, "s2"), ("P", True, "s3"))
            ),
        ],
    )
    frame = reconcile(tmp_path)
    assert frame.select("station_id", "webhook_online", "webhook_id").rows() == [
        ("N", True, "n2"),
        ("P", False, "p2"),
        ("R", False, "r2"),
    ]
    # the replay's state of each station in the minute before its snapshot is the same
    window = (T, T + timedelta(minutes=1))
    replayed = evlog.open_lake(tmp_path).intervals(*window, by="none", station=["N", "P", "R"])
    held = dict(replayed.select("entity_id", "state").rows())
    assert held == {"N": "online", "P": "offline", "R": "offline"}
