"""A recado server as the gateway sees it: a real aiohttp app on loopback speaking docs/gateway-link.md.

It checks every request against the server's own schema (``server/api/openapi/gateway.yaml``), stores
inbound once per id in the order given, applies statuses to leased messages (rejecting reports on messages
not leased to the caller), leases queued messages with expiring leases (a lease that runs out without
``accepted`` puts the message back), and long-polls. Knobs let a test make it misbehave: answer 503,
commit and then lose the response, refuse the batch as too large.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from aiohttp import web

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "server" / "api" / "openapi" / "gateway.yaml"
TOKEN = "fake-gateway-token"
_ORDER = {"leased": 0, "accepted": 1, "unknown": 1, "sent": 2, "delivered": 3, "failed": 3}


def _schema() -> dict[str, Any]:
    document = yaml.safe_load(SCHEMA_FILE.read_text())
    schemas = document["components"]["schemas"]
    root = dict(schemas["GatewaySync"])
    root["$defs"] = schemas
    text = json.dumps(root).replace("#/components/schemas/", "#/$defs/")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass
class Message:
    id: str
    to: str
    text: str
    priority: str = "reply"
    expires_at: str | None = None
    channel: str | None = None
    state: str = "queued"
    lease_until: float = 0.0
    history: list[str] = field(default_factory=list)


@dataclass
class FakeServer:
    lease_s: int = 300
    max_wait_s: float = 30.0
    token: str = TOKEN
    inbound: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> item, in arrival order
    messages: dict[str, Message] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: bool = False  # answer 503
    lose_responses: int = 0  # commit, then drop the connection this many times
    too_large_above: int | None = None  # 413 when a request carries more items than this
    port: int = 0
    _queued: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _validator: Any = None

    # --- test side ---------------------------------------------------------------------------------------

    def queue(self, to: str, text: str, **fields: Any) -> Message:
        message = Message(id=str(uuid.uuid4()), to=to, text=text, **fields)
        self.messages[message.id] = message
        self._queued.set()
        return message

    def statuses_of(self, message_id: str) -> list[str]:
        return self.messages[message_id].history

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._validator = jsonschema.Draft202012Validator(
            _schema(), format_checker=jsonschema.FormatChecker()
        )
        app = web.Application()
        app.router.add_post("/api/v1/gateway/sync", self._sync)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        """Go away entirely (connection refused), keeping everything stored, like a server that is down."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._queued.set()  # end the long polls in progress
            await runner.cleanup()

    # --- the endpoint ------------------------------------------------------------------------------------

    async def _sync(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "missing or invalid token")
        if self.unavailable:
            return _error(503, "database unavailable")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "the body is not JSON")
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            details = [{"field": ".".join(str(p) for p in e.path), "message": e.message} for e in errors]
            return _error(422, "the batch breaks the schema", details)
        items = len(body.get("inbound", [])) + len(body.get("statuses", []))
        if self.too_large_above is not None and items > self.too_large_above:
            return _error(413, "the body is too large")
        self.requests.append(body)
        answer = self._apply(body)
        want, wait = body.get("want", 0), min(float(body.get("wait_s", 0)), self.max_wait_s)
        outbound = self._lease(want)
        if not outbound and want and wait:
            self._queued.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), wait)
            gone = request.transport is None or request.transport.is_closing()
            outbound = (
                [] if gone or self._runner is None else self._lease(want)
            )  # a hung-up wait gets nothing
        answer["outbound"] = outbound
        if self.lose_responses:
            self.lose_responses -= 1
            assert request.transport is not None
            request.transport.close()  # committed, but the gateway never hears it
            return web.Response(status=500)
        return web.json_response(answer)

    def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        acked_inbound: list[str] = []
        acked_statuses: list[dict[str, str]] = []
        rejected: list[dict[str, str]] = []
        for index, item in enumerate(body.get("inbound", [])):
            if not any(c.isdigit() for c in item["from"]) or any(c.isalpha() for c in item["from"]):
                rejected.append(
                    {"field": f"inbound.{index}", "id": item["id"], "reason": "from is not a phone number"}
                )
                continue
            self.inbound.setdefault(item["id"], item)
            if item["id"] not in acked_inbound:
                acked_inbound.append(item["id"])
        for index, report in enumerate(body.get("statuses", [])):
            message = self.messages.get(report["message_id"])
            reason = self._status(message, report["status"])
            if reason is not None:
                rejected.append({"field": f"statuses.{index}", "id": report["message_id"], "reason": reason})
            else:
                acked_statuses.append({"message_id": report["message_id"], "status": report["status"]})
        for channel in body.get("channels", []):
            self.channels[channel["id"]] = channel
        return {
            "acked_inbound": acked_inbound,
            "acked_statuses": acked_statuses,
            "rejected": rejected,
            "lease_s": self.lease_s,
            "server_time": dt.datetime.now(dt.UTC).isoformat(),
        }

    def _status(self, message: Message | None, status: str) -> str | None:
        if message is None or message.state == "queued":
            return "the message is not leased to this gateway"
        if status in message.history:
            return None  # a replay
        if message.state in ("delivered", "failed") and status in ("delivered", "failed"):
            return f"the message is already {message.state}"
        message.history.append(status)
        if _ORDER[status] >= _ORDER.get(message.state, 0):
            message.state = status
        return None

    def _lease(self, want: int) -> list[dict[str, Any]]:
        now = asyncio.get_running_loop().time()
        leased: list[dict[str, Any]] = []
        for message in self.messages.values():
            if len(leased) >= want:
                break
            if message.state == "leased" and message.lease_until <= now:
                message.state = "queued"  # the lease ran out without "accepted"
            if message.state != "queued":
                continue
            message.state, message.lease_until = "leased", now + self.lease_s
            leased.append(
                {
                    "id": message.id,
                    "to": message.to,
                    "text": message.text,
                    "priority": message.priority,
                    "segments": 1,
                    "encoding": "gsm7",
                    "expires_at": message.expires_at,
                    "channel": message.channel,
                    "lease_s": self.lease_s,
                }
            )
        return leased


def _error(status: int, message: str, details: list[Any] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": str(status), "message": message, "details": details or []}}, status=status
    )
