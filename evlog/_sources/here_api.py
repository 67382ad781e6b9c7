"""HERE platform Data API client for stream layers (stream API v2), over httpx.

Calls, in the order a consumer makes them::

    GET    {lookup}/resources/{hrn}/apis/stream/v2          -> [{"api","version","baseURL"}]
    POST   {stream}/layers/{layer}/subscribe?mode=serial     -> {"nodeBaseURL","subscriptionId"}
    GET    {node}/layers/{layer}/partitions?subscriptionId=  -> {"messages":[...]}
    GET    {blob}/layers/{layer}/data/{dataHandle}           (payloads over 1 MB; blob API v1)
    PUT    {node}/layers/{layer}/offsets?subscriptionId=     {"offsets":[{"partition","offset"}]}
    DELETE {node}/layers/{layer}/subscribe?subscriptionId=

Authentication: a bearer token, either given ready (`StaticToken`) or obtained from a HERE
credentials file with the OAuth 2.0 client-credentials grant, the token request itself signed with
OAuth 1.0a HMAC-SHA256 (`OAuthTokenProvider`), and refreshed before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from evlog._errors import UsageError
from evlog._sources._http import ApiError, AuthError, RetryPolicy, send

log = logging.getLogger("evlog.here")

DEFAULT_LOOKUP_URL = "https://api-lookup.data.api.platform.here.com/lookup/v1"
DEFAULT_TIMEOUT_S = 30.0
USER_AGENT = "evlog (HERE stream v2 consumer)"

__all__ = [
    "DEFAULT_LOOKUP_URL",
    "ApiError",
    "AuthError",
    "DataApiClient",
    "HereCredentials",
    "OAuthTokenProvider",
    "StaticToken",
    "Subscription",
    "TokenProvider",
    "oauth1_authorization",
    "read_credentials",
]


# ---------------------------------------------------------------------------------------------
# Credentials and tokens


@dataclass(frozen=True)
class HereCredentials:
    access_key_id: str
    access_key_secret: str
    token_endpoint_url: str
    user_id: str | None = None
    client_id: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"HereCredentials(access_key_id={self.access_key_id!r}, secret=***)"


def parse_properties(text: str) -> dict[str, str]:
    """Java `.properties` lines: `key=value`, `key: value` or `key value`; `#`/`!` comments;
    backslash line continuations and escapes (enough for HERE credentials files)."""
    result: dict[str, str] = {}
    logical: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical.append(line[:-1])
            continue
        logical.append(line)
        entry, logical = "".join(logical), []
        key_end = len(entry)
        for i, char in enumerate(entry):
            if char in "=: \t" and (i == 0 or entry[i - 1] != "\\"):
                key_end = i
                break
        key, rest = entry[:key_end], entry[key_end:].lstrip(" \t")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t")
        result[_unescape(key)] = _unescape(rest)
    return result


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


def read_credentials(path: str | Path) -> HereCredentials:
    """Read a HERE `credentials.properties` file; a missing file or key is a `UsageError`."""
    file = Path(path).expanduser()
    try:
        props = parse_properties(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--credentials: cannot read {file}: {exc.strerror}") from None
    missing = [
        key
        for key in ("here.access.key.id", "here.access.key.secret", "here.token.endpoint.url")
        if not props.get(key)
    ]
    if missing:
        raise UsageError(f"--credentials: {file} lacks {', '.join(missing)}")
    return HereCredentials(
        access_key_id=props["here.access.key.id"],
        access_key_secret=props["here.access.key.secret"],
        token_endpoint_url=props["here.token.endpoint.url"],
        user_id=props.get("here.user.id") or None,
        client_id=props.get("here.client.id") or None,
    )


def _percent(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a requires (only unreserved characters kept)."""
    return quote(value, safe="-._~")


def oauth1_authorization(
    method: str,
    url: str,
    consumer_key: str,
    consumer_secret: str,
    params: Mapping[str, str],
    *,
    nonce: str,
    timestamp: int,
) -> str:
    """The OAuth 1.0a `Authorization` header (HMAC-SHA256, no token) for a request whose
    form-encoded body parameters are `params` (RFC 5849 section 3.4)."""
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(timestamp),
        "oauth_version": "1.0",
    }
    signature = oauth1_signature(method, url, {**params, **oauth}, consumer_secret)
    fields = {**oauth, "oauth_signature": signature}
    return "OAuth " + ",".join(f'{k}="{_percent(v)}"' for k, v in sorted(fields.items()))


def oauth1_signature(method: str, url: str, params: Mapping[str, str], consumer_secret: str) -> str:
    """Base64 HMAC-SHA256 of the signature base string, keyed `percent(secret)&` (no token)."""
    pairs = sorted((_percent(k), _percent(v)) for k, v in params.items())
    param_string = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), _percent(url), _percent(param_string)))
    key = f"{_percent(consumer_secret)}&"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class TokenProvider(Protocol):
    def token(self) -> str:
        """A bearer token valid now."""
        ...

    def invalidate(self) -> bool:
        """Forget the current token after a 401; True if a new one can be obtained."""
        ...


class StaticToken:
    """A ready bearer token (`--token-env`): cannot be refreshed."""

    def __init__(self, value: str) -> None:
        self._value = value

    def token(self) -> str:
        return self._value

    def invalidate(self) -> bool:
        return False


class OAuthTokenProvider:
    """OAuth 2.0 client-credentials tokens from the HERE token endpoint, refreshed before expiry
    (when less than `refresh_margin` of the lifetime, at most 5 minutes, remains)."""

    def __init__(
        self,
        credentials: HereCredentials,
        client: httpx.Client,
        *,
        retry: RetryPolicy = RetryPolicy(),
        refresh_margin: float = 0.1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self._sleep = sleep
        self._client = client
        self._retry = retry
        self._margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetched = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def _fetch(self) -> None:
        creds = self.credentials
        url = creds.token_endpoint_url
        body = {"grant_type": "client_credentials"}

        def headers() -> dict[str, str]:  # a fresh nonce and timestamp on every try
            auth = oauth1_authorization(
                "POST",
                url,
                creds.access_key_id,
                creds.access_key_secret,
                body,
                nonce=secrets.token_hex(16),
                timestamp=int(self._clock()),
            )
            return {
                "Authorization": auth,
                "Content-Type": "application/x-www-form-urlencoded",
            }

        response = send(
            self._client,
            "POST",
            url,
            what="token request",
            retry=self._retry,
            sleep=self._sleep,
            headers=headers,
            content=b"grant_type=client_credentials",
        )
        try:
            answer = response.json()
            token = answer["access_token"]
            expires_in = float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(f"token request: unexpected response ({exc})") from None
        now = self._clock()
        self._token = str(token)
        self._refresh_at = now + expires_in - min(300.0, expires_in * self._margin)
        self.fetched += 1
        log.info("token obtained expires_in_s=%d", int(expires_in))


# ---------------------------------------------------------------------------------------------
# The Data API stream v2 client


@dataclass(frozen=True)
class Subscription:
    node_base_url: str
    subscription_id: str


class DataApiClient:
    """One catalog layer's stream API. Every call retries transient failures (`RetryPolicy`)."""

    def __init__(
        self,
        hrn: str,
        layer: str,
        tokens: TokenProvider,
        *,
        client: httpx.Client | None = None,
        lookup_url: str = DEFAULT_LOOKUP_URL,
        retry: RetryPolicy = RetryPolicy(),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """`sleep` waits between a call's retries (a stop event's `wait` makes them end early)."""
        self.hrn = hrn
        self.layer = layer
        self.tokens = tokens
        self.lookup_url = lookup_url.rstrip("/")
        self.retry = retry
        self._sleep = sleep
        self._owns_client = client is None
        self.client = client or new_http_client(timeout_s)
        self._bases: dict[str, str] = {}

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DataApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.token()}"}

    def _send(
        self, method: str, url: str, what: str, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> httpx.Response:
        return send(
            self.client,
            method,
            url,
            what=what,
            retry=retry or self.retry,
            headers=self._headers,
            on_unauthorized=self.tokens.invalidate,
            sleep=self._sleep,
            **kwargs,
        )

    def _json(self, response: httpx.Response, what: str) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:  # orjson refuses numbers beyond a double (1e400, `Infinity`): one such value must
            # not stall the stream, so read them as infinity, integers as orjson would
            return json.loads(response.content, parse_int=_orjson_int)
        except ValueError as exc:
            raise ApiError(f"{what}: response is not JSON ({exc})") from None

    # -- calls

    def base_url(self, api: str, version: str) -> str:
        """The base URL of one of the catalog's APIs (`stream` v2, `blob` v1), looked up once."""
        name = f"{api}/{version}"
        if name not in self._bases:
            url = f"{self.lookup_url}/resources/{quote(self.hrn, safe=':')}/apis/{name}"
            found = self._json(self._send("GET", url, f"lookup {name}"), f"lookup {name}")
            entries = found if isinstance(found, list) else []
            for entry in entries:
                if (
                    isinstance(entry, dict)
                    and entry.get("api") == api
                    and entry.get("version") == version
                    and isinstance(entry.get("baseURL"), str)
                ):
                    self._bases[name] = entry["baseURL"].rstrip("/")
                    break
            else:
                raise ApiError(f"lookup {name}: no {name} API for {self.hrn}")
        return self._bases[name]

    def _layer_url(self, base: str) -> str:
        return f"{base}/layers/{quote(self.layer, safe='')}"

    def subscribe(self, consumer_group: str | None = None) -> Subscription:
        """Open a serial-mode subscription. With a consumer group, consumption resumes after the
        group's committed offsets (the Kafka `group.id`)."""
        url = self._layer_url(self.base_url("stream", "v2")) + "/subscribe"
        body: dict[str, Any] = {}
        if consumer_group:
            body = {"kafkaConsumerProperties": {"group.id": consumer_group}}
        answer = self._json(
            self._send("POST", url, "subscribe", params={"mode": "serial"}, json=body),
            "subscribe",
        )
        try:
            return Subscription(
                node_base_url=str(answer["nodeBaseURL"]).rstrip("/"),
                subscription_id=str(answer["subscriptionId"]),
            )
        except (KeyError, TypeError):
            raise ApiError(f"subscribe: unexpected response {answer!r:.200}") from None

    def partitions(self, sub: Subscription) -> list[dict[str, Any]]:
        """The next batch of messages (possibly none)."""
        url = self._layer_url(sub.node_base_url) + "/partitions"
        params = {"subscriptionId": sub.subscription_id, "mode": "serial"}
        answer = self._json(self._send("GET", url, "partitions", params=params), "partitions")
        if answer is None:
            return []
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not isinstance(messages, list):
            raise ApiError(f"partitions: unexpected response {answer!r:.200}")
        return messages

    def fetch_blob(self, data_handle: str) -> bytes:
        """The bytes of a payload too large to come inline (`dataHandle`)."""
        url = self._layer_url(self.base_url("blob", "v1")) + f"/data/{quote(data_handle, safe='')}"
        return self._send("GET", url, "blob").content

    def commit(self, sub: Subscription, offsets: Mapping[int, int]) -> None:
        """Commit, per partition, the offset of the last message processed."""
        if not offsets:
            return
        url = self._layer_url(sub.node_base_url) + "/offsets"
        body = {"offsets": [{"partition": p, "offset": o} for p, o in sorted(offsets.items())]}
        params = {"subscriptionId": sub.subscription_id, "mode": "serial"}
        self._send("PUT", url, "commit offsets", params=params, json=body)

    def unsubscribe(self, sub: Subscription) -> None:
        """One try: it is best effort (the service drops an abandoned subscription), and comes at
        a stop or after a failure, when retrying would only delay."""
        url = self._layer_url(sub.node_base_url) + "/subscribe"
        params = {"subscriptionId": sub.subscription_id, "mode": "serial"}
        self._send("DELETE", url, "unsubscribe", retry=RetryPolicy(attempts=1), params=params)


def _orjson_int(text: str) -> int | float:
    """An integer as orjson reads it: beyond 64 bits, a float."""
    value = int(text)
    return value if -(2**63) <= value < 2**64 else float(value)


def new_http_client(timeout_s: float = DEFAULT_TIMEOUT_S) -> httpx.Client:
    return httpx.Client(timeout=timeout_s, headers={"User-Agent": USER_AGENT})


def token_provider(
    credentials_file: str | Path | None,
    token_env: str | None,
    client: httpx.Client,
    environ: Mapping[str, str],
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], object] = time.sleep,
) -> TokenProvider:
    """The token source the user chose: a ready token from an environment variable, else the
    credentials file (default `~/.here/credentials.properties`, as the HERE CLI uses)."""
    if token_env:
        value = environ.get(token_env, "").strip()
        if not value:
            raise UsageError(f"--token-env: environment variable {token_env} is not set or empty")
        return StaticToken(value)
    path = Path(credentials_file or "~/.here/credentials.properties")
    return OAuthTokenProvider(read_credentials(path), client, retry=retry, sleep=sleep)
