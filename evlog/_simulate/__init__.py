"""Simulated raw feeds with ground truth: `evlog simulate`.

`simulate(out, stations=..., days=..., seed=...)` writes, under `out`:

* `here/partitions-<date>-<NNN>.json`: HERE Data API stream v2 `partitions` responses.
* `here-members/evse-updates-<date>.gz`: the same HERE messages as concatenated gzip members.
* `edrv/webhooks-<date>.jsonl`: signed eDRV webhook envelopes.
* `truth/`: the station/location/EVSE mapping, true and expected (replayed) state intervals and the
  expected availability and uptime figures by UTC day.
* `manifest.json`: arguments, span, recorder coverage, webhook secret and fault counts.

See `data/samples/README.md` for the formats and how the truth is derived.
"""

from evlog._simulate.run import DEFAULT_START, WEBHOOK_SECRET, simulate

__all__ = ["DEFAULT_START", "WEBHOOK_SECRET", "simulate"]
