"""A fake phone running SMSGate in local-server mode: a real aiohttp server on loopback that answers as the
app does (``reference/android-apps.md`` §2.1-2.2), written from the reference, not from our transport.

What it keeps, as the app does: messages by id (a duplicate id is ``409``), each recipient's state moving
Pending → Processed → Sent → Delivered / Failed, delivery reports per part (status < 0x20 delivered, 0x20-0x3F
ignored while the SMSC retries, anything else failed), the app's inbox and Android's own SMS store (what
arrived while the app was killed, imported by ``/inbox/refresh``), webhooks signed as the app signs them,
settings, and ``/health``.

``radio`` lists every SMS that went to the network, so a test can say "exactly once". Tests move the phone
on with :meth:`process` and :meth:`report`, or let ``auto`` do it. Scripted faults (:meth:`script`) and planted
inbox SMS must all be used: :meth:`unused` lists what was not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from flows import sms as sms_facts

PHONE_ZONE = dt.timezone(dt.timedelta(hours=-6))  # the app writes dates in the phone's own offset
STATES = ("Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelled")


def phone_now() -> dt.datetime:
    return dt.datetime.now(PHONE_ZONE)


def stamp(value: dt.datetime) -> str:
    return value.astimezone(PHONE_ZONE).isoformat(timespec="milliseconds")


@dataclass
class Recipient:
    number: str
    parts: int
    state: str = "Pending"
    error: str | None = None
    part_reports: list[str | None] = field(default_factory=list)  # per part: None, "delivered", "failed"


@dataclass
class PhoneMessage:
    id: str
    text: str
    sim: int | None
    valid_until: dt.datetime | None
    with_delivery_report: bool
    recipients: list[Recipient]
    states: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """The app's aggregate (``MessageWithRecipients``)."""
        states = [r.state for r in self.recipients]
        for early in ("Pending", "Cancelling", "Cancelled", "Processed"):
            if early in states:
                return early
        if all(s == "Failed" for s in states):
            return "Failed"
        if all(s == "Delivered" for s in states):
            return "Delivered"
        return "Sent"

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.states["Pending"])

    def mark(self, state: str) -> None:
        self.states.setdefault(state, stamp(phone_now()))

    def as_json(self, device_id: str) -> dict[str, Any]:
        recipients = []
        for r in self.recipients:
            entry: dict[str, Any] = {"phoneNumber": r.number, "state": r.state}
            if r.error is not None:
                entry["error"] = r.error
            recipients.append(entry)
        return {
            "id": self.id,
            "deviceId": device_id,
            "state": self.state,
            "isHashed": False,
            "isEncrypted": False,
            "textMessage": {"text": self.text},
            "recipients": recipients,
            "states": dict(self.states),
        }


@dataclass
class InboxEntry:
    id: str
    sender: str
    text: str
    sim: int | None
    created: dt.datetime
    read: bool = False


class FakeSmsGatePhone:
    def __init__(
        self,
        *,
        user: str = "sms",
        password: str = "Qe7tY2mK",  # noqa: S107 - the fake phone's own password
        device_id: str = "ffffffffc2a1e3b4d5",
        sims: tuple[int, ...] = (1,),
        battery: int = 87,
        auto: bool = False,
        tick_s: float = 0.01,
    ) -> None:
        self.user, self.password, self.device_id = user, password, device_id
        self.sims = sims
        self.battery = battery
        self.health_status = "pass"
        self.auto = auto
        self.tick_s = tick_s
        self.messages: dict[str, PhoneMessage] = {}
        self.radio: list[tuple[str, str, int | None]] = []  # (message id, number, sim): one per SMS sent
        self.inbox: list[InboxEntry] = []
        self.android_store: list[InboxEntry] = []  # SMS Android received while the app was not running
        self.webhooks: dict[str, dict[str, str]] = {}
        self.settings: dict[str, dict[str, Any]] = {
            "messages": {"processing_order": "LIFO", "limit_period": "Disabled"},
            "webhooks": {"internet_required": True, "retry_count": 15, "signing_key": "k3Yq9ZpA"},
        }
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query
        self.behaviour: dict[str, str] = {}  # number -> "deliver" (default), "fail", "no-report", "stuck"
        self.webhook_deliveries: list[tuple[str, int]] = []  # event, HTTP status our gateway answered
        self._scripts: list[tuple[str, str, Any]] = []
        self._runner: web.AppRunner | None = None
        self._auto_task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    # --- running ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._client = aiohttp.ClientSession()
        if self.auto:
            self._auto_task = asyncio.create_task(self._run_auto())

    async def stop(self) -> None:
        """The phone is gone (switched off, out of Wi-Fi): nothing answers at its address any more."""
        if self._auto_task is not None:
            self._auto_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._auto_task
            self._auto_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run_auto(self) -> None:
        while True:
            await self.process()
            await asyncio.sleep(self.tick_s)

    # --- scripting -------------------------------------------------------------------------------------

    def script(self, method: str, path: str, action: Any) -> None:
        """The next ``method path`` gets ``action``: an HTTP status to answer with (the request is not acted
        on), or ``"drop-answer"`` (acted on, but the connection closes before the answer)."""
        self._scripts.append((method, path, action))

    def unused(self) -> list[str]:
        left = [f"script {m} {p} {a}" for m, p, a in self._scripts]
        left += [f"inbox {e.id} never read" for e in self.inbox if not e.read]
        left += [f"android store {e.id} never imported" for e in self.android_store]
        return left

    def _scripted(self, method: str, path: str) -> Any:
        for index, (m, p, action) in enumerate(self._scripts):
            if m == method and p == path:
                del self._scripts[index]
                return action
        return None

    # --- what happens on the phone ---------------------------------------------------------------------

    def receive(self, sender: str, text: str, *, sim: int | None = 1, killed: bool = False) -> InboxEntry:
        """An SMS arrives. With ``killed`` the app was not running: only Android's store has it."""
        created = phone_now()
        digest = hashlib.sha256(f"{text}|{sender}|{created.timestamp()}|{sim}".encode()).hexdigest()
        entry = InboxEntry(id=digest[:32], sender=sender, text=text, sim=sim, created=created)
        if killed:
            self.android_store.append(entry)
        else:
            self.inbox.append(entry)
            self._emit_soon(
                "sms:received",
                {
                    "messageId": entry.id,
                    "message": text,
                    "sender": sender,
                    "simNumber": sim,
                    "receivedAt": stamp(created),
                },
            )
        return entry

    async def process(self) -> None:
        """One step of the app's worker: every message moves on by one state, as its behaviour says."""
        now = phone_now()
        for message in list(self.messages.values()):
            for recipient in message.recipients:
                await self._step(message, recipient, now)

    async def _step(self, message: PhoneMessage, recipient: Recipient, now: dt.datetime) -> None:
        behaviour = self.behaviour.get(recipient.number, "deliver")
        if recipient.state == "Pending":
            if behaviour == "stuck":
                return
            if message.valid_until is not None and now > message.valid_until:
                recipient.state, recipient.error = "Failed", "TTL expired"
                message.mark("Failed")
                return
            if message.sim is not None and message.sim not in self.sims:
                recipient.state, recipient.error = "Failed", "RESULT_NO_DEFAULT_SMS_APP"
                message.mark("Failed")
                return
            recipient.state = "Processed"
            message.mark("Processed")
        elif recipient.state == "Processed":
            if behaviour == "fail":
                recipient.state, recipient.error = "Failed", "RESULT_ERROR_GENERIC_FAILURE"
                message.mark("Failed")
                self._emit_soon("sms:failed", {"messageId": message.id, "reason": recipient.error})
                return
            self.radio.append((message.id, recipient.number, message.sim))
            recipient.state = "Sent"
            message.mark("Sent")
            self._emit_soon("sms:sent", {"messageId": message.id, "partsCount": recipient.parts})
        elif recipient.state == "Sent" and behaviour == "deliver" and message.with_delivery_report:
            for part in range(recipient.parts):
                await self.report(message.id, recipient.number, part, 0x00)

    async def report(self, message_id: str, number: str, part: int, status: int) -> None:
        """A delivery report for one part arrives (TP-Status ``status``)."""
        message = self.messages[message_id]
        recipient = next(r for r in message.recipients if r.number == number)
        if 0x20 <= status <= 0x3F:
            return  # the SMSC is still trying: the app ignores it
        recipient.part_reports[part] = "delivered" if status < 0x20 else "failed"
        if status < 0x20:
            self._emit_soon("sms:delivered", {"messageId": message_id, "deliveredAt": stamp(phone_now())})
        if "failed" in recipient.part_reports:
            recipient.state, recipient.error = "Failed", f"delivery report status {status:#04x}"
            message.mark("Failed")
        elif all(p == "delivered" for p in recipient.part_reports):
            recipient.state = "Delivered"
            message.mark("Delivered")

    # --- webhooks out ----------------------------------------------------------------------------------

    def _emit_soon(self, event: str, payload: dict[str, Any]) -> None:
        hooks = [h for h in self.webhooks.values() if h["event"] == event]
        for hook in hooks:
            asyncio.get_running_loop().create_task(self._deliver_webhook(hook, event, payload))

    async def _deliver_webhook(self, hook: dict[str, str], event: str, payload: dict[str, Any]) -> None:
        assert self._client is not None
        envelope = {
            "id": uuid.uuid4().hex[:21],
            "webhookId": hook["id"],
            "event": event,
            "deviceId": self.device_id,
            "payload": {k: v for k, v in payload.items() if v is not None},
        }
        body = json.dumps(envelope).encode()
        timestamp = str(int(time.time()))
        key = str(self.settings["webhooks"]["signing_key"]).encode()
        signature = hmac.new(key, body + timestamp.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "me.capcom.smsgateway/1.68.0",
            "X-Signature": signature,
            "X-Timestamp": timestamp,
        }
        async with self._client.post(hook["url"], data=body, headers=headers) as response:
            self.webhook_deliveries.append((event, response.status))

    # --- the HTTP API ----------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.user and password == self.password

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        for prefix in ("/messages", "/message"):
            if path == prefix or path.startswith(prefix + "/"):
                path = "/messages" + path[len(prefix) :]
                break
        self.requests.append((request.method, path, dict(request.query)))
        action = self._scripted(request.method, path)
        if isinstance(action, int):
            return _error(action, "scripted")
        if path == "/health" and request.method == "GET":
            return self._health()
        if not self._authorised(request):
            return _error(401, "Unauthorized")
        response = await self._api(request, path)
        if action == "drop-answer":
            assert request.transport is not None
            request.transport.close()
        return response

    async def _api(self, request: web.Request, path: str) -> web.StreamResponse:
        method = request.method
        if path == "/device" and method == "GET":
            return web.json_response([self._device()])
        if path == "/messages" and method == "POST":
            return await self._post_message(request)
        if path == "/messages" and method == "GET":
            return self._list_messages(request)
        if path.startswith("/messages/") and path.count("/") == 2:
            message = self.messages.get(path.split("/")[2])
            if message is None:
                return _error(404, "message not found")
            if method == "GET":
                return web.json_response(message.as_json(self.device_id))
            if method == "DELETE":
                if message.state != "Pending":
                    return _error(400, "message is not pending")
                for recipient in message.recipients:
                    recipient.state = "Cancelled"
                message.mark("Cancelled")
                return web.Response(status=204)
        if path == "/inbox" and method == "GET":
            return self._list_inbox(request)
        if path == "/inbox/refresh" and method == "POST":
            return await self._refresh(request)
        if path == "/settings" and method == "GET":
            return web.json_response(self.settings)
        if path == "/settings" and method == "PATCH":
            return await self._patch_settings(request)
        if path == "/webhooks" and method == "GET":
            return web.json_response([{**h, "source": "Local"} for h in self.webhooks.values()])
        if path == "/webhooks" and method == "POST":
            return await self._post_webhook(request)
        return _error(404, "not found")

    def _health(self) -> web.Response:
        checks = {
            "battery:level": {"observedValue": self.battery, "observedUnit": "percent", "status": "pass"},
            "battery:charging": {"observedValue": 1, "observedUnit": "boolean", "status": "pass"},
            "messages:failed": {"observedValue": 0, "observedUnit": "messages", "status": "pass"},
            "connection:status": {
                "observedValue": 1,
                "observedUnit": "boolean",
                "status": self.health_status,
            },
        }
        body = {"status": self.health_status, "version": "1.68.0", "releaseId": 168, "checks": checks}
        return web.json_response(body, status=500 if self.health_status == "fail" else 200)

    def _device(self) -> dict[str, Any]:
        now = stamp(phone_now())
        return {
            "id": self.device_id,
            "name": "samsung/a10",
            "createdAt": now,
            "updatedAt": now,
            "lastSeen": now,
            "simCards": [
                {
                    "slotIndex": n - 1,
                    "simNumber": n,
                    "phoneNumber": f"+5295100000{n:02d}",
                    "carrierName": "Telcel",
                    "iccid": f"8952{n:016d}",
                }
                for n in self.sims
            ],
        }

    async def _post_message(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid JSON")
        kinds = [k for k in ("textMessage", "dataMessage", "message") if k in body]
        numbers = body.get("phoneNumbers")
        if len(kinds) != 1 or not isinstance(numbers, list) or not numbers:
            return _error(400, "exactly one of textMessage, dataMessage, message and some phoneNumbers")
        if "ttl" in body and "validUntil" in body:
            return _error(400, "ttl and validUntil are exclusive")
        if request.query.get("skipPhoneValidation") != "true":
            return _error(400, "this fake only takes numbers the gateway has already normalised")
        message_id = body.get("id") or uuid.uuid4().hex[:21]
        if message_id in self.messages:
            return _error(409, f"message with id {message_id} already exists")
        text = body["textMessage"]["text"]
        parts = sms_facts.size(text).segments
        valid_until = None
        if isinstance(body.get("ttl"), int):
            valid_until = phone_now() + dt.timedelta(seconds=body["ttl"])
        message = PhoneMessage(
            id=message_id,
            text=text,
            sim=body.get("simNumber"),
            valid_until=valid_until,
            with_delivery_report=body.get("withDeliveryReport", True),
            recipients=[Recipient(n, parts, part_reports=[None] * parts) for n in numbers],
        )
        message.mark("Pending")
        self.messages[message_id] = message
        return web.json_response(message.as_json(self.device_id), status=202)

    def _list_messages(self, request: web.Request) -> web.Response:
        """``GET /messages``: newest first, filtered by state and by creation time, paged."""
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
            offset = int(query.get("offset", "0"))
            since = dt.datetime.fromisoformat(query["from"]) if "from" in query else None
            until = dt.datetime.fromisoformat(query["to"]) if "to" in query else None
        except ValueError:
            return _error(400, "bad query")
        if not 1 <= limit <= 100 or offset < 0:
            return _error(400, "limit must be 1..100 and offset not negative")
        chosen = [
            m
            for m in self.messages.values()
            if (since is None or m.created >= since)
            and (until is None or m.created <= until)
            and query.get("state", m.state) == m.state
        ]
        chosen.sort(key=lambda m: m.created, reverse=True)
        items = []
        for message in chosen[offset : offset + limit]:
            item = message.as_json(self.device_id)
            if query.get("includeContent") != "true":
                item.pop("textMessage")
            items.append(item)
        return web.json_response(items, headers={"X-Total-Count": str(len(chosen))})

    def _list_inbox(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("type", "SMS") != "SMS":
            return web.json_response([])
        try:
            limit = int(query.get("limit", "50"))
            offset = int(query.get("offset", "0"))
            since = dt.datetime.fromisoformat(query["from"]) if "from" in query else None
        except ValueError:
            return _error(400, "bad query")
        if not 1 <= limit <= 500:
            return _error(400, "limit must be 1..500")
        entries = [e for e in self.inbox if since is None or e.created >= since]
        entries.sort(key=lambda e: e.created, reverse=True)  # newest first, as a list screen wants
        page = entries[offset : offset + limit]
        for entry in page:
            entry.read = True
        items: list[dict[str, Any]] = [
            {
                "id": e.id,
                "type": "SMS",
                "sender": e.sender,
                "recipient": None,
                "simNumber": e.sim,
                "contentPreview": e.text,
                "createdAt": stamp(e.created),
                "attachments": [],
            }
            for e in page
        ]
        return web.json_response(items, headers={"X-Total-Count": str(len(entries))})

    async def _refresh(self, request: web.Request) -> web.Response:
        body = await request.json()
        since = dt.datetime.fromisoformat(body["since"])
        until = dt.datetime.fromisoformat(body["until"])
        known = {e.id for e in self.inbox}
        for entry in list(self.android_store):
            if since <= entry.created <= until:
                self.android_store.remove(entry)
                if entry.id not in known:
                    self.inbox.append(entry)
        return web.Response(status=202)

    async def _patch_settings(self, request: web.Request) -> web.Response:
        body = await request.json()
        order = body.get("messages", {}).get("processing_order")
        if order is not None and order not in ("LIFO", "FIFO"):
            return _error(400, "invalid processing_order")
        for section, values in body.items():
            self.settings.setdefault(section, {}).update(values)
        return web.json_response(self.settings)

    async def _post_webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        url = urlsplit(body.get("url", ""))
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname == "127.0.0.1"):
            return _error(400, "url must start with https:// or http://127.0.0.1")
        hook_id = body.get("id") or uuid.uuid4().hex[:21]
        self.webhooks[hook_id] = {"id": hook_id, "url": body["url"], "event": body["event"]}
        return web.json_response({**self.webhooks[hook_id], "source": "Local"}, status=201)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)
