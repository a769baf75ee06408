"""SMSGate (capcom6 "SMS Gateway for Android") in local-server mode: the phone serves its API on the LAN and
the gateway is its client (kind ``smsgate``). Protocol facts: ``reference/android-apps.md`` §2.1-2.2.

Each SIM of a phone is its own channel (``sim = 1`` or ``2``); the channels of one phone share one
:class:`SmsGatePhone`, which polls the phone once for all of them: ``/health`` for liveness and battery,
``/messages/{id}`` for what became of each message, ``/inbox`` (with a cursor) for SMS that arrived, routed to
the channel of the SIM that received them, and now and then ``POST /inbox/refresh`` so SMS that arrived while
Android had killed the app are imported and then read.

Sending keeps the promises of ``Transport.send``:

- The message goes with the server's id, so the phone keeps our id: a request repeated because its answer
  was lost gets ``409`` (the phone already has it) and is followed, never sent twice.
- The dispatcher gives a channel one message at a time, and ``send`` waits (``send_wait_s``) for the phone to
  hand it to Android, so a phone that dies holds at most one message per SIM. One still ``Pending`` at the
  deadline is cancelled (allowed only while ``Pending``) and given back to the dispatcher for another channel.
- Nothing reached the phone (connection refused, no route): ``failed``, retryable. The phone may have it but
  cannot say: ``unknown``. It took it but has not sent it yet: ``accepted``, and the outcome follows as a
  status report.

What the phone took is followed in memory, so a gateway that restarts asks the phone once for every message
of the last ``TRACK_FOR_S`` (``GET /messages?from=``): final outcomes are reported (the spool ignores what it
already knows and what was never its own), and messages still on their way are followed again, so a delivery
report that comes after a restart is not lost.

Webhooks from the phone are optional and only wake the pollers early; they are verified (HMAC, timestamp
window) and deduplicated by event id, but they never carry data into the spool themselves, so a forged or
replayed one can at worst cause an extra poll.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from flows import sms as sms_facts
from gateway.android_bridge import listener as listeners
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.shared_phones import SharedPhones
from gateway.android_bridge.signatures import SMSGATE_WINDOW_S, smsgate_check
from gateway.transports.base import (
    ChannelHealth,
    InboundSMS,
    OutboundSMS,
    SendOutcome,
    StatusReport,
    TransportError,
    TransportSink,
    register,
)

log = logging.getLogger(__name__)

FINAL_STATES = frozenset({"Delivered", "Failed", "Cancelled"})
WEBHOOK_EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed")
INBOX_PAGE = 100
INBOX_MAX_PER_POLL = 2000  # a phone that has been away a long time is read over several polls
TRACK_FOR_S = 3 * 86400.0  # a message whose delivery report never comes (SMSC retrying) is let go
RECOVER_PAGE = 100
RECOVER_MAX = 5000  # messages read back after a restart; more than a phone sends in TRACK_FOR_S at its limits
SEEN_EVENTS = 4096
SEEN_INBOX = 8192
HEALTH_CACHE_S = 2.0


class Unreachable(Exception):
    """Nothing reached the phone: the connection could not be made."""


class Ambiguous(Exception):
    """The request may have reached the phone, but no answer came back."""


@dataclass(frozen=True)
class SmsGateSettings:
    url: str  # http://192.168.1.50:8080
    user: str = "sms"
    password: str = ""
    sim: int | None = None  # 1-based; None: the phone's own choice (single-SIM phones)
    device_id: str | None = None  # when set, a different phone answering at ``url`` is refused
    poll_interval_s: float = 5.0
    inbox_refresh_s: float = 3600.0
    inbox_lookback_s: float = 2 * 86400.0  # below the spool's purge age, so a re-read is still recognised
    send_wait_s: float = 60.0
    request_timeout_s: float = 15.0
    push_settings: bool = True
    webhook_listen: str | None = None  # HOST:PORT the gateway listens on for the phone's webhooks
    webhook_url: str | None = None  # what the phone calls (https://..., or http://127.0.0.1:... over adb)
    signing_key: str | None = None  # default: a fresh random key, pushed to the phone


def phone_date(value: dt.datetime) -> str:
    """The app's date pattern, ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``."""
    return value.isoformat(timespec="milliseconds")


def parse_phone_date(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def aggregate_state(message: Mapping[str, Any]) -> str:
    """The message's state as the phone reports it (the app already aggregates its recipients)."""
    state = message.get("state")
    return state if isinstance(state, str) else "Pending"


def recipient_error(message: Mapping[str, Any]) -> str | None:
    recipients = message.get("recipients")
    if isinstance(recipients, list):
        for recipient in recipients:
            if isinstance(recipient, dict) and isinstance(recipient.get("error"), str):
                return str(recipient["error"])[:200]
    return None


class SmsGatePhone:
    """One phone: the HTTP client, the pollers, and the channels (SIMs) attached to it."""

    def __init__(self, settings: SmsGateSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._clock = clock
        self.channels: dict[int | None, SmsGateTransport] = {}
        self.session: aiohttp.ClientSession | None = None
        self.tracked: dict[str, tuple[SmsGateTransport, str, float]] = {}  # id -> channel, last state, since
        self.recovered = False  # what the phone took before this process started is being followed
        self._started = clock()
        self.device_id: str | None = None
        self.sim_numbers: set[int] = set()
        self.identity_problem: str | None = None
        self.auth_problem: str | None = None
        self.settings_pushed = not settings.push_settings
        self.signing_key = settings.signing_key or secrets.token_urlsafe(24)
        self.webhooks_registered = settings.webhook_listen is None
        self.webhook_path: str | None = None
        self._listener: listeners.Listener | None = None
        self._seen_events: OrderedDict[str, None] = OrderedDict()
        self._seen_inbox: OrderedDict[str, None] = OrderedDict()
        self._inbox_from = clock() - settings.inbox_lookback_s
        self._last_refresh = clock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._health: tuple[float, ChannelHealth] | None = None
        self._health_lock = asyncio.Lock()

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        credentials = f"{self.settings.user}:{self.settings.password}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
        timeout = aiohttp.ClientTimeout(
            total=self.settings.request_timeout_s, sock_connect=min(5.0, self.settings.request_timeout_s)
        )
        self.session = aiohttp.ClientSession(headers=headers, timeout=timeout)
        if self.settings.webhook_listen is not None:
            self._listener = await listeners.acquire(self.settings.webhook_listen)
            name = self.settings.device_id or hashlib.sha256(self.url.encode()).hexdigest()[:16]
            self.webhook_path = f"/smsgate/{quote(name, safe='')}/webhook"
            self._listener.mount(self.webhook_path, self._webhook)
        await self._introduce()
        self._task = asyncio.create_task(self._loop(), name=f"smsgate {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None:
            if self.webhook_path is not None:
                self._listener.unmount(self.webhook_path)
            await listeners.release(self._listener)
            self._listener = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def webhook_url(self) -> str | None:
        if self.settings.webhook_url:
            return self.settings.webhook_url
        if self._listener is None or self.webhook_path is None:
            return None
        return self._listener.base_url + self.webhook_path

    # --- HTTP ------------------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request; the status and the decoded JSON answer (None when there is none or it is not JSON)."""
        assert self.session is not None, "the phone has not been started"
        try:
            async with self.session.request(
                method, self.url + path, json=body, params=params, allow_redirects=False
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise Unreachable(f"cannot reach the phone: {type(error).__name__}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Ambiguous(f"no answer from the phone: {type(error).__name__}") from error
        if status == 401:
            self.auth_problem = "the phone refused the user or password"
        elif status < 400 and path != "/health":  # /health needs no login, so it proves nothing
            self.auth_problem = None
        try:
            decoded = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            decoded = None
        return status, decoded

    async def _introduce(self) -> None:
        """Learn which phone answers and which SIMs it has; refuse a phone other than the paired one."""
        try:
            status, devices = await self.call("GET", "/device")
        except (Unreachable, Ambiguous) as error:
            log.warning("%s: phone not reachable yet (%s)", self._name, error)
            return
        if status != 200 or not isinstance(devices, list) or not devices or not isinstance(devices[0], dict):
            log.warning("%s: GET /device answered %s", self._name, status)
            return
        device = devices[0]
        found = device.get("id") if isinstance(device.get("id"), str) else None
        expected = self.settings.device_id
        if expected is not None and found != expected:
            self.identity_problem = f"a different phone ({found}) answers at {self.url}"
            log.error("%s: %s; not sending through it", self._name, self.identity_problem)
            return
        self.identity_problem = None
        self.device_id = found
        sims = device.get("simCards")
        if isinstance(sims, list):
            self.sim_numbers = {
                s["simNumber"] for s in sims if isinstance(s, dict) and isinstance(s.get("simNumber"), int)
            }

    @property
    def _name(self) -> str:
        return ", ".join(c.id for c in self.channels.values()) or self.url

    # --- sending ---------------------------------------------------------------------------------------

    async def send(self, channel: SmsGateTransport, message: OutboundSMS) -> SendOutcome:
        parts = sms_facts.size(message.text).segments
        if self.identity_problem is not None:
            return SendOutcome("failed", parts, error=self.identity_problem, retryable=True)
        body: dict[str, Any] = {
            "id": message.id,
            "textMessage": {"text": message.text},
            "phoneNumbers": [message.to],
            "withDeliveryReport": True,
        }
        if channel.sim is not None:
            body["simNumber"] = channel.sim
        if message.expires_at is not None:
            ttl = int(message.expires_at.timestamp() - self._clock())
            if ttl <= 0:
                return SendOutcome("failed", parts, error="expired before sending")
            body["ttl"] = ttl
        params = {"skipPhoneValidation": "true"}  # numbers are E.164 already (DESIGN decision 7)
        status: int | None = None
        answer: Any = None
        last_error = "no answer from the phone"
        for attempt in range(3):
            try:
                status, answer = await self.call("POST", "/messages", body=body, params=params)
                break
            except Unreachable as error:
                if attempt == 0:
                    return SendOutcome("failed", parts, error=str(error), retryable=True)
                # An earlier attempt may have got through: only the phone can say, and it is gone.
                return SendOutcome("unknown", parts, error=str(error))
            except Ambiguous as error:
                log.warning("%s: %s for %s; asking again with the same id", channel.id, error, message.id)
                last_error = str(error)
        else:
            return SendOutcome("unknown", parts, error=last_error)
        if status == 409:
            log.info("%s: the phone already has %s; following it", channel.id, message.id)
        elif status != 202:
            reason = answer.get("message") if isinstance(answer, dict) else None
            refusal = f"the phone refused the message: HTTP {status}" + (f" {reason}"[:200] if reason else "")
            return SendOutcome("failed", parts, error=refusal, retryable=True)
        return await self._follow_send(channel, message.id, parts)

    async def _follow_send(self, channel: SmsGateTransport, message_id: str, parts: int) -> SendOutcome:
        """Wait until the phone hands the message to Android; cancel it if it never does."""
        deadline = time.monotonic() + self.settings.send_wait_s
        state, details = "Pending", None
        while True:
            try:
                status, answer = await self.call("GET", f"/messages/{quote(message_id, safe='')}")
                if status == 200 and isinstance(answer, dict):
                    state, details = aggregate_state(answer), answer
            except (Unreachable, Ambiguous):
                pass  # it has the message; keep asking until the deadline
            if state in ("Sent", "Delivered"):
                self.track(channel, message_id, "Sent")
                return SendOutcome("sent", parts)
            if state == "Failed":
                handed = isinstance(details, dict) and "Processed" in (details.get("states") or {})
                error = recipient_error(details or {}) or "the phone could not send it"
                return SendOutcome("failed", parts, error=error, retryable=not handed)
            if state == "Cancelled":
                return SendOutcome("failed", parts, error="cancelled on the phone", retryable=True)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(0.5, self.settings.poll_interval_s))
        if state == "Pending":
            with contextlib.suppress(Unreachable, Ambiguous):
                status, _ = await self.call("DELETE", f"/messages/{quote(message_id, safe='')}")
                if status in (200, 202, 204):
                    return SendOutcome(
                        "failed", parts, error="the phone did not send it in time", retryable=True
                    )
        self.track(channel, message_id, state)
        return SendOutcome("accepted", parts)

    def track(self, channel: SmsGateTransport, message_id: str, state: str) -> None:
        self.tracked[message_id] = (channel, state, self._clock())

    async def follow_tracked(self) -> None:
        """Report what became of messages the phone took: sent, then delivered or failed."""
        now = self._clock()
        for message_id, (channel, _, since) in list(self.tracked.items()):
            if now - since > TRACK_FOR_S:
                log.info(
                    "%s: no final report for %s after %d days", channel.id, message_id, TRACK_FOR_S // 86400
                )
                self.tracked.pop(message_id, None)
                continue
            status, answer = await self.call("GET", f"/messages/{quote(message_id, safe='')}")
            if status == 404:
                log.warning("%s: the phone no longer knows %s", channel.id, message_id)
                self.tracked.pop(message_id, None)
                continue
            if status == 200 and isinstance(answer, dict):
                await self._follow(channel, message_id, answer)

    async def _follow(self, channel: SmsGateTransport, message_id: str, answer: Mapping[str, Any]) -> None:
        """Report the change between what was last known of a message and what the phone now says."""
        _, last, since = self.tracked.get(message_id, (channel, "Pending", self._clock()))
        state = aggregate_state(answer)
        if state == last:
            return
        stamps = answer.get("states") if isinstance(answer.get("states"), dict) else {}
        at = parse_phone_date(stamps.get(state)) if isinstance(stamps, dict) else None
        if state in ("Sent", "Delivered") and last not in ("Sent", "Delivered"):
            sent_at = parse_phone_date(stamps.get("Sent")) if isinstance(stamps, dict) else None
            await channel.report(StatusReport(message_id, "sent", sent_at or at))
        if state == "Delivered":
            await channel.report(StatusReport(message_id, "delivered", at))
        elif state == "Failed":
            await channel.report(StatusReport(message_id, "failed", at, recipient_error(answer)))
        elif state == "Cancelled":
            await channel.report(StatusReport(message_id, "failed", at, "cancelled on the phone"))
        if state in FINAL_STATES:
            self.tracked.pop(message_id, None)
        else:
            self.tracked[message_id] = (channel, state, since)

    async def recover_tracking(self) -> int:
        """After a start: report and follow again what the phone took in the last ``TRACK_FOR_S``; returns
        how many messages the phone listed.

        The listing does not say which SIM sent a message, so its reports go through the phone's first
        channel; the spool keys reports on the message id, not the channel. A message still ``Pending`` is
        followed too: the gateway may have died before learning the phone took it (the spool settled it as
        ``unknown``, never to be resent), and what the phone does with it is the truth worth reporting."""
        channel = self._channel_for(None)
        if channel is None:
            self.recovered = True
            return 0
        # Only what came before this start: what this process sends, its sends follow.
        since = quote(phone_date(dt.datetime.fromtimestamp(self._started - TRACK_FOR_S, dt.UTC)))
        until = quote(phone_date(dt.datetime.fromtimestamp(self._started, dt.UTC)))
        listed = 0
        for offset in range(0, RECOVER_MAX, RECOVER_PAGE):
            query = f"?from={since}&to={until}&limit={RECOVER_PAGE}&offset={offset}"
            status, answer = await self.call("GET", "/messages" + query)
            if status != 200 or not isinstance(answer, list):
                log.warning("%s: listing the phone's messages answered %s", self._name, status)
                return listed  # asked again at the next round
            for item in answer:
                message_id = item.get("id") if isinstance(item, dict) else None
                if not isinstance(message_id, str) or not message_id or message_id in self.tracked:
                    continue
                listed += 1
                if aggregate_state(item) == "Pending":
                    self.track(channel, message_id, "Pending")
                else:
                    await self._follow(channel, message_id, item)
            if len(answer) < RECOVER_PAGE:
                break
        self.recovered = True
        log.info("%s: %d messages the phone took before this start were checked", self._name, listed)
        return listed

    # --- receiving -------------------------------------------------------------------------------------

    def _channel_for(self, sim: Any) -> SmsGateTransport | None:
        if isinstance(sim, int) and sim in self.channels:
            return self.channels[sim]
        if not self.channels:
            return None
        # An SMS on a SIM without its own channel still reaches the server, through the phone's first one.
        return self.channels[min(self.channels, key=lambda s: -1 if s is None else s)]

    async def poll_inbox(self) -> int:
        """Read SMS that arrived since the cursor, oldest first; returns how many were spooled."""
        since = dt.datetime.fromtimestamp(self._inbox_from, dt.UTC)
        items: list[tuple[dt.datetime, dict[str, Any]]] = []
        offset = 0
        while offset < INBOX_MAX_PER_POLL:
            params = {
                "type": "SMS",
                "from": phone_date(since),
                "limit": str(INBOX_PAGE),
                "offset": str(offset),
            }
            status, page = await self.call("GET", "/inbox", params=params)
            if status != 200 or not isinstance(page, list):
                log.warning("%s: GET /inbox answered %s", self._name, status)
                return 0
            for item in page:
                created = parse_phone_date(item.get("createdAt")) if isinstance(item, dict) else None
                if created is None:
                    log.warning("%s: an inbox entry without a usable date was skipped", self._name)
                    continue
                items.append((created, item))
            if len(page) < INBOX_PAGE:
                break
            offset += INBOX_PAGE
        items.sort(key=lambda pair: pair[0])
        spooled = 0
        for created, item in items:
            sms = _inbound_from(item, created)
            if sms is None:
                log.warning("%s: an unreadable inbox entry was skipped", self._name)
                continue
            if sms.identity in self._seen_inbox:
                continue
            channel = self._channel_for(item.get("simNumber"))
            if channel is None:
                return spooled
            try:
                await channel.deliver(sms)
            except Exception:
                # Keep the cursor here: the same SMS is offered again at the next poll.
                log.exception("%s: the spool did not take an SMS; it is read again later", channel.id)
                self._inbox_from = min(self._inbox_from, created.timestamp())
                return spooled
            spooled += 1
            remember_id(self._seen_inbox, sms.identity, SEEN_INBOX)
            self._inbox_from = max(self._inbox_from, created.timestamp())
        return spooled

    async def refresh_inbox(self) -> None:
        """Ask the app to import SMS that reached Android while the app was not running."""
        now = self._clock()
        since = now - max(2 * self.settings.inbox_refresh_s, 3600.0)
        body = {
            "since": phone_date(dt.datetime.fromtimestamp(since, dt.UTC)),
            "until": phone_date(dt.datetime.fromtimestamp(now, dt.UTC)),
            "triggerWebhooks": False,
        }
        status, _ = await self.call("POST", "/inbox/refresh", body=body)
        if status in (200, 202):
            self._last_refresh = now
            self._inbox_from = min(self._inbox_from, since)  # refreshed SMS keep their own (older) dates
        else:
            log.warning("%s: POST /inbox/refresh answered %s", self._name, status)

    # --- settings and webhooks -------------------------------------------------------------------------

    async def push_settings(self) -> None:
        """FIFO for campaigns; the app's own limits off, because the gateway paces each SIM itself."""
        settings: dict[str, Any] = {"messages": {"processing_order": "FIFO", "limit_period": "Disabled"}}
        if self.settings.webhook_listen is not None:
            settings["webhooks"] = {"internet_required": False, "signing_key": self.signing_key}
        if not self.settings_pushed:
            status, _ = await self.call("PATCH", "/settings", body=settings)
            self.settings_pushed = status in (200, 202, 204)
            if not self.settings_pushed:
                log.warning("%s: PATCH /settings answered %s", self._name, status)
        if not self.webhooks_registered and self.webhook_url is not None:
            registered = 0
            for event in WEBHOOK_EVENTS:
                hook = {"id": f"recado-{event.replace(':', '-')}", "url": self.webhook_url, "event": event}
                status, _ = await self.call("POST", "/webhooks", body=hook)
                registered += status in (200, 201)
            self.webhooks_registered = registered == len(WEBHOOK_EVENTS)
            if not self.webhooks_registered:
                log.warning(
                    "%s: the phone refused the webhooks (%s must be https:// or http://127.0.0.1)",
                    self._name,
                    self.webhook_url,
                )

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return listeners.refuse(request, 405, "POST only", self._name)
        body = await request.read()
        why = smsgate_check(
            self.signing_key,
            body,
            request.headers.get("X-Timestamp"),
            request.headers.get("X-Signature"),
            self._clock(),
            SMSGATE_WINDOW_S,
        )
        if why is not None:
            return listeners.refuse(request, 401, why, self._name)
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return listeners.refuse(request, 400, "body is not JSON", self._name)
        if not isinstance(envelope, dict):
            return listeners.refuse(request, 400, "body is not an object", self._name)
        event_id, event, payload = envelope.get("id"), envelope.get("event"), envelope.get("payload")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 64 or not isinstance(event, str):
            return listeners.refuse(request, 400, "no event id or event", self._name)
        if event_id in self._seen_events:
            return web.json_response({"status": "duplicate"})
        remember_id(self._seen_events, event_id, SEEN_EVENTS)
        message_id = payload.get("messageId") if isinstance(payload, dict) else None
        if event == "sms:received" or (event.startswith("sms:") and message_id in self.tracked):
            self.wake()
        return web.json_response({"status": "ok"})

    # --- health ----------------------------------------------------------------------------------------

    async def health(self, channel: SmsGateTransport) -> ChannelHealth:
        async with self._health_lock:
            cached = self._health
            if cached is None or time.monotonic() - cached[0] > HEALTH_CACHE_S:
                cached = (time.monotonic(), await self._ask_health())
                self._health = cached
        answer = cached[1]
        if (
            answer.healthy
            and self.sim_numbers
            and channel.sim is not None
            and channel.sim not in self.sim_numbers
        ):
            return ChannelHealth(
                healthy=False, battery=answer.battery, detail=f"SIM {channel.sim} is not in the phone"
            )
        return answer

    async def _ask_health(self) -> ChannelHealth:
        if self.identity_problem is not None:
            await self._introduce()
            if self.identity_problem is not None:
                return ChannelHealth(healthy=False, detail=self.identity_problem)
        try:
            status, answer = await self.call("GET", "/health")
        except (Unreachable, Ambiguous) as error:
            return ChannelHealth(healthy=False, detail=str(error))
        if not isinstance(answer, dict):
            return ChannelHealth(healthy=False, detail=f"GET /health answered {status}")
        found = answer.get("checks")
        checks: dict[str, Any] = found if isinstance(found, dict) else {}
        battery = health_check_value(checks, "battery:level")
        verdict = answer.get("status")
        if self.device_id is None:
            await self._introduce()
        if self.auth_problem is not None:
            return ChannelHealth(healthy=False, battery=battery, detail=self.auth_problem)
        if status >= 500 or verdict == "fail":
            failing = sorted(
                k for k, v in checks.items() if isinstance(v, dict) and v.get("status") == "fail"
            )
            return ChannelHealth(
                healthy=False, battery=battery, detail="phone reports: " + (", ".join(failing) or "fail")
            )
        detail = None if verdict == "pass" else f"phone reports {verdict}"
        return ChannelHealth(healthy=True, battery=battery, detail=detail)

    # --- the loop --------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # a webhook arriving during the round makes the next one start at once
            try:
                await self._round()
            except (Unreachable, Ambiguous) as error:
                log.debug("%s: %s", self._name, error)
            except Exception:
                log.exception("%s: polling the phone failed", self._name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval_s):
                    await self._wake.wait()

    async def _round(self) -> None:
        if self.identity_problem is not None:
            return
        if not self.settings_pushed or not self.webhooks_registered:
            await self.push_settings()
        if self._clock() - self._last_refresh >= self.settings.inbox_refresh_s:
            await self.refresh_inbox()
        await self.poll_inbox()
        if not self.recovered:
            await self.recover_tracking()
        await self.follow_tracked()


def health_check_value(checks: Mapping[str, Any], name: str) -> int | None:
    check = checks.get(name)
    value = check.get("observedValue") if isinstance(check, dict) else check
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
        return int(value)
    return None


def _inbound_from(item: Mapping[str, Any], created: dt.datetime) -> InboundSMS | None:
    identity, sender, text = item.get("id"), item.get("sender"), item.get("contentPreview")
    if item.get("type", "SMS") != "SMS":
        return None
    if not isinstance(identity, str) or not 0 < len(identity) <= 128:
        return None
    if not isinstance(sender, str) or not 0 < len(sender) <= 64 or not isinstance(text, str):
        return None
    recipient = item.get("recipient") if isinstance(item.get("recipient"), str) else None
    return InboundSMS(identity=identity, sender=sender, text=text, received_at=created, recipient=recipient)


def remember_id(seen: OrderedDict[str, None], key: str, limit: int) -> None:
    seen[key] = None
    while len(seen) > limit:
        seen.popitem(last=False)


# --- the channel -----------------------------------------------------------------------------------------


class SmsGateTransport:
    kind = "smsgate"
    link_kind = "smsgate"

    def __init__(
        self, channel_id: str, settings: SmsGateSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.id = channel_id
        self.settings = settings
        self.sim = settings.sim
        self._clock = clock
        self._sink: TransportSink | None = None
        self.phone: SmsGatePhone | None = None

    async def start(self, sink: TransportSink) -> None:
        self._sink = sink
        self.phone = await _attach(self)

    async def stop(self) -> None:
        if self.phone is not None:
            await _detach(self)
            self.phone = None

    async def send(self, message: OutboundSMS) -> SendOutcome:
        if self.phone is None:
            return SendOutcome(
                "failed", sms_facts.size(message.text).segments, error="not started", retryable=True
            )
        return await self.phone.send(self, message)

    async def health(self) -> ChannelHealth:
        if self.phone is None:
            return ChannelHealth(healthy=False, detail="not started")
        return await self.phone.health(self)

    async def deliver(self, sms: InboundSMS) -> None:
        assert self._sink is not None
        await self._sink.on_inbound(self.id, sms)

    async def report(self, status: StatusReport) -> None:
        assert self._sink is not None
        await self._sink.on_status(self.id, status)


_phones: SharedPhones[str, SmsGatePhone] = SharedPhones()


async def _attach(channel: SmsGateTransport) -> SmsGatePhone:
    """The channels of one phone share one client and one set of pollers."""
    key = channel.settings.url.rstrip("/")

    def make() -> SmsGatePhone:
        phone = SmsGatePhone(channel.settings, clock=channel._clock)
        phone.channels[channel.sim] = channel
        return phone

    def join(phone: SmsGatePhone) -> None:
        if channel.sim in phone.channels:
            raise TransportError(f"channel {channel.id!r}: SIM {channel.sim} of {key} already has a channel")
        phone.channels[channel.sim] = channel

    return await _phones.attach(key, make, join)


async def _detach(channel: SmsGateTransport) -> None:
    await _phones.detach(channel.settings.url.rstrip("/"), channel.sim)


# --- configuration ---------------------------------------------------------------------------------------

_NUMBERS = {"poll_interval_s", "inbox_refresh_s", "inbox_lookback_s", "send_wait_s", "request_timeout_s"}
_STRINGS = {"url", "user", "password", "device_id", "webhook_listen", "webhook_url", "signing_key"}
_KNOWN = _NUMBERS | _STRINGS | {"sim", "push_settings", "phone", "phones_file", "password_file", "link_kind"}


def settings_from(channel_id: str, options: Mapping[str, Any]) -> SmsGateSettings:
    where = f"channel {channel_id!r}"
    unknown = sorted(set(options) - _KNOWN)
    if unknown:
        raise TransportError(f"{where}: unknown smsgate option(s) {', '.join(unknown)}")
    if options.get("link_kind", "smsgate") != "smsgate":
        raise TransportError(f"{where}: an smsgate channel is reported to the server as smsgate")
    values: dict[str, Any] = {}
    if "phone" in options:
        path = Path(str(options.get("phones_file") or phone_book.default_path()))
        try:
            paired = phone_book.find(path, str(options["phone"]))
        except phone_book.PhoneBookError as error:
            raise TransportError(f"{where}: {error}") from error
        if paired.app != "smsgate-local" or not paired.url:
            raise TransportError(f"{where}: phone {paired.key!r} is not an SMSGate local-server phone")
        values.update(
            url=paired.url, user=paired.user or "sms", password=paired.password or "", device_id=paired.key
        )
    for key in _STRINGS:
        if key in options:
            if not isinstance(options[key], str):
                raise TransportError(f"{where}: {key} must be a string")
            values[key] = options[key]
    if "password_file" in options:
        try:
            values["password"] = Path(str(options["password_file"])).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise TransportError(f"{where}: cannot read password_file: {error.strerror or error}") from error
    for key in _NUMBERS:
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise TransportError(f"{where}: {key} must be a positive number")
            values[key] = float(value)
    if "sim" in options:
        sim = options["sim"]
        if isinstance(sim, bool) or not isinstance(sim, int) or not 1 <= sim <= 8:
            raise TransportError(f"{where}: sim must be the SIM's number, 1 or 2")
        values["sim"] = sim
    if "push_settings" in options:
        if not isinstance(options["push_settings"], bool):
            raise TransportError(f"{where}: push_settings must be true or false")
        values["push_settings"] = options["push_settings"]
    url = values.get("url")
    if (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).hostname
    ):
        raise TransportError(
            f"{where}: an smsgate channel needs `url` (http://PHONE:8080) or a paired `phone`"
        )
    if values.get("webhook_listen") is not None:
        try:
            listeners.parse_address(values["webhook_listen"])
        except listeners.ListenerError as error:
            raise TransportError(f"{where}: {error}") from error
    return SmsGateSettings(**values)


def _factory(channel_id: str, options: Mapping[str, Any]) -> SmsGateTransport:
    return SmsGateTransport(channel_id, settings_from(channel_id, options))


register("smsgate", _factory)
