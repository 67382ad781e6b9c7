"""Request headers as stored in the lake: credentials replaced, names kept.

The webhook receiver stores each request's headers (`raw_webhooks.headers`) so that a delivery
can be examined later; a probe or a misconfigured proxy may send credentials along. Their values
are replaced by `REDACTED` before anything is written: the name stays, so one can still see that
the header was sent. Used by the live receiver and by `record webhooks --from` for saved
envelopes, so both paths store the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


def redact_headers(headers: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """`headers` with the value of every secret header (`SECRET_HEADERS` and `extra`, names
    matched case-insensitively) replaced by `REDACTED`."""
    secret = SECRET_HEADERS | {name.strip().lower() for name in extra}
    return {name: REDACTED if name.lower() in secret else value for name, value in headers.items()}


__all__ = ["REDACTED", "SECRET_HEADERS", "redact_headers"]
