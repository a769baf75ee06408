"""A fake phone running Ushahidi SMSSync: a real HTTP client that calls the gateway's Sync URL as the app does
(``reference/android-apps.md`` §3): incoming SMS as form posts with the secret, ``?task=send`` polls that
check the secret in the answer, and with the Message Results API the ``task=sent`` / ``task=result`` steps,
including the app's quirks (``message_result`` as a JSON string; the sent code recorded in the delivery field).

:meth:`unused` lists SMS never forwarded and sent messages whose results the gateway never asked for.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import aiohttp


class FakeSmsSyncPhone:
    def __init__(
        self, sync_url: str, secret: str, *, results_api: bool = True, auth: tuple[str, str] | None = None
    ) -> None:
        self.sync_url = sync_url
        self.secret = secret
        self.results_api = results_api
        self.headers = {"User-Agent": "SMSSync-Android/v3.1.1"}
        if auth is not None:
            self.headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        self.pending_incoming: list[dict[str, str]] = []
        self.radio: list[tuple[str, str, str]] = []  # (uuid, to, text)
        self.results: dict[str, dict[str, Any]] = {}  # uuid -> what the app recorded
        self.reported: set[str] = set()
        self.answers: list[tuple[str, int]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(headers=self.headers)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def unused(self) -> list[str]:
        left = [f"incoming {p['message']!r} never forwarded" for p in self.pending_incoming]
        if self.results_api:
            left += [f"results of {u} never asked for" for u in self.results if u not in self.reported]
        return left

    async def call(self, method: str, query: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.request(method, self.sync_url, params=query, **kwargs) as response:
            text = await response.text()
            self.answers.append(((query or {}).get("task", "incoming"), response.status))
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    def receive(self, sender: str, text: str) -> dict[str, str]:
        sms = {
            "secret": self.secret,
            "from": sender,
            "message": text,
            "message_id": str(uuid.uuid4()),
            "sent_timestamp": str(int(time.time() * 1000)),
            "sent_to": "+529510000001",
            "device_id": "tecnico-1",
        }
        self.pending_incoming.append(sms)
        return sms

    async def sync(self) -> list[dict[str, str]]:
        """The app's timers: forward incoming SMS, poll for tasks, (confirm,) send."""
        for sms in list(self.pending_incoming):
            status, answer = await self.call("POST", data=sms)
            if status in (200, 201) and isinstance(answer, dict) and answer["payload"]["success"]:
                self.pending_incoming.remove(sms)
        status, answer = await self.call("GET", {"task": "send", "secret": self.secret})
        assert status == 200, answer
        payload = answer["payload"]
        if payload.get("secret") != self.secret:
            return []  # the app ignores a task answer with another secret
        messages: list[dict[str, str]] = payload["messages"]
        if self.results_api and messages:
            status, confirmed = await self.call(
                "POST", {"task": "sent"}, json={"queued_messages": [m["uuid"] for m in messages]}
            )
            allowed = set(confirmed["message_uuids"]) if status == 200 else set()
            messages = [m for m in messages if m["uuid"] in allowed]
        for message in messages:
            self.radio.append((message["uuid"], message["to"], message["message"]))
            # The app's bug: the sent result lands in the delivery field; sent_result_code stays 0.
            self.results[message["uuid"]] = {
                "uuid": message["uuid"],
                "sent_result_code": 0,
                "sent_result_message": "",
                "delivered_result_code": -1,
                "delivered_result_message": "",
                "sent_timestamp": int(time.time() * 1000),
                "delivered_timestamp": 0,
            }
        return messages

    def delivered(self, message_uuid: str) -> None:
        self.results[message_uuid]["delivered_timestamp"] = int(time.time() * 1000)

    def failed(self, message_uuid: str, code: int = 4) -> None:
        self.results[message_uuid]["delivered_result_code"] = code
        self.results[message_uuid]["delivered_result_message"] = "no service"

    async def report(self) -> None:
        """The results timer: ask which messages want results, then post them."""
        status, asked = await self.call("GET", {"task": "result", "secret": self.secret})
        assert status == 200, asked
        wanted = [self.results[u] for u in asked["message_uuids"] if u in self.results]
        if not wanted:
            return
        body = {"message_result": json.dumps(wanted)}
        status, _ = await self.call("POST", {"task": "result", "secret": self.secret}, json=body)
        if status == 200:
            self.reported.update(r["uuid"] for r in wanted)
