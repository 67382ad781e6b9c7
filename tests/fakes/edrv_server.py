"""A fake eDRV REST API on loopback: `GET /chargestations` (paged) and `/chargestations/{id}`."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import ServerThread

TOKEN = "edrv-test-token"


@dataclass
class FakeEdrv:
    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pages: list[tuple[int, int]] = field(default_factory=list)  # (page, limit) requested
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, station_id: str, online: bool) -> None:
        self.stations[station_id] = {
            "_id": station_id,
            "online": online,
            "lastConnectAt": "2026-11-20T00:00:00.000Z",
            "connectors": [{"_id": f"{station_id}-c1", "status": "Available"}],
        }

    def fail(self, call: str, *statuses: int) -> None:
        self.failures[call].extend(statuses)

    def serve(self) -> ServerThread:
        server = ServerThread(self.app())
        self.url = server.url
        return server

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chargestations", self._list),
                Route("/v1/chargestations/{station_id}", self._one),
            ]
        )

    def _check(self, call: str, request: Request) -> Response | None:
        with self.lock:
            self.calls[call] += 1
            if self.failures[call]:
                return JSONResponse({"ok": False}, status_code=self.failures[call].pop(0))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"ok": False, "message": "Unauthorized"}, status_code=401)
        return None

    async def _list(self, request: Request) -> Response:
        if (problem := self._check("list", request)) is not None:
            return problem
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", "10"))
        self.pages.append((page, limit))
        items = sorted(self.stations.values(), key=lambda s: s["_id"])
        return JSONResponse({"ok": True, "result": items[(page - 1) * limit : page * limit]})

    async def _one(self, request: Request) -> Response:
        if (problem := self._check("one", request)) is not None:
            return problem
        station = self.stations.get(request.path_params["station_id"])
        if station is None:
            return JSONResponse({"ok": False, "message": "Not found"}, status_code=404)
        return JSONResponse({"ok": True, "result": station})
