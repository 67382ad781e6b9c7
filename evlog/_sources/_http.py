"""HTTP plumbing shared by the live API clients (HERE Data API, eDRV): bounded retries with
exponential backoff and full jitter on 429, 5xx and network errors, and clear errors otherwise."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from evlog._errors import EvlogError

log = logging.getLogger("evlog.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(EvlogError):
    """An API call that failed for good: retries exhausted, or a status retrying cannot fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """401/403: the credentials or token are wrong, expired or lack access."""


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries; the wait before try n+1 is uniform in [0, min(cap, base * 2**n)]
    (full jitter), or the server's `Retry-After` when it gives one (capped)."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(self.cap_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return random.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt))


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    retry: RetryPolicy,
    headers: Callable[[], Mapping[str, str]] | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    content: bytes | None = None,
    on_unauthorized: Callable[[], bool] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> httpx.Response:
    """Send a request, retrying transient failures; return a 2xx response or raise.

    `headers` is called before every try (so a refreshed token is used). On a 401,
    `on_unauthorized` (if given) may refresh credentials and return True to try once more.
    `what` names the call in error messages ("subscribe", "GET /chargestations").
    """
    reauthorized = False
    last_problem = ""
    for attempt in range(retry.attempts):
        try:
            response = client.request(
                method,
                url,
                headers=dict(headers()) if headers else None,
                params=params,
                json=json,
                content=content,
            )
        except httpx.TransportError as exc:
            last_problem = f"{type(exc).__name__}: {exc}"
            wait = retry.delay(attempt)
        else:
            status = response.status_code
            if status < 300:
                return response
            if status == 401 and on_unauthorized is not None and not reauthorized:
                reauthorized = True
                if on_unauthorized():
                    continue
            if status in (401, 403):
                raise AuthError(
                    f"{what}: HTTP {status} {_reason(response)} (check the credentials "
                    "and the access granted to them)",
                    status,
                )
            if status not in RETRY_STATUSES:
                raise ApiError(f"{what}: HTTP {status} {_reason(response)}", status)
            last_problem = f"HTTP {status}"
            wait = retry.delay(attempt, response.headers.get("retry-after"))
        if attempt + 1 < retry.attempts:
            log.warning(
                "retrying call=%s problem=%r attempt=%d wait_s=%.2f",
                what,
                last_problem,
                attempt + 1,
                wait,
            )
            sleep(wait)
    raise ApiError(f"{what}: gave up after {retry.attempts} tries ({last_problem})")


def _reason(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return (response.reason_phrase + (f": {text[:200]}" if text else "")).strip()
