"""A fake phone running EnvayaSMS: a real HTTP client that posts to the gateway as the app does
(``reference/android-apps.md`` §4): form-encoded POSTs to one URL, the common parameters on every request,
``X-Request-Signature`` computed as the app computes it, JSON answers from version 28 and XML before.

Written from the reference: the signature here is its own code, not the gateway's. SMS planted with
:meth:`receive` wait until :meth:`sync` forwards them; messages the gateway hands over go to ``radio`` and
their status is reported on the same sync. :meth:`unused` lists what never went through.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import xml.etree.ElementTree as ET

import aiohttp


class FakeEnvayaPhone:
    def __init__(
        self,
        server_url: str,
        password: str,
        *,
        version: int = 30,
        phone_number: str = "+529510000001",
        battery: int = 76,
    ) -> None:
        self.server_url = server_url
        self.password = password
        self.version = version
        self.phone_number = phone_number
        self.battery = battery
        self.pending_incoming: list[dict[str, str]] = []
        self.radio: list[tuple[str, str, str]] = []  # (id, to, text) for every SMS sent
        self.unreported: list[str] = []
        self.behaviour: dict[str, str] = {}  # number -> "sent" (default) or "failed"
        self.answers: list[tuple[str, int]] = []  # action, HTTP status
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def unused(self) -> list[str]:
        return [f"incoming {p['message']!r} never forwarded" for p in self.pending_incoming] + [
            f"status of {i} never reported" for i in self.unreported
        ]

    def sign(self, params: dict[str, str], *, url: str | None = None, password: str | None = None) -> str:
        text = url or self.server_url
        for name in sorted(params):
            text += f",{name}={params[name]}"
        text += "," + (password if password is not None else self.password)
        return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()  # noqa: S324 - the app's

    def params(self, action: str, **extra: str) -> dict[str, str]:
        params = {
            "version": str(self.version),
            "phone_number": self.phone_number,
            "log": "",
            "network": "WIFI",
            "settings_version": "0",
            "now": str(int(time.time() * 1000)),
            "battery": str(self.battery),
            "power": "2",
            "action": action,
        }
        params.update(extra)
        return params

    async def post(
        self, params: dict[str, str], *, signature: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        assert self._session is not None
        sent = {"User-Agent": "EnvayaSMS/3.0.1 (Android; SDK 10; samsung; GT-S5360)"}
        sent["X-Request-Signature"] = signature if signature is not None else self.sign(params)
        sent.update(headers or {})
        async with self._session.post(self.server_url, data=params, headers=sent) as response:
            body = await response.text()
            self.answers.append((params.get("action", ""), response.status))
            return response.status, response.content_type, body

    async def request(self, action: str, **extra: str) -> tuple[int, str, str]:
        return await self.post(self.params(action, **extra))

    def receive(self, sender: str, text: str, timestamp_ms: int | None = None) -> dict[str, str]:
        sms = {
            "from": sender,
            "message": text,
            "message_type": "sms",
            "timestamp": str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)),
        }
        self.pending_incoming.append(sms)
        return sms

    def messages_in(self, content_type: str, body: str) -> list[dict[str, str]]:
        """The ``send`` events of an answer, JSON or the old XML."""
        if content_type == "application/json":
            events = json.loads(body)["events"]
            return [m for e in events if e["event"] == "send" for m in e["messages"]]
        assert content_type == "text/xml"
        root = ET.fromstring(body)  # noqa: S314 - our own gateway's answer in a test
        return [
            {"id": e.get("id", ""), "to": e.get("to", ""), "message": e.text or ""} for e in root.iter("sms")
        ]

    async def sync(self) -> list[dict[str, str]]:
        """What the app does on its timer: forward what arrived, poll, send, report."""
        for sms in list(self.pending_incoming):
            status, _, _ = await self.request("incoming", **sms)
            if status == 200:
                self.pending_incoming.remove(sms)
        status, content_type, body = await self.request("outgoing")
        assert status == 200, body
        messages = self.messages_in(content_type, body)
        for message in messages:
            self.radio.append((message["id"], message["to"], message["message"]))
            self.unreported.append(message["id"])
        for message in messages:
            outcome = self.behaviour.get(message["to"], "sent")
            error = "" if outcome == "sent" else "generic failure"
            status, _, _ = await self.request("send_status", id=message["id"], status=outcome, error=error)
            if status == 200:
                self.unreported.remove(message["id"])
        return messages
