"""eDRV webhook parsing and Stripe-style signatures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from evlog._errors import RecordError
from evlog._lake.names import QuarantineReason
from evlog._sources import edrv
from tests import feeds

NOW = datetime(2024, 4, 5, 12, tzinfo=UTC)
SECRET = "whsec_test"
BODY = json.dumps(feeds.webhook("w1", "st-1", True, "2024-04-05T11:59:00Z")).encode()


def test_signature_round_trip() -> None:
    header = edrv.sign(SECRET, BODY, 1_700_000_000)
    assert edrv.verify_signature(SECRET, header, BODY, now=1_700_000_010)


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "stale", "future", "missing", "garbage", "no t"],
)
def test_signature_rejections(case: str) -> None:
    t = 1_700_000_000
    header: str | None = edrv.sign(SECRET, BODY, t)
    body, now = BODY, float(t)
    if case == "wrong secret":
        header = edrv.sign("other", BODY, t)
    elif case == "tampered body":
        body = BODY.replace(b"st-1", b"st-2")
    elif case == "stale":
        now = t + 301
    elif case == "future":
        now = t - 301
    elif case == "missing":
        header = None
    elif case == "garbage":
        header = "nonsense"
    elif case == "no t":
        assert header is not None
        header = header.split(",", 1)[1]
    assert not edrv.verify_signature(SECRET, header, body, now=now)


def test_signature_accepts_any_of_several_v1_during_secret_rotation() -> None:
    t = 1_700_000_000
    good = edrv.sign(SECRET, BODY, t).split(",")[1]
    header = f"t={t},v1={'0' * 64},{good}"
    assert edrv.verify_signature(SECRET, header, BODY, now=t, tolerance=timedelta(minutes=5))


def test_offline_uses_last_disconnect_at() -> None:
    body = json.dumps(feeds.webhook("w", "st", False, "2024-04-05T11:00:00Z")).encode()
    obs = edrv.parse_webhook(body, NOW)
    assert obs is not None
    assert (obs.station_id, obs.online, obs.event_time) == (
        "st",
        False,
        datetime(2024, 4, 5, 11, tzinfo=UTC),
    )


def test_online_time_in_the_future_is_clamped() -> None:
    body = json.dumps(feeds.webhook("w", "st", True, "2024-04-05T13:00:00Z")).encode()
    obs = edrv.parse_webhook(body, NOW)
    assert obs is not None
    assert (obs.event_time, obs.time_clamped) == (NOW, True)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[1, 2]", QuarantineReason.NOT_AN_OBJECT),
        (b'{"_id": "w", "data": {}}', QuarantineReason.MISSING_EVENT),
        (b'{"_id": "w", "event": "chargestation.online"}', QuarantineReason.MISSING_STATION),
        (
            b'{"event": "chargestation.online", "data": {"_id": "s", "lastConnectAt": "soon"}}',
            QuarantineReason.UNPARSEABLE_TIME,
        ),
    ],
)
def test_bad_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as problem:
        edrv.parse_webhook(body, NOW)
    assert problem.value.reason == reason


def test_snapshot_is_an_observation_at_receive_time() -> None:
    obs = edrv.parse_snapshot(b'{"result": {"_id": "st", "online": false}}', NOW)
    assert (obs.station_id, obs.online, obs.event_time, obs.event) == ("st", False, NOW, "poll")


def test_identity_prefers_the_webhook_id() -> None:
    assert edrv.webhook_identity(BODY) == ("webhook:w1", "w1")
    key, webhook_id = edrv.webhook_identity(b"not json")
    assert key.startswith("sha256:") and webhook_id is None
