"""Ushahidi SMSSync (kind ``smssync``): the legacy app posts incoming SMS to a "Sync URL" the gateway serves
and polls the same URL for work (``reference/android-apps.md`` §3).

- ``POST`` (no task): an incoming SMS, form-encoded (or JSON when the technician chose it), with the shared
  ``secret`` in the body. It is spooled before the answer; ``{"payload": {"success": true}}`` tells the app it
  may forget it.
- ``GET ?task=send&secret=``: the poll. The answer carries the waiting messages and, as the app requires, the
  secret itself (the app drops answers with another secret).
- With the app's "Message Results API" on (``results_api = true`` here, and the same setting on the phone),
  the hand-over is exact: ``POST ?task=sent`` lists what the app queued, and the gateway answers with the
  ones it still wants sent; only those go out. A message the phone was shown but never confirmed goes back
  to the dispatcher for another channel, and a confirmation after that is refused. Then
  ``GET ?task=result`` asks which messages want reports and ``POST ?task=result`` brings them.
  With it off, a message in a poll answer is the phone's at once, and only ``accepted`` is known about it.

SMSSync signs nothing: the secret travels in clear (in the query of polls), so the listener never logs
queries, comparisons are constant-time, and HTTPS or a closed LAN is required (docs/android.md). The app's
``?task=sent`` carries no secret at all; when ``user``/``password`` are set, HTTP basic auth (the app takes
it from ``https://user:pass@host/...``) is required on every request, including that one.

Results: Android's ``Activity.RESULT_OK`` is -1 and SmsManager errors are positive. The app records the sent
result in the delivery field (a known bug: ``sent_result_code`` stays 0), so -1 in either field means sent,
-1 with a delivery time means delivered, and a positive code means failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.android_bridge import listener as listeners
from gateway.android_bridge.dialin import DialInChannel, DialInSettings, dial_in_settings
from gateway.transports.base import InboundSMS, StatusReport, TransportError, register

log = logging.getLogger(__name__)

RESULTS_ASKED_MAX = 100
ANDROID_ERRORS = {1: "generic failure", 2: "radio off", 3: "null PDU", 4: "no service", 5: "limit exceeded"}


def _same(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 6:
        return int(value)
    return None


def _moment(value: Any) -> dt.datetime | None:
    """The app sends Java milliseconds (its docs say seconds): take either."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 15:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return None
    if number <= 0:
        return None
    seconds = number / 1000 if number > 100_000_000_000 else number
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


class SmsSyncTransport(DialInChannel):
    kind = "smssync"
    link_kind = "smssync"

    def __init__(
        self,
        channel_id: str,
        settings: DialInSettings,
        *,
        results_api: bool = False,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(channel_id, settings)
        self.results_api = results_api
        self.basic = None
        if user is not None and password is not None:
            self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.finished: set[str] = set()
        self.sent_reported: set[str] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.basic is not None and not _same(request.headers.get("Authorization"), self.basic):
            return listeners.refuse(request, 401, "missing or wrong basic auth", self.id)
        task = request.query.get("task")
        if task is None and request.method == "POST":
            return await self._incoming(request)
        if task == "send" and request.method == "GET":
            if not _same(request.query.get("secret"), self.settings.secret):
                return self._refuse(request, 403, "wrong secret")
            self.seen()
            batch = self.settings.batch
            messages = self.handover.show(batch) if self.results_api else self.handover.take(batch)
            if not self.results_api:
                for message in messages:
                    self._handed(message.id)
            payload = {
                "task": "send",
                "secret": self.settings.secret,
                "messages": [{"to": m.to, "message": m.text, "uuid": m.id} for m in messages],
            }
            return web.json_response({"payload": payload})
        if task == "sent" and request.method == "POST":
            return await self._confirm(request)
        if task == "result" and request.method in ("GET", "POST"):
            if not _same(request.query.get("secret"), self.settings.secret):
                return self._refuse(request, 403, "wrong secret")
            self.seen()
            if request.method == "GET":
                waiting = [i for i in self.handed if i not in self.finished][-RESULTS_ASKED_MAX:]
                return web.json_response({"message_uuids": waiting})
            return await self._results(request)
        return self._refuse(request, 400, "unknown task or method")

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        listeners.refuse(request, status, reason, self.id)
        return web.json_response({"payload": {"success": False, "error": reason}}, status=status)

    def _handed(self, message_id: str) -> None:
        self.handed[message_id] = self._clock()

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            if request.content_type == "application/json":
                data = await request.json()
                return data if isinstance(data, dict) else None
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            return None
        return {name: value for name, value in form.items() if isinstance(value, str)}

    async def _incoming(self, request: web.Request) -> web.StreamResponse:
        fields = await self._body(request)
        if fields is None:
            return self._refuse(request, 400, "unreadable body")
        if not _same(fields.get("secret"), self.settings.secret):
            return self._refuse(request, 403, "wrong secret")
        self.seen()
        sender, text, message_id = fields.get("from"), fields.get("message"), fields.get("message_id", "")
        stamp = fields.get("sent_timestamp")
        received = _moment(stamp)
        if (
            not isinstance(sender, str)
            or not 0 < len(sender) <= 64
            or not isinstance(text, str)
            or received is None
            or not isinstance(message_id, str)
            or len(message_id) > 64
        ):
            return self._refuse(request, 400, "incoming needs from, message and sent_timestamp")
        # The app's own id once repeated for different SMS (issue #60), so the identity covers the content too.
        identity = hashlib.sha256(f"{message_id}\x1f{sender}\x1f{stamp}\x1f{text}".encode()).hexdigest()[:32]
        try:
            await self.deliver(InboundSMS(identity=identity, sender=sender, text=text, received_at=received))
        except Exception:
            log.exception("%s: the spool did not take an SMS; the app keeps it and retries", self.id)
            return web.json_response({"payload": {"success": False, "error": "try again"}}, status=503)
        return web.json_response({"payload": {"success": True, "error": None}})

    async def _confirm(self, request: web.Request) -> web.StreamResponse:
        fields = await self._body(request)
        queued = fields.get("queued_messages") if fields is not None else None
        if not isinstance(queued, list) or not all(isinstance(i, str) and len(i) <= 64 for i in queued):
            return self._refuse(request, 400, "task=sent needs queued_messages")
        approved = self.handover.confirm(queued)
        for message_id in approved:
            self._handed(message_id)
        # Asked again (our answer was lost): what this phone already has stays approved; nothing else is.
        again = [i for i in queued if i in self.handed and i not in approved and i not in self.finished]
        return web.json_response({"message_uuids": approved + again})

    async def _results(self, request: web.Request) -> web.StreamResponse:
        fields = await self._body(request)
        results = fields.get("message_result") if fields is not None else None
        if isinstance(results, str):  # the app puts the list in as a JSON string
            try:
                results = json.loads(results)
            except ValueError:
                results = None
        if not isinstance(results, list) or len(results) > 500:
            return self._refuse(request, 400, "task=result needs message_result")
        for result in results:
            if isinstance(result, dict) and isinstance(result.get("uuid"), str):
                await self._result(result)
        return web.json_response({"payload": {"success": True, "error": None}})

    async def _result(self, result: Mapping[str, Any]) -> None:
        message_id = str(result["uuid"])
        if message_id not in self.handed or message_id in self.finished:
            return
        sent_code, delivered_code = (
            _code(result.get("sent_result_code")),
            _code(result.get("delivered_result_code")),
        )
        failure = next((c for c in (sent_code, delivered_code) if c is not None and c > 0), None)
        if failure is not None:
            words = result.get("delivered_result_message") or result.get("sent_result_message")
            error = str(words)[:200] if words else ANDROID_ERRORS.get(failure, f"Android result {failure}")
            await self.report(
                StatusReport(message_id, "failed", _moment(result.get("sent_timestamp")), error)
            )
            self.finished.add(message_id)
            return
        if -1 in (sent_code, delivered_code):
            if message_id not in self.sent_reported:
                await self.report(StatusReport(message_id, "sent", _moment(result.get("sent_timestamp"))))
                self.sent_reported.add(message_id)
            delivered_at = _moment(result.get("delivered_timestamp"))
            if delivered_code == -1 and delivered_at is not None:
                await self.report(StatusReport(message_id, "delivered", delivered_at))
                self.finished.add(message_id)


def _factory(channel_id: str, options: Mapping[str, Any]) -> SmsSyncTransport:
    known = {
        "listen",
        "path",
        "url",
        "secret",
        "secret_file",
        "results_api",
        "user",
        "password",
        "quiet_after_s",
        "pickup_timeout_s",
        "link_kind",
        "phone",
        "phones_file",
    }
    where = f"channel {channel_id!r}"
    unknown = sorted(set(options) - known)
    if unknown:
        raise TransportError(f"{where}: unknown smssync option(s) {', '.join(unknown)}")
    if options.get("link_kind", "smssync") != "smssync":
        raise TransportError(f"{where}: an smssync channel is reported to the server as smssync")
    results_api = options.get("results_api", False)
    if not isinstance(results_api, bool):
        raise TransportError(f"{where}: results_api must be true or false")
    user, password = options.get("user"), options.get("password")
    if (user is None) != (password is None) or not all(
        v is None or isinstance(v, str) for v in (user, password)
    ):
        raise TransportError(f"{where}: give both `user` and `password` for basic auth, or neither")
    settings = dial_in_settings(
        channel_id,
        options,
        secret_named="secret",  # noqa: S106 - the option's name
        default_path=f"/smssync/{quote(channel_id, safe='')}",
    )
    return SmsSyncTransport(channel_id, settings, results_api=results_api, user=user, password=password)


register("smssync", _factory)
