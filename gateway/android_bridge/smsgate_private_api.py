"""The mobile API an SMSGate phone in private-server mode calls: one endpoint per phone, over HTTPS
(``reference/android-apps.md`` §2.3; the app appends these paths to the API URL typed into it).

- ``POST /device`` with ``Bearer <private token>`` registers the phone: it gets a device id and its own bearer
  token (:mod:`.smsgate_private_device` keeps its hash). Every other call needs that token; a wrong or old
  one is a 401, which makes the app register again.
- ``GET /events`` is the server-sent-events stream (the app opens it when set to "SSE only"):
  ``MessageEnqueued`` when a SIM's channel has a message waiting, a keep-alive comment every 15 s.
- ``GET /message`` hands the phone what waits for it and ``PATCH /message`` carries the phone's states back
  (:mod:`.smsgate_private_messages`: a message in an answer is the phone's from then on, the dispatcher is
  told ``accepted``, and it is served again until the phone reports on it).
- ``GET /webhooks`` and ``GET /settings`` tell the phone where to post its events and with which signing key
  (plus first-in first-out, the app's own limits off, webhooks without internet, a ping interval).
  Incoming SMS and per-part delivery reports arrive only that way, as signed webhooks on ``/callback``:
  checked (HMAC, ±5 minutes), deduplicated by event id, and an SMS is acknowledged only once spooled.
- ``GET /device`` (the app shows the caller's address) and the account endpoints (``/user/*``), which
  recado has no use for and answers with a clear refusal.

Every refusal goes through :func:`.listener.refuse`: method, path and peer, never a token or a body.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway import tls
from gateway.android_bridge import listener as listeners
from gateway.android_bridge import smsgate_private_device as device
from gateway.android_bridge.signatures import smsgate_check
from gateway.android_bridge.smsgate_local import health_check_value, parse_phone_date, remember_id
from gateway.android_bridge.smsgate_private_messages import Handed, patch_items
from gateway.transports.base import InboundSMS

if TYPE_CHECKING:
    from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport

log = logging.getLogger(__name__)

SEEN_EVENTS = 4096
WEBHOOK_EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping", "app:started")
CALLBACK = "/callback"


@dataclass(frozen=True)
class PrivateSettings:
    listen: str  # HOST:PORT
    phone: str  # the phone's name: its endpoint and its registration file
    path: str  # the endpoint's path on the listener
    url: str | None  # the API URL exactly as typed into the app; default: listener + path
    private_token: str
    state_dir: Path
    tls_dir: Path
    tls_cert: Path | None = None  # the technician's own certificate instead of the local CA's
    tls_key: Path | None = None
    ping_interval_s: int = 60
    keepalive_s: float = 15.0


class PrivatePhone:
    """One registered phone: its endpoint on the listener, its registration, and its SIM channels."""

    def __init__(self, settings: PrivateSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self.channels: dict[int | None, SmsGatePrivateTransport] = {}
        self.registration: device.Registration | None = None
        self.handed = Handed(device.messages_path_for(settings.state_dir, settings.phone), clock=clock)
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._streams: set[asyncio.Queue[str | None]] = set()
        self._listener: listeners.Listener | None = None
        self._state_file = device.path_for(settings.state_dir, settings.phone)
        self._routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/device": self._device,
            "/message": self._message,
            "/webhooks": self._webhooks,
            "/settings": self._settings,
            "/events": self._events,
            "/user/code": self._accounts,
            "/user/password": self._accounts,
            CALLBACK: self._callback,
        }

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.registration = await asyncio.to_thread(device.load, self._state_file)
        await self.handed.load()
        context = await asyncio.to_thread(self._tls_context)
        self._listener = await listeners.acquire(self.settings.listen, context)
        mounted: list[str] = []
        try:
            for path, handler in self._routes.items():
                self._listener.mount(self.settings.path + path, handler)
                mounted.append(self.settings.path + path)
        except listeners.ListenerError:
            for path in mounted:
                self._listener.unmount(path)
            await listeners.release(self._listener)
            self._listener = None
            raise

    async def stop(self) -> None:
        self._close_streams()
        if self._listener is not None:
            for path in self._routes:
                self._listener.unmount(self.settings.path + path)
            await listeners.release(self._listener)
            self._listener = None

    def _tls_context(self) -> ssl.SSLContext:
        if self.settings.tls_cert is not None and self.settings.tls_key is not None:
            return tls.server_context(self.settings.tls_cert, self.settings.tls_key)
        cert, key, made = tls.ensure_server(self.settings.tls_dir, tls_hosts(self.settings))
        if made:
            log.info("%s: new server certificate %s (signed by the local CA)", self.settings.phone, cert)
        return tls.server_context(cert, key)

    @property
    def name(self) -> str:
        return ", ".join(c.id for c in self.channels.values()) or self.settings.phone

    @property
    def url(self) -> str:
        if self.settings.url:
            return self.settings.url.rstrip("/")
        assert self._listener is not None, "not started"
        return self._listener.base_url + self.settings.path

    # --- what the channels use -------------------------------------------------------------------------

    def adopt(self, channel: SmsGatePrivateTransport) -> None:
        self.channels[channel.sim] = channel
        self.handed.adopt(channel)

    def notify(self, event: str, data: Mapping[str, str] | None = None) -> None:
        """An SSE event for every open stream (the app acts on the type; ``data`` is a string map or null)."""
        frame = f"event: {event}\ndata: {json.dumps(data)}\n\n"
        for queue in self._streams:
            if queue.qsize() < 16:  # a stuck stream gets no more; one wake-up is as good as many
                queue.put_nowait(frame)

    def seen(self, battery: int | None = None) -> None:
        for channel in self.channels.values():
            channel.seen(str(battery) if battery is not None else None)

    def _close_streams(self) -> None:
        for queue in self._streams:
            queue.put_nowait(None)

    # --- authentication --------------------------------------------------------------------------------

    def _bearer(self, request: web.Request) -> str | None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        return credential.strip() if scheme == "Bearer" and credential.strip() else None

    def _authorized(self, request: web.Request) -> bool:
        token = self._bearer(request)
        return token is not None and self.registration is not None and self.registration.accepts(token)

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        listeners.refuse(request, status, reason, self.name)
        return web.json_response({"message": reason}, status=status)

    async def _json(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _MALFORMED

    # --- /device ---------------------------------------------------------------------------------------

    async def _device(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return web.json_response({"externalIp": request.remote})
        if request.method == "POST":
            return await self._register(request)
        if request.method != "PATCH":
            return self._refuse(request, 405, "GET, POST or PATCH only")
        if not self._authorized(request):
            return self._refuse(request, 401, "unknown device token")
        body = await self._json(request)
        sims = _sims(body.get("simCards", [])) if isinstance(body, dict) else None
        if not isinstance(body, dict) or sims is None:
            return self._refuse(request, 400, "PATCH /device needs an object with simCards")
        assert self.registration is not None
        if body.get("id") != self.registration.device_id:
            return self._refuse(request, 403, "the id is not this device's")
        self.registration.sims = sims or self.registration.sims
        self.registration.push_token = isinstance(body.get("pushToken"), str) and bool(body["pushToken"])
        await asyncio.to_thread(device.save, self._state_file, self.registration)
        self.seen()
        return web.Response(status=204)

    async def _register(self, request: web.Request) -> web.StreamResponse:
        token = self._bearer(request)
        if token is None or not hmac.compare_digest(
            token.encode("utf-8"), self.settings.private_token.encode("utf-8")
        ):
            return self._refuse(request, 401, "registration needs this phone's private token")
        body = await self._json(request)
        sims = _sims(body.get("simCards", [])) if isinstance(body, dict) else None
        if not isinstance(body, dict) or sims is None or not isinstance(body.get("name", ""), str):
            return self._refuse(request, 400, "POST /device needs an object with name and simCards")
        push = isinstance(body.get("pushToken"), str) and bool(body["pushToken"])
        registration, device_token = device.new_registration(self._clock(), sims, push)
        await asyncio.to_thread(device.save, self._state_file, registration)
        again = self.registration is not None
        self.registration = registration
        self._close_streams()  # they were opened with the old token
        log.info(
            "%s: the phone %s as device %s (SIMs %s)",
            self.name,
            "registered again" if again else "registered",
            registration.device_id,
            ", ".join(map(str, sims)) or "not reported",
        )
        if push:
            log.warning(
                "%s: the app uses push notifications; set its notification channel to SSE only", self.name
            )
        self.seen()
        answer = {"id": registration.device_id, "token": device_token, "login": self.settings.phone}
        return web.json_response({**answer, "password": ""}, status=201)

    # --- /message --------------------------------------------------------------------------------------

    async def _message(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "PATCH"):
            return self._refuse(request, 405, "GET or PATCH only")
        if not self._authorized(request):
            return self._refuse(request, 401, "unknown device token")
        if request.method == "GET":
            self.seen()
            lifo = request.query.get("order") == "lifo"
            return web.json_response(await self.handed.serve(list(self.channels.values()), lifo=lifo))
        body = await self._json(request)
        items = patch_items(body)
        if items is None:
            return self._refuse(request, 400, "PATCH /message needs a list of {id, state}")
        self.seen()
        unknown = await self.handed.apply_states(items)
        if unknown:
            log.warning(
                "%s: %d state(s) for messages this phone was never given; ignored", self.name, unknown
            )
        return web.Response(status=204)

    # --- /webhooks, /settings, /user/* -----------------------------------------------------------------

    async def _webhooks(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return self._refuse(request, 405, "GET only")
        if not self._authorized(request):
            return self._refuse(request, 401, "unknown device token")
        self.seen()
        hooks = [
            {"id": "recado-" + event.replace(":", "-"), "url": self.url + CALLBACK, "event": event}
            for event in WEBHOOK_EVENTS
        ]
        return web.json_response(hooks)

    async def _settings(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return self._refuse(request, 405, "GET only")
        if not self._authorized(request):
            return self._refuse(request, 401, "unknown device token")
        assert self.registration is not None
        self.seen()
        # Only keys the app is known to accept: one bad value makes it drop the whole import. Never
        # gateway.cloud_url or gateway.private_token, which would re-point the phone.
        return web.json_response(
            {
                "messages": {"processing_order": "FIFO", "limit_period": "Disabled"},
                "ping": {"interval_seconds": self.settings.ping_interval_s},
                "webhooks": {"internet_required": False, "signing_key": self.registration.signing_key},
            }
        )

    async def _accounts(self, request: web.Request) -> web.StreamResponse:
        return self._refuse(request, 404, "this server has no user accounts")

    # --- /events ---------------------------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return self._refuse(request, 405, "GET only")
        if not self._authorized(request):
            return self._refuse(request, 401, "unknown device token")
        # The app keeps one stream; an older one is what is left of a connection that died without a word.
        self._close_streams()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._streams.add(queue)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        try:
            await response.prepare(request)
            self.seen()
            while True:
                try:
                    frame = await asyncio.wait_for(queue.get(), self.settings.keepalive_s)
                except TimeoutError:
                    frame = ":keepalive\n\n"
                if frame is None:
                    break
                # A write that cannot finish means a peer that is gone: the stream ends, it does not hang.
                await asyncio.wait_for(response.write(frame.encode("utf-8")), self.settings.keepalive_s)
            await response.write_eof()
        except (ConnectionError, RuntimeError, TimeoutError):
            pass  # the phone went away (RuntimeError: aiohttp's "connection lost" on write)
        finally:
            self._streams.discard(queue)
        return response

    # --- /callback: the phone's webhooks ---------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return self._refuse(request, 405, "POST only")
        if self.registration is None:
            return self._refuse(request, 401, "no phone registered")
        body = await request.read()
        why = smsgate_check(
            self.registration.signing_key,
            body,
            request.headers.get("X-Timestamp"),
            request.headers.get("X-Signature"),
            self._clock(),
        )
        if why is not None:
            return self._refuse(request, 401, why)
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._refuse(request, 400, "body is not JSON")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
            return self._refuse(request, 400, "body is not an event envelope")
        event_id, event, payload = envelope.get("id"), envelope.get("event"), envelope["payload"]
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 64 or not isinstance(event, str):
            return self._refuse(request, 400, "no event id or event")
        if envelope.get("deviceId") != self.registration.device_id:
            return self._refuse(request, 403, "an event from another device")
        if event_id in self._seen_events:
            return web.json_response({"status": "duplicate"})
        if event == "sms:received":
            answer = await self._received(request, payload)
            if answer.status != 200:
                return answer
        elif event in ("sms:sent", "sms:delivered", "sms:failed"):
            known = await self.handed.apply_event(event, payload)
            if not known:
                log.warning("%s: %s for a message this phone was never given; ignored", self.name, event)
        self.seen(_battery(payload) if event == "system:ping" else None)
        remember_id(self._seen_events, event_id, SEEN_EVENTS)
        return web.json_response({"status": "ok"})

    async def _received(self, request: web.Request, payload: Mapping[str, Any]) -> web.Response:
        identity, sender, text = payload.get("messageId"), payload.get("sender"), payload.get("message")
        received = parse_phone_date(payload.get("receivedAt"))
        sim = payload.get("simNumber")
        if (
            not isinstance(identity, str)
            or not 0 < len(identity) <= 128
            or not isinstance(sender, str)
            or not 0 < len(sender) <= 64
            or not isinstance(text, str)
            or received is None
        ):
            return self._refuse(request, 400, "sms:received needs messageId, sender, message and receivedAt")
        channel = self._channel_for(sim if isinstance(sim, int) and not isinstance(sim, bool) else None)
        recipient = payload.get("recipient") if isinstance(payload.get("recipient"), str) else None
        sms = InboundSMS(
            identity=identity, sender=sender, text=text, received_at=received, recipient=recipient
        )
        try:
            await channel.deliver(sms)
        except Exception:
            log.exception("%s: the spool did not take an SMS; the app keeps it and retries", channel.id)
            return web.json_response({"message": "try again"}, status=503)
        return web.json_response({"status": "ok"})

    def _channel_for(self, sim: int | None) -> SmsGatePrivateTransport:
        """The SIM's channel; an SMS to a SIM without one is kept on another channel of the phone, not lost."""
        channel = self.channels.get(sim) or self.channels.get(None)
        if channel is None:
            channel = self.channels[min(self.channels, key=lambda s: s or 0)]
            log.warning(
                "%s: an SMS came in on SIM %s, which has no channel; kept on %s", self.name, sim, channel.id
            )
        return channel


_MALFORMED = object()


def tls_hosts(settings: PrivateSettings) -> list[str]:
    """The addresses the server certificate names: the host in the URL the phone dials, or the listener's."""
    if settings.url:
        host = urlsplit(settings.url).hostname
        if host:
            return [host]
    host, _ = listeners.parse_address(settings.listen)
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - recognising the wildcard, not binding to it
        raise tls.TlsError(
            "listening on every address: give `url` so the certificate names the one the phone dials"
        )
    return [host]


def default_path(phone: str) -> str:
    """The endpoint's path: the phone's name with anything a URL would have to escape made a dash, so the
    URL typed into the app and the path the listener matches are the same text."""
    return "/smsgate-private/" + re.sub(r"[^A-Za-z0-9._~-]", "-", phone)


def _sims(value: Any) -> list[int] | None:
    if not isinstance(value, list) or len(value) > 8:
        return None
    sims = []
    for card in value:
        if not isinstance(card, dict):
            return None
        number = card.get("simNumber")
        if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 8:
            sims.append(number)
    return sorted(set(sims))


def _battery(payload: Mapping[str, Any]) -> int | None:
    health = payload.get("health")
    checks = health.get("checks") if isinstance(health, dict) else None
    return health_check_value(checks, "battery:level") if isinstance(checks, dict) else None
