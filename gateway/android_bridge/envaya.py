"""EnvayaSMS (kind ``envaya``): the legacy app posts every request to one URL the gateway serves, with
``action=`` saying what it wants (``reference/android-apps.md`` §4).

Every request is signed: ``X-Request-Signature`` covers the server URL exactly as typed into the app, every
POST parameter and the password (:func:`gateway.android_bridge.signatures.envaya_signature`). An unsigned or
wrongly signed request is refused before anything in it is looked at. SHA-1 without a timestamp cannot stop
a replay, so a replayed ``incoming`` is harmless only because the spool keeps one copy per SMS (its identity
is the sender, the phone's timestamp and the text) and a replayed ``send_status`` only repeats a status.

- ``incoming``: an SMS (parts already joined) is spooled before the answer, so a failed commit answers 503
  and the app retries.
- ``outgoing``: the poll; the answer carries the messages waiting for this phone (``send`` events).
- ``send_status``: ``sent`` / ``failed`` / ``cancelled`` for a message this phone was given (``queued`` is only
  progress; the app has no delivery reports).
- ``device_status``: battery and power news; ``send_limit_exceeded`` rests the channel for a while.
- ``test``: the app's "test server" button.

Answers are JSON, or the XML the app expected before version 28.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from gateway.android_bridge import listener as listeners
from gateway.android_bridge.dialin import DialInChannel, dial_in_settings
from gateway.android_bridge.signatures import envaya_check
from gateway.transports.base import InboundSMS, OutboundSMS, StatusReport, TransportError, register

log = logging.getLogger(__name__)

JSON_SINCE_VERSION = 28
LIMIT_REST_S = 1800.0  # Android's check period: the limit will not lift sooner
ACTIONS = frozenset(
    {"incoming", "outgoing", "send_status", "device_status", "test", "forward_sent", "amqp_started"}
)


class EnvayaTransport(DialInChannel):
    kind = "envaya"
    link_kind = "envaya"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return listeners.refuse(request, 405, "POST only", self.id)
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            return listeners.refuse(request, 400, "unreadable form", self.id)
        params = [(name, value) for name, value in form.items() if isinstance(value, str)]
        if not envaya_check(
            self.url, params, self.settings.secret, request.headers.get("X-Request-Signature")
        ):
            return listeners.refuse(request, 403, "missing or wrong X-Request-Signature", self.id)
        fields = dict(params)
        action = fields.get("action", "")
        if action not in ACTIONS:
            return listeners.refuse(request, 400, "unknown action", self.id)
        version = int(fields["version"]) if fields.get("version", "").isdigit() else 0
        self.seen(fields.get("battery"))
        if action == "incoming":
            return await self._incoming(request, fields, version)
        if action == "outgoing":
            return self._answer(version, self.handover.take(self.settings.batch))
        if action == "send_status":
            return await self._send_status(request, fields, version)
        if action == "device_status":
            status = fields.get("status", "")
            if status == "send_limit_exceeded":
                self.limited_until = self._clock() + LIMIT_REST_S
                log.warning("%s: the phone says Android's SMS limit was reached", self.id)
            elif status in ("battery_low", "power_disconnected"):
                self.detail = status.replace("_", " ")
            elif status in ("battery_okay", "power_connected"):
                self.detail = None
        return self._answer(version, [])

    async def _incoming(
        self, request: web.Request, fields: Mapping[str, str], version: int
    ) -> web.StreamResponse:
        if fields.get("message_type", "sms") != "sms":
            return self._answer(version, [])  # MMS and missed calls are not conversations
        sender, text, stamp = fields.get("from", ""), fields.get("message"), fields.get("timestamp", "")
        if not 0 < len(sender) <= 64 or text is None or not stamp.isdigit() or len(stamp) > 15:
            return listeners.refuse(request, 400, "incoming needs from, message and timestamp", self.id)
        received = dt.datetime.fromtimestamp(int(stamp) / 1000, dt.UTC)
        identity = hashlib.sha256(f"{sender}\x1f{stamp}\x1f{text}".encode()).hexdigest()[:32]
        sms = InboundSMS(identity=identity, sender=sender, text=text, received_at=received)
        try:
            await self.deliver(sms)
        except Exception:
            log.exception("%s: the spool did not take an SMS; the phone will send it again", self.id)
            return web.json_response({"error": {"message": "try again"}}, status=503)
        return self._answer(version, [])

    async def _send_status(
        self, request: web.Request, fields: Mapping[str, str], version: int
    ) -> web.StreamResponse:
        message_id, status = fields.get("id", ""), fields.get("status", "")
        if not message_id or status not in ("queued", "failed", "cancelled", "sent"):
            return listeners.refuse(request, 400, "send_status needs an id and a known status", self.id)
        if status == "sent":
            await self.report(StatusReport(message_id, "sent", dt.datetime.now(dt.UTC)))
        elif status in ("failed", "cancelled"):
            error = (fields.get("error") or status)[:200]
            await self.report(StatusReport(message_id, "failed", dt.datetime.now(dt.UTC), error))
        return self._answer(version, [])

    def _answer(self, version: int, messages: list[OutboundSMS]) -> web.Response:
        if version >= JSON_SINCE_VERSION:
            events: list[dict[str, Any]] = []
            if messages:
                events.append(
                    {
                        "event": "send",
                        "messages": [{"id": m.id, "to": m.to, "message": m.text} for m in messages],
                    }
                )
            return web.json_response({"events": events})
        sms = "".join(
            f"<sms id={quoteattr(m.id)} to={quoteattr(m.to)}>{escape(m.text)}</sms>" for m in messages
        )
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>\n<response>"
            + (f"<messages>{sms}</messages>" if sms else "")
            + "</response>"
        )
        return web.Response(text=body, content_type="text/xml", charset="utf-8")


def _factory(channel_id: str, options: Mapping[str, Any]) -> EnvayaTransport:
    known = {
        "listen",
        "path",
        "url",
        "password",
        "password_file",
        "quiet_after_s",
        "pickup_timeout_s",
        "link_kind",
        "phone",
        "phones_file",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise TransportError(f"channel {channel_id!r}: unknown envaya option(s) {', '.join(unknown)}")
    if options.get("link_kind", "envaya") != "envaya":
        raise TransportError(f"channel {channel_id!r}: an envaya channel is reported to the server as envaya")
    settings = dial_in_settings(
        channel_id,
        options,
        secret_named="password",  # noqa: S106 - the option's name
        default_path=f"/envaya/{quote(channel_id, safe='')}",
    )
    return EnvayaTransport(channel_id, settings)


register("envaya", _factory)
