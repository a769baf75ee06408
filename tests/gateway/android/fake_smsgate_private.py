"""A fake phone running SMSGate in private-server mode: a real HTTPS client on loopback that calls the
gateway's mobile API as the app does (``reference/android-apps.md`` §2.3), written from the reference, not
from our transport.

What it does, as the app does:

- registers with ``Bearer <private token>`` (``POST /device``), keeps the device id and token it is given,
  says hello again on restart (``PATCH /device``) and registers anew when that answers 401;
- syncs ``/settings`` (the signing key, the ping interval) and ``/webhooks`` (where its events go);
- listens to ``/events`` (SSE only: no push token) and fetches ``GET /message`` when the stream opens and on
  every ``MessageEnqueued``; an id it already has is never queued again, its current state is re-sent;
- moves each message Pending → Processed → Sent → Delivered / Failed, PATCHing ``/message`` on every change,
  with ``sms:sent`` and one ``sms:delivered`` webhook per part of a long message (delivery-report status
  below 0x20 delivered, 0x20-0x3F ignored while the SMSC retries, anything else failed);
- posts incoming SMS and pings as webhooks signed with HMAC-SHA256 over body + ``X-Timestamp``, keeping each
  in a persistent queue until the gateway answers 2xx.

``radio`` lists every SMS that went to the network (one entry per message and recipient), so a test can
say "exactly once". :meth:`unused` lists webhooks the gateway never accepted and states it never took.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from flows import sms as sms_facts
from tests.gateway.android.fake_smsgate import phone_now, stamp


@dataclass
class LocalMessage:
    id: str
    text: str
    to: str
    sim: int | None
    parts: int
    state: str = "Pending"
    error: str | None = None
    states: dict[str, str] = field(default_factory=dict)
    part_reports: list[str] = field(default_factory=list)  # "delivered" / "failed" per part reported

    def mark(self, state: str) -> None:
        self.state = state
        self.states.setdefault(state, stamp(phone_now()))

    def patch_item(self) -> dict[str, Any]:
        recipient: dict[str, Any] = {"phoneNumber": self.to, "state": self.state, "error": self.error}
        return {"id": self.id, "state": self.state, "recipients": [recipient], "states": dict(self.states)}


class FakeSmsGatePrivatePhone:
    def __init__(
        self,
        api_url: str,
        private_token: str,
        ca_file: Path,
        *,
        sims: tuple[int, ...] = (1,),
        auto: bool = False,
        battery: int = 76,
        push_token: str | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.private_token = private_token
        self.ssl = ssl.create_default_context(cafile=str(ca_file))  # the CA the technician installed
        self.sims = sims
        self.auto = auto
        self.battery = battery
        self.push_token = push_token
        self.device_id: str | None = None
        self.token: str | None = None
        self.registrations = 0
        self.settings: dict[str, Any] = {}
        self.webhooks: dict[str, str] = {}  # event -> url
        self.messages: dict[str, LocalMessage] = {}
        self.radio: list[tuple[str, str, int | None]] = []  # (message id, number, sim)
        self.queue: list[tuple[str, dict[str, Any]]] = []  # webhooks waiting for a 2xx: (event id, envelope)
        self.unsent_states: list[dict[str, Any]] = []
        self.answers: list[tuple[str, str, int]] = []  # method, path, status
        self.events: list[str] = []  # SSE event types received
        self.stream_open = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._sse: asyncio.Task[None] | None = None

    # --- running ---------------------------------------------------------------------------------------

    async def start(self, *, listen: bool = True) -> None:
        """The app switched to the private server: register, sync, and open the event stream."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl),
            headers={"User-Agent": "me.capcom.smsgateway/1.68.0"},
        )
        await self.register()
        await self.sync()
        if listen:
            self.listen()

    def listen(self) -> None:
        self._sse = asyncio.create_task(self._listen())

    async def stop_listening(self) -> None:
        if self._sse is not None:
            self._sse.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sse
            self._sse = None

    async def stop(self) -> None:
        """The phone is gone (switched off, out of coverage): it calls nothing any more."""
        await self.stop_listening()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def unused(self) -> list[str]:
        left = [f"webhook {envelope['event']} never accepted" for _, envelope in self.queue]
        left += [f"state {item['state']} of {item['id']} never accepted" for item in self.unsent_states]
        return left

    async def call(
        self, method: str, path: str, *, token: str | None = None, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        assert self._session is not None
        bearer = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        async with self._session.request(
            method, self.api_url + path, json=body if raw is None else None, data=raw, headers=headers
        ) as response:
            text = await response.text()
            self.answers.append((method, path, response.status))
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    # --- registration and sync -------------------------------------------------------------------------

    async def register(self) -> None:
        body: dict[str, Any] = {
            "name": "samsung/a10",
            "simCards": [
                {"slotIndex": n - 1, "simNumber": n, "phoneNumber": "*******5678", "carrierName": "****"}
                for n in self.sims
            ],
        }
        if self.push_token:
            body["pushToken"] = self.push_token
        status, answer = await self.call("POST", "/device", token=self.private_token, body=body)
        assert status == 201, (status, answer)
        self.device_id, self.token = answer["id"], answer["token"]
        self.registrations += 1

    async def restart(self) -> None:
        """The app restarts with a stored token: ``PATCH /device``; a 401 makes it register again."""
        body = {
            "id": self.device_id,
            "pushToken": self.push_token,
            "simCards": [{"simNumber": n} for n in self.sims],
        }
        status, _ = await self.call("PATCH", "/device", body=body)
        if status == 401:
            await self.register()
            await self.sync()
        if self._sse is None or self._sse.done():
            self.listen()

    async def sync(self) -> None:
        status, settings = await self.call("GET", "/settings")
        assert status == 200, settings
        self.settings = settings
        status, hooks = await self.call("GET", "/webhooks")
        assert status == 200, hooks
        self.webhooks = {hook["event"]: hook["url"] for hook in hooks}

    async def _listen(self) -> None:
        assert self._session is not None
        while True:
            try:
                async with self._session.get(
                    self.api_url + "/events", headers={"Authorization": f"Bearer {self.token}"}
                ) as response:
                    if response.status != 200:
                        return  # the app shows the error and waits for a restart
                    self.stream_open.set()
                    await self.pull()
                    event = "MessageEnqueued"  # an event without a name is MessageEnqueued
                    async for raw in response.content:
                        line = raw.decode("utf-8").rstrip("\r\n")
                        if line.startswith("event:"):
                            event = line.removeprefix("event:").strip()
                        elif line == "" and event:
                            await self._on_event(event)
                            event = ""
                        elif line.startswith(":"):
                            event = ""  # a keep-alive comment
            except (aiohttp.ClientError, ConnectionError):
                pass
            finally:
                self.stream_open.clear()
            await asyncio.sleep(0.05)  # the app waits 5 s; a test has no time to lose

    async def _on_event(self, event: str) -> None:
        self.events.append(event)
        if event == "MessageEnqueued":
            await self.pull()
        elif event == "WebhooksUpdated" or event == "SettingsUpdated":
            await self.sync()

    # --- outgoing --------------------------------------------------------------------------------------

    async def pull(self) -> list[str]:
        status, served = await self.call("GET", "/message?order=fifo")
        if status != 200:
            return []
        queued = []
        for item in served:
            known = self.messages.get(item["id"])
            if known is not None:
                await self._patch(known)  # the app re-sends the state of an id it already has
                continue
            if item.get("state", "Pending") != "Pending":
                continue
            text = item["textMessage"]["text"]
            for number in item["phoneNumbers"]:
                message = LocalMessage(
                    item["id"], text, number, item.get("simNumber"), sms_facts.size(text).segments
                )
                message.mark("Pending")
                self.messages[item["id"]] = message
                queued.append(item["id"])
        if self.auto:
            for message_id in queued:
                await self.process(message_id)
                await self.delivery_report(message_id, [0x00] * self.messages[message_id].parts)
        return queued

    async def process(self, message_id: str, *, fail: str | None = None) -> None:
        """The app hands the message to Android, which sends it (or refuses with ``fail``)."""
        message = self.messages[message_id]
        message.mark("Processed")
        await self._patch(message)
        if fail is not None:
            message.error = fail
            message.mark("Failed")
            await self._patch(message)
            self.post_event("sms:failed", message, {"failedAt": message.states["Failed"], "reason": fail})
            await self.flush()
            return
        self.radio.append((message.id, message.to, message.sim))
        message.mark("Sent")
        await self._patch(message)
        self.post_event("sms:sent", message, {"partsCount": message.parts, "sentAt": message.states["Sent"]})
        await self.flush()

    async def delivery_report(self, message_id: str, statuses: list[int]) -> None:
        """Delivery-report PDUs for the parts, in order: one ``sms:delivered`` webhook per delivered part."""
        message = self.messages[message_id]
        for status in statuses:
            if 0x20 <= status <= 0x3F:
                continue  # the SMSC is still trying: the app ignores it
            if status < 0x20:
                message.part_reports.append("delivered")
                self.post_event("sms:delivered", message, {"deliveredAt": stamp(phone_now())})
            else:
                message.part_reports.append("failed")
                message.error = f"delivery failed with status {status}"
                message.mark("Failed")
                self.post_event(
                    "sms:failed", message, {"failedAt": message.states["Failed"], "reason": message.error}
                )
        if message.state == "Sent" and message.part_reports.count("delivered") == message.parts:
            message.mark("Delivered")
        await self.flush()
        await self._patch(message)

    async def _patch(self, message: LocalMessage) -> None:
        self.unsent_states.append(message.patch_item())
        await self.flush_states()

    async def flush_states(self) -> None:
        items, self.unsent_states = self.unsent_states, []
        if not items:
            return
        status, _ = await self.call("PATCH", "/message", body=items)
        if not 200 <= status < 300:
            self.unsent_states = items + self.unsent_states  # SendStateWorker retries

    # --- webhooks --------------------------------------------------------------------------------------

    def post_event(self, event: str, message: LocalMessage | None, extra: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = dict(extra)
        if message is not None:
            payload.update(
                messageId=message.id, recipient=message.to, phoneNumber=message.to, simNumber=message.sim
            )
        event_id = uuid.uuid4().hex[:21]
        envelope: dict[str, Any] = {
            "id": event_id,
            "webhookId": "recado-" + event.replace(":", "-"),
            "event": event,
            "deviceId": self.device_id,
            "payload": {k: v for k, v in payload.items() if v is not None},
        }
        if event in self.webhooks:
            self.queue.append((event_id, envelope))
        return envelope

    def receive(self, sender: str, text: str, *, sim: int = 1) -> dict[str, Any]:
        """An SMS arrives: the app posts ``sms:received`` (its messageId is a hash of the content)."""
        received = stamp(phone_now())
        message_id = hashlib.sha256(f"{text}{sender}{received}{sim}".encode()).hexdigest()[:16]
        payload = {
            "messageId": message_id,
            "message": text,
            "sender": sender,
            "phoneNumber": sender,
            "simNumber": sim,
            "receivedAt": received,
        }
        return self.post_event("sms:received", None, payload)

    def ping(self) -> dict[str, Any]:
        health = {
            "status": "pass",
            "checks": {"battery:level": {"observedValue": self.battery, "status": "pass"}},
        }
        return self.post_event("system:ping", None, {"health": health})

    def sign(self, body: bytes, *, at: float | None = None, key: str | None = None) -> dict[str, str]:
        """The app's headers for a webhook body: HMAC-SHA256 over the body and then the timestamp."""
        timestamp = str(int(at if at is not None else time.time()))
        signing_key = key if key is not None else self.settings["webhooks"]["signing_key"]
        signature = hmac.new(signing_key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "X-Signature": signature,
            "X-Timestamp": timestamp,
            "User-Agent": "me.capcom.smsgateway/1.68.0",
        }

    def signed(self, envelope: dict[str, Any], **how: Any) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(envelope).encode("utf-8")
        return body, self.sign(body, **how)

    async def post_signed(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        assert self._session is not None
        async with self._session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def flush(self) -> list[int]:
        """The webhook worker: post each queued event; a non-2xx keeps it for the next try."""
        statuses = []
        for event_id, envelope in list(self.queue):
            body, headers = self.signed(envelope)
            status = await self.post_signed(self.webhooks[envelope["event"]], body, headers)
            statuses.append(status)
            if 200 <= status < 300:
                self.queue.remove((event_id, envelope))
        return statuses
