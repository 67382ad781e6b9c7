"""eDRV REST API client for station snapshots, over httpx.

    GET {api}/chargestations?page=N&limit=M   -> {"result": [<Chargestation>, ...]}  (paged)
    GET {api}/chargestations/{id}             -> {"result": <Chargestation>}

Authentication: `Authorization: Bearer <token>`. Every call retries 429/5xx and network errors
with backoff (`RetryPolicy`); 401/403 raise `AuthError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from evlog._errors import UsageError
from evlog._sources._http import ApiError, RetryPolicy, send

log = logging.getLogger("evlog.edrv")

DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 10_000  # a bound on one listing, should the service ignore `page`


@dataclass(frozen=True)
class Snapshot:
    """One station as the API returned it: the raw bytes, and when they were received."""

    station_id: str | None
    payload: bytes
    received_at: datetime


def token_from_env(var: str, environ: Mapping[str, str]) -> str:
    value = environ.get(var, "").strip()
    if not value:
        raise UsageError(f"--token-env: environment variable {var} is not set or empty")
    return value


def _station_id(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("_id") or item.get("id")
        if isinstance(value, str) and value:
            return value
    return None


class EdrvClient:
    def __init__(
        self,
        api_base: str,
        token: str,
        *,
        client: httpx.Client | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout_s: float = 30.0,
    ) -> None:
        if not api_base.startswith(("http://", "https://")):
            raise UsageError(f"--api-base: expected an http(s) URL, got {api_base!r}")
        self.api_base = api_base.rstrip("/")
        self._token = token
        self.retry = retry
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=timeout_s, headers={"User-Agent": "evlog (eDRV poller)"}
        )

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def station(self, station_id: str) -> Snapshot:
        """`GET /chargestations/{id}`: the response body as received."""
        url = f"{self.api_base}/chargestations/{quote(station_id, safe='')}"
        response = send(
            self.client,
            "GET",
            url,
            what=f"GET /chargestations/{station_id}",
            retry=self.retry,
            headers=self._headers,
        )
        return Snapshot(station_id, response.content, datetime.now(UTC))

    def stations(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Snapshot]:
        """Every station of the paged list, one snapshot per list item (its JSON re-encoded)."""
        previous: list[str | None] | None = None
        for page in range(1, MAX_PAGES + 1):
            response = send(
                self.client,
                "GET",
                f"{self.api_base}/chargestations",
                what="GET /chargestations",
                retry=self.retry,
                headers=self._headers,
                params={"page": page, "limit": page_size},
            )
            received_at = datetime.now(UTC)
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise ApiError(f"GET /chargestations: response is not JSON ({exc})") from None
            items = body.get("result") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise ApiError("GET /chargestations: no `result` list in the response")
            if not items:
                return
            ids = [_station_id(item) for item in items]
            if ids == previous:  # the service ignored `page`: stop rather than loop
                log.warning("list paging repeated page=%d; stopping this listing", page)
                return
            previous = ids
            for station_id, item in zip(ids, items, strict=True):
                yield Snapshot(station_id, orjson.dumps(item), received_at)
            if len(items) < page_size:
                return
