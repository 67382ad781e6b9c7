"""The simulated world: stations, their EVSEs, and what each station's sources publish.

Every station runs its own discrete-event model with its own `random.Random`, so a station's
behaviour depends only on the seed and its index (not on how many stations there are or on how the
run is chunked). The model produces *published events*: the status messages HERE publishes for a
location and the connect/disconnect transitions eDRV reports for a station. These are the truth.

Time is integer milliseconds since the Unix epoch, UTC, everywhere in this package.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Final

SECOND: Final = 1000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR

# A station offline longer than this makes HERE publish UNKNOWN for all its EVSEs.
UNKNOWN_AFTER: Final = 5 * MINUTE

PROFILES: Final = ("stable", "flaky", "outage_prone")

# Relative session arrival rate by UTC hour, weekdays and weekends (daily and weekly rhythm).
WEEKDAY_WEIGHTS: Final = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.25, 0.6, 1.2, 1.6, 1.4, 1.2, 1.1,
    1.2, 1.1, 1.0, 1.1, 1.4, 1.8, 1.7, 1.3, 1.0, 0.7, 0.45, 0.25,
)  # fmt: skip
WEEKEND_WEIGHTS: Final = (
    0.2, 0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.4,
    1.4, 1.3, 1.3, 1.2, 1.2, 1.1, 1.0, 0.9, 0.7, 0.5, 0.35, 0.25,
)  # fmt: skip
SESSIONS_PER_HOUR: Final = 0.3  # at weight 1.0 and popularity 1.0, per EVSE
MAX_WEIGHT: Final = max(*WEEKDAY_WEIGHTS, *WEEKEND_WEIGHTS)

# OCPP 1.6 connector status shown in eDRV's Chargestation for each underlying EVSE status.
OCPP_STATUS: Final = {
    "AVAILABLE": "Available",
    "CHARGING": "Charging",
    "RESERVED": "Reserved",
    "BLOCKED": "Available",  # a parked car the charger cannot see
    "INOPERATIVE": "Unavailable",
    "OUT_OF_ORDER": "Faulted",
}

# The OCPI status a replay gives each of those OCPP statuses under the default mapping of
# docs/lake.md ("Events from eDRV connectors"). Restated here, not imported from evlog._sources:
# the simulator's truth must not come from the code it checks.
OCPI_OF_OCPP: Final = {
    "Available": "AVAILABLE",
    "Charging": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUT_OF_ORDER",
}

VENDORS: Final = (
    ("ABB", "Terra AC W22-T-RD-M-0"),
    ("ABB", "Terra 54 CJG"),
    ("Alpitronic", "HYC150"),
    ("Wallbox", "Commander 2"),
    ("Kempower", "S-Series"),
    ("Tritium", "RTM75"),
    ("Enel X", "JuicePole"),
)
STREETS: Final = (
    "Harbour Road", "Station Square", "Market Street", "Mill Lane", "Park Avenue", "Church Road",
    "High Street", "Bridge Street", "Retail Park", "Airport Parkway", "Library Car Park",
    "Quayside",
)  # fmt: skip
EVSE_COUNT_WEIGHTS: Final = (0.15, 0.4, 0.1, 0.2, 0.05, 0.1)  # 1..6 EVSEs per location

# Actions of the per-station event loop.
_ARRIVAL, _ACT_END, _ACT_END_TO_CHARGE, _FAULT_START, _FAULT_END = 0, 1, 2, 3, 4
_MAINT_START, _MAINT_END, _DISCONNECT, _RECONNECT, _UNKNOWN, _REPORT, _SNAPSHOT = (
    5, 6, 7, 8, 9, 10, 11,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Connector:
    connector_id: str
    type: str
    format: str
    power_kw: int
    power_type: str


@dataclass(frozen=True, slots=True)
class StationInfo:
    """A charging station (eDRV Chargestation) and the HERE location that shows it."""

    index: int
    station_id: str  # eDRV Chargestation `_id`
    location_id: str  # HERE location id
    name: str
    vendor: str
    model: str
    profile: str  # one of PROFILES
    popularity: float
    evse_ids: tuple[str, ...]  # HERE EVSE ids, one per connector
    connectors: tuple[Connector, ...]


@dataclass(slots=True)
class StatusEvent:
    """A HERE EVCP2 message as published: `evses` holds (EVSE index, status, last_updated)."""

    t: int
    station: int
    evses: list[tuple[int, str, int]]


@dataclass(slots=True)
class ConnEvent:
    """A station's WebSocket opened (online) or closed (offline) at `t`; the Chargestation then."""

    t: int
    station: int
    online: bool
    last_connect: int
    last_disconnect: int
    last_message: int
    connectors: tuple[str, ...]  # OCPP connector statuses as eDRV knows them
    connector_times: tuple[int, ...]  # when eDRV last updated each connector (`updatedAt`)


@dataclass(slots=True)
class ConnectorEvent:
    """eDRV learnt new OCPP statuses for the connectors `changed` at `t` (a
    `chargestation.connector_status.updated` webhook); the Chargestation then, all connectors."""

    t: int
    station: int
    changed: tuple[int, ...]
    last_connect: int
    last_disconnect: int
    connectors: tuple[str, ...]
    connector_times: tuple[int, ...]


Event = StatusEvent | ConnEvent | ConnectorEvent


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def make_stations(count: int, seed: int) -> list[StationInfo]:
    """The network: `count` stations, each with 1-6 EVSEs, ids stable for a seed."""
    stations = []
    for i in range(count):
        rng = random.Random(f"evlog-sim:{seed}:station:{i}")
        if i == 1:
            profile = "flaky"
        elif i == 2:
            profile = "outage_prone"
        else:
            r = rng.random()
            profile = "flaky" if r < 0.15 else "outage_prone" if r < 0.25 else "stable"
        vendor, model = VENDORS[rng.randrange(len(VENDORS))]
        n = rng.choices(range(1, 7), weights=EVSE_COUNT_WEIGHTS)[0]
        dc = "Terra 54" in model or model in ("HYC150", "S-Series", "RTM75")
        location_id = f"here:evcp:loc:{100001 + i}"
        connectors = tuple(
            Connector(
                connector_id=_hex_id(rng),
                type="CCS" if dc else "Type2",
                format="Cable" if dc else "Socket",
                power_kw=(150 if model == "HYC150" else 50) if dc else 22,
                power_type="DC" if dc else "AC_3_PHASE",
            )
            for _ in range(n)
        )
        stations.append(
            StationInfo(
                index=i,
                station_id=_hex_id(rng),
                location_id=location_id,
                name=f"{STREETS[rng.randrange(len(STREETS))]} #{i + 1}",
                vendor=vendor,
                model=model,
                profile=profile,
                popularity=round(rng.uniform(0.3, 1.5), 3),
                evse_ids=tuple(f"{location_id}:evse:{k + 1}" for k in range(n)),
                connectors=connectors,
            )
        )
    return stations


def _ceil_second(t: int) -> int:
    return -(-t // SECOND) * SECOND


class StationSim:
    """The event loop of one station. `advance(until)` appends published events to `out`.

    Underlying EVSE state = INOPERATIVE during planned maintenance, else OUT_OF_ORDER during a
    fault, else the current activity (CHARGING, RESERVED, BLOCKED), else AVAILABLE. HERE publishes
    a change while the station is online; when it has been offline for `UNKNOWN_AFTER` it publishes
    UNKNOWN for every EVSE, and a few seconds after it reconnects it publishes every EVSE whose
    published status differs from its underlying one. Published event times strictly increase per
    EVSE (whole seconds, HERE's `last_updated` resolution) and per station (connectivity, ms).
    """

    def __init__(self, info: StationInfo, seed: int, start: int, end: int) -> None:
        self.info = info
        self.start = start
        self.end = end
        self.rng = rng = random.Random(f"evlog-sim:{seed}:world:{info.index}")
        self.out: list[Event] = []
        self._heap: list[tuple[int, int, int, int, int]] = []  # (t, seq, action, arg, token)
        self._seq = 0
        n = len(info.evse_ids)
        self.activity: list[str | None] = [None] * n
        self.act_token = [0] * n
        self.fault = [False] * n
        self.maint = False
        self.online = True
        self.reporting = True
        self.conn_token = 0
        self.episode_left = 0
        self.last_connect = start - int(rng.uniform(1, 72) * HOUR)
        self.last_disconnect = self.last_connect - int(rng.uniform(2, 600) * SECOND)
        self.last_conn_t = self.last_connect
        self.last_pub = [start - SECOND] * n
        self.last_msg_t = start
        self._lam_max = SESSIONS_PER_HOUR * MAX_WEIGHT * info.popularity / HOUR
        for k in range(n):
            if rng.random() < 0.02:  # a fault already going on at the start
                self.fault[k] = True
                self._at(start + int(rng.uniform(6 * HOUR, 3 * DAY)), _FAULT_END, k)
            else:
                self._schedule_fault(start, k)
            if rng.random() < 0.12:  # a session already going on
                self.activity[k] = "CHARGING"
                self._at(start + int(rng.uniform(5, 90) * MINUTE), _ACT_END, k)
            self._at(start + int(rng.expovariate(self._lam_max)), _ARRIVAL, k)
        self.published = [self.underlying(k) for k in range(n)]
        # What eDRV knows of each connector: its OCPP status and when it last changed. eDRV
        # learns a change only while the station reports (online, after its first status
        # report); its connector records start with the simulation.
        self.edrv_status = [OCPP_STATUS[status] for status in self.published]
        self.edrv_updated = [start] * n
        self._schedule_maintenance(start)
        self._schedule_disconnect(start)
        self._at(start + int(rng.uniform(30, 900) * SECOND), _SNAPSHOT, 0)

    # -- scheduling -------------------------------------------------------------------------

    def _at(self, t: int, action: int, arg: int, token: int = 0) -> None:
        if t < self.end:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, action, arg, token))

    def _schedule_fault(self, t: int, k: int) -> None:
        self._at(t + int(self.rng.expovariate(1 / (30 * DAY))), _FAULT_START, k)

    def _schedule_maintenance(self, t: int) -> None:
        if self.rng.random() < 0.6:
            day = (t + int(self.rng.expovariate(1 / (10 * DAY)))) // DAY * DAY + DAY
            self._at(day + 2 * HOUR + int(self.rng.uniform(0, 3) * HOUR), _MAINT_START, 0)

    def _schedule_disconnect(self, t: int) -> None:
        rng = self.rng
        profile = self.info.profile
        if profile == "flaky" and self.episode_left > 0:
            self.episode_left -= 1
            gap = rng.uniform(20, 240) * SECOND
            if self.episode_left == 0 and rng.random() < 0.2:
                dur = rng.uniform(10, 60) * MINUTE
            else:
                dur = rng.uniform(3, 45) * SECOND
        elif profile == "flaky" and rng.random() < 0.85:
            gap = rng.expovariate(1 / (16 * HOUR))
            self.episode_left = rng.randint(3, 12) - 1
            dur = rng.uniform(3, 45) * SECOND
        elif profile == "outage_prone":
            gap = rng.expovariate(1 / (36 * HOUR))
            long = rng.random() < 0.5
            dur = rng.uniform(1, 36) * HOUR if long else rng.uniform(2, 60) * SECOND
        else:
            gap = rng.expovariate(1 / (20 * HOUR))
            r = rng.random()
            if r < 0.85:
                dur = rng.uniform(2, 60) * SECOND
            elif r < 0.97:
                dur = rng.uniform(2, 20) * MINUTE
            else:
                dur = rng.uniform(1, 4) * HOUR
        self._at(t + int(gap), _DISCONNECT, int(dur))

    def _rate(self, t: int) -> float:
        weekday = (t // DAY + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        weights = WEEKEND_WEIGHTS if weekday >= 5 else WEEKDAY_WEIGHTS
        return SESSIONS_PER_HOUR * weights[(t // HOUR) % 24] * self.info.popularity / HOUR

    # -- state --------------------------------------------------------------------------------

    def underlying(self, k: int) -> str:
        if self.maint:
            return "INOPERATIVE"
        if self.fault[k]:
            return "OUT_OF_ORDER"
        return self.activity[k] or "AVAILABLE"

    def _publish(self, t: int, items: list[tuple[int, str]]) -> None:
        # One `last_updated` for the whole message, never earlier than the station's previous
        # message (so sorting a station's events by time keeps each EVSE's order) and strictly
        # later than each of its EVSEs' previous ones.
        tm = max(_ceil_second(t), self.last_msg_t, *(self.last_pub[k] + SECOND for k, _ in items))
        if tm >= self.end:
            return
        self.last_msg_t = tm
        for k, status in items:
            self.last_pub[k] = tm
            self.published[k] = status
        self.out.append(StatusEvent(tm, self.info.index, [(k, s, tm) for k, s in items]))

    def _changed(self, t: int, ks: range | list[int]) -> None:
        if not self.reporting:
            return
        items = [(k, s) for k in ks if (s := self.underlying(k)) != self.published[k]]
        if items:
            self._publish(t, items)
        self._edrv_changed(t, ks)

    def _edrv_changed(self, t: int, ks: range | list[int]) -> None:
        """eDRV's connector records follow the OCPP statuses the station reports (no random
        draw here: the other feeds stay as they were without this one)."""
        changed = []
        for k in ks:
            status = OCPP_STATUS[self.underlying(k)]
            if status != self.edrv_status[k]:
                self.edrv_status[k] = status
                self.edrv_updated[k] = t
                changed.append(k)
        if changed:
            self.out.append(
                ConnectorEvent(
                    t,
                    self.info.index,
                    tuple(changed),
                    self.last_connect,
                    self.last_disconnect,
                    tuple(self.edrv_status),
                    tuple(self.edrv_updated),
                )
            )

    def _conn(self, t: int, online: bool) -> None:
        last_message = t if online else max(self.last_conn_t, t - int(self.rng.uniform(1, 60_000)))
        self.out.append(
            ConnEvent(
                t,
                self.info.index,
                online,
                self.last_connect,
                self.last_disconnect,
                last_message,
                tuple(self.edrv_status),
                tuple(self.edrv_updated),
            )
        )

    # -- the loop -----------------------------------------------------------------------------

    def advance(self, until: int) -> None:
        heap = self._heap
        rng = self.rng
        while heap and heap[0][0] < until:
            t, _, action, arg, token = heapq.heappop(heap)
            if action == _ARRIVAL:
                k = arg
                self._at(t + int(rng.expovariate(self._lam_max)), _ARRIVAL, k)
                if rng.random() * self._lam_max >= self._rate(t) or self.underlying(k) != (
                    "AVAILABLE"
                ):
                    continue
                r = rng.random()
                self.act_token[k] += 1
                if r < 0.07:
                    self.activity[k] = "RESERVED"
                    end_action = _ACT_END_TO_CHARGE if rng.random() < 0.8 else _ACT_END
                    self._at(t + int(rng.uniform(3, 15) * MINUTE), end_action, k, self.act_token[k])
                elif r < 0.11:
                    self.activity[k] = "BLOCKED"
                    self._at(t + int(rng.uniform(10, 120) * MINUTE), _ACT_END, k, self.act_token[k])
                else:
                    self._start_charging(t, k)
                self._changed(t, [k])
            elif action in (_ACT_END, _ACT_END_TO_CHARGE):
                k = arg
                if token != self.act_token[k]:
                    continue
                if action == _ACT_END_TO_CHARGE and not self.fault[k] and not self.maint:
                    self.act_token[k] += 1
                    self._start_charging(t, k)
                else:
                    self.activity[k] = None
                self._changed(t, [k])
            elif action == _FAULT_START:
                k = arg
                self.fault[k] = True
                self.activity[k] = None
                self.act_token[k] += 1
                long = rng.random() < 0.6
                dur = rng.uniform(1, 4) * DAY if long else rng.uniform(2, 12) * HOUR
                self._at(t + int(dur), _FAULT_END, k)
                self._changed(t, [k])
            elif action == _FAULT_END:
                self.fault[arg] = False
                self._schedule_fault(t, arg)
                self._changed(t, [arg])
            elif action == _MAINT_START:
                self.maint = True
                self._at(t + int(rng.uniform(2, 6) * HOUR), _MAINT_END, 0)
                self._changed(t, range(len(self.activity)))
            elif action == _MAINT_END:
                self.maint = False
                for k in range(len(self.activity)):
                    if self.activity[k] is not None:
                        self.activity[k] = None
                        self.act_token[k] += 1
                self._schedule_maintenance(t)
                self._changed(t, range(len(self.activity)))
            elif action == _DISCONNECT:
                t = max(t, self.last_conn_t + 2 * SECOND)
                if t >= self.end:
                    continue
                self.online = False
                self.reporting = False
                self.conn_token += 1
                self.last_conn_t = self.last_disconnect = t
                self._conn(t, False)
                self._at(t + UNKNOWN_AFTER, _UNKNOWN, 0, self.conn_token)
                self._at(t + arg, _RECONNECT, 0)
            elif action == _RECONNECT:
                t = max(t, self.last_conn_t + 2 * SECOND)
                if t >= self.end:
                    continue
                self.online = True
                self.conn_token += 1
                self.last_conn_t = self.last_connect = t
                self._conn(t, True)
                self._at(t + int(rng.uniform(1, 10) * SECOND), _REPORT, 0, self.conn_token)
                self._schedule_disconnect(t)
            elif action == _UNKNOWN:
                if token == self.conn_token and not self.online:
                    n = len(self.activity)
                    self._publish(t, [(k, "UNKNOWN") for k in range(n)])
            elif action == _REPORT:
                if token == self.conn_token and self.online:
                    self.reporting = True
                    self._changed(t, range(len(self.activity)))
            elif action == _SNAPSHOT:
                self._publish(t, list(enumerate(self.published)))

    def _start_charging(self, t: int, k: int) -> None:
        rng = self.rng
        minutes = min(max(rng.lognormvariate(math.log(45), 0.7), 8), 480)
        self.activity[k] = "CHARGING"
        self._at(t + int(minutes * MINUTE), _ACT_END, k, self.act_token[k])
