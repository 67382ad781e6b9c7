"""A fake HERE platform on loopback: API lookup, OAuth token endpoint (verifying the OAuth 1.0a
signature), stream v2 (subscribe, partitions, offsets, unsubscribe) and blob v1 (data handles).

Offsets behave as Kafka consumer groups do: a new subscription of a group starts after the
group's committed offsets (the service adds one to the committed offset); fetched but uncommitted
messages are delivered again to the next subscription.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from evlog._sources.here_api import oauth1_signature
from tests.fakes.server import ServerThread

ACCESS_KEY_ID = "test-key-id"
ACCESS_KEY_SECRET = "test/secret+with=odd&chars"
DEFAULT_GROUP = "<none>"


@dataclass
class Subscription:
    group: str
    positions: dict[int, int]  # partition -> next offset to deliver
    layer: str


@dataclass
class FakeHere:
    """State and behaviour of the fake; `app()` is the ASGI app, `serve()` runs it."""

    batch_size: int = 100
    token_lifetime_s: int = 3600
    require_token: bool = True
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # Each message's JSON text, written once when it is added: the answers are joined from them,
    # so a benchmark's consumer does not wait on the fake's serialising.
    texts: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    blobs: dict[str, bytes] = field(default_factory=dict)
    committed: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    # Per call name ("token", "lookup", "subscribe", "partitions", "offsets", "blob",
    # "unsubscribe"): statuses to answer before behaving normally.
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    commits: list[dict[int, int]] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- test set-up

    def add(self, partition: int, payload: bytes, timestamp_ms: int, handle: bool = False) -> int:
        """Append a message to a partition; returns its offset. With `handle`, the payload is
        only reachable through the blob API (as payloads over 1 MB are)."""
        with self.lock:
            offset = len(self.messages[partition])
            meta: dict[str, Any] = {"partition": f"p{partition}", "timestamp": timestamp_ms}
            if handle:
                name = f"handle-{partition}-{offset}-{secrets.token_hex(4)}"
                self.blobs[name] = payload
                meta["dataHandle"] = name
            else:
                meta["data"] = base64.b64encode(payload).decode()
            message = {"metaData": meta, "offset": {"partition": partition, "offset": offset}}
            self.messages[partition].append(message)
            self.texts[partition].append(json.dumps(message))
            return offset

    def add_message(self, partition: int, message: Any) -> int:
        """Append a message exactly as given (any JSON value, poison included) at the partition's
        next position; returns that position."""
        with self.lock:
            self.messages[partition].append(message)
            self.texts[partition].append(json.dumps(message))
            return len(self.messages[partition]) - 1

    def fail(self, call: str, *statuses: int) -> None:
        self.failures[call].extend(statuses)

    def all_offsets(self) -> set[tuple[int, int]]:
        return {(p, i) for p, items in self.messages.items() for i in range(len(items))}

    # -- serving

    def serve(self, port: int = 0) -> ServerThread:
        """A server for this state; `port` as `ServerThread`'s (the state outlives a server)."""
        server = ServerThread(self.app(), port=port)
        self.url = server.url
        return server

    @property
    def lookup_url(self) -> str:
        return f"{self.url}/lookup/v1"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth2/token", self._token, methods=["POST"]),
                Route("/lookup/v1/resources/{hrn}/apis/{api}/{version}", self._lookup),
                Route(
                    "/stream/v2/{hrn}/layers/{layer}/subscribe", self._subscribe, methods=["POST"]
                ),
                Route(
                    "/node/v2/{hrn}/layers/{layer}/subscribe", self._unsubscribe, methods=["DELETE"]
                ),
                Route("/node/v2/{hrn}/layers/{layer}/partitions", self._partitions),
                Route("/node/v2/{hrn}/layers/{layer}/offsets", self._offsets, methods=["PUT"]),
                Route("/blob/v1/{hrn}/layers/{layer}/data/{handle}", self._blob),
            ]
        )

    def _injected(self, call: str) -> Response | None:
        with self.lock:
            self.calls[call] += 1
            if self.failures[call]:
                status = self.failures[call].pop(0)
                headers = {"Retry-After": "0"} if status == 429 else {}
                return JSONResponse({"error": "injected"}, status_code=status, headers=headers)
        return None

    def _authorized(self, request: Request) -> Response | None:
        if not self.require_token:
            return None
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return JSONResponse({"error": "invalid token"}, status_code=401)
        return None

    async def _token(self, request: Request) -> Response:
        if (failed := self._injected("token")) is not None:
            return failed
        body = (await request.body()).decode()
        params = dict(parse_qsl(body))
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth "):
            return JSONResponse({"error": "no OAuth header"}, status_code=401)
        fields = {}
        for item in header[6:].split(","):
            key, _, value = item.strip().partition("=")
            fields[key] = unquote(value.strip('"'))
        signature = fields.pop("oauth_signature", "")
        url = str(request.url).split("?")[0]
        expected = oauth1_signature("POST", url, {**params, **fields}, ACCESS_KEY_SECRET)
        if (
            fields.get("oauth_consumer_key") != ACCESS_KEY_ID
            or fields.get("oauth_signature_method") != "HMAC-SHA256"
            or params.get("grant_type") != "client_credentials"
            or signature != expected
        ):
            self.bad_signatures += 1
            return JSONResponse({"errorCode": 401300, "message": "Signature mismatch"}, 401)
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime_s}
        )

    async def _lookup(self, request: Request) -> Response:
        if (failed := self._injected("lookup")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        hrn, api, version = (request.path_params[k] for k in ("hrn", "api", "version"))
        base = {"stream/v2": "stream/v2", "blob/v1": "blob/v1"}.get(f"{api}/{version}")
        if base is None:
            return JSONResponse([])
        return JSONResponse(
            [{"api": api, "version": version, "baseURL": f"{self.url}/{base}/{hrn}"}]
        )

    async def _subscribe(self, request: Request) -> Response:
        if (failed := self._injected("subscribe")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        if request.query_params.get("mode") != "serial":
            return JSONResponse({"error": "mode"}, status_code=400)
        body = await request.json() if await request.body() else {}
        group = body.get("kafkaConsumerProperties", {}).get("group.id") or DEFAULT_GROUP
        sub_id = secrets.token_hex(8)
        with self.lock:
            positions = {p: o + 1 for p, o in self.committed[group].items()}
            self.subscriptions[sub_id] = Subscription(
                group, positions, request.path_params["layer"]
            )
        hrn = request.path_params["hrn"]
        return JSONResponse({"nodeBaseURL": f"{self.url}/node/v2/{hrn}", "subscriptionId": sub_id})

    def _subscription(self, request: Request) -> Subscription | Response:
        sub = self.subscriptions.get(request.query_params.get("subscriptionId", ""))
        if sub is None:
            return JSONResponse({"error": "unknown subscription"}, status_code=404)
        return sub

    async def _partitions(self, request: Request) -> Response:
        if (failed := self._injected("partitions")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        sub = self._subscription(request)
        if isinstance(sub, Response):
            return sub
        out: list[str] = []
        with self.lock:
            for partition in sorted(self.messages):
                start = sub.positions.get(partition, 0)
                chunk = self.texts[partition][start : start + self.batch_size - len(out)]
                out.extend(chunk)
                sub.positions[partition] = start + len(chunk)
                if len(out) >= self.batch_size:
                    break
        # What json.dumps({"messages": [...]}) writes (json.dumps, not JSONResponse: a test's
        # non-finite number goes out as `Infinity`)
        body = '{"messages": [' + ", ".join(out) + "]}"
        return Response(body, media_type="application/json")

    async def _offsets(self, request: Request) -> Response:
        if (failed := self._injected("offsets")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        sub = self._subscription(request)
        if isinstance(sub, Response):
            return sub
        body = await request.json()
        with self.lock:
            commit = {int(i["partition"]): int(i["offset"]) for i in body["offsets"]}
            self.committed[sub.group].update(commit)
            self.commits.append(commit)
        return Response(status_code=200)

    async def _unsubscribe(self, request: Request) -> Response:
        if (failed := self._injected("unsubscribe")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        sub_id = request.query_params.get("subscriptionId", "")
        with self.lock:
            if self.subscriptions.pop(sub_id, None) is None:
                return JSONResponse({"error": "unknown subscription"}, status_code=404)
        return Response(status_code=200)

    async def _blob(self, request: Request) -> Response:
        if (failed := self._injected("blob")) is not None:
            return failed
        if (denied := self._authorized(request)) is not None:
            return denied
        data = self.blobs.get(request.path_params["handle"])
        if data is None:
            return JSONResponse({"error": "no such handle"}, status_code=404)
        return Response(data, media_type="application/octet-stream")


def credentials_text(token_url: str) -> str:
    return (
        "# HERE credentials (test)\n"
        "here.user.id = HERE-user\n"
        "here.client.id = client-1\n"
        f"here.access.key.id = {ACCESS_KEY_ID}\n"
        f"here.access.key.secret = {ACCESS_KEY_SECRET}\n"
        f"here.token.endpoint.url = {token_url}\n"
    )
