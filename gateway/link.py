"""The link client: the gateway's one conversation with the server (``POST /api/v1/gateway/sync``).

Each round sends what the spool holds for the server (inbound oldest first, statuses in the order they
happened), the health of every channel, and asks for as many messages as the channels can send within
``lease_horizon_s``. The protocol is docs/gateway-link.md; this side relies on it as follows:

- **Idempotent retries.** Items are read from the spool each round and only forgotten when the answer
  names them, so a lost response, a timeout or a crash means the same ids go again, and the server
  acknowledges them again without storing twice.
- **The server being down never stops the radios.** Transports and the dispatcher run on their own; the
  link only moves data, and retries with exponential backoff and full jitter (so a site's gateways do
  not all come back in the same second).
- **Long poll only when there is nothing to hand over.** A round with inbound or statuses asks not to wait;
  an idle round waits up to ``wait_s`` for messages, and new inbound cuts the wait short (the waiting request
  carried nothing that could be lost, and a hung-up wait is leased nothing).
- **One bad item never blocks the spool.** ``rejected`` items are dropped (and logged); a ``422`` naming
  items drops those; a ``413`` halves the batch.
- **Leases are counted from when the request left**, which is always on the safe side of the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.dispatcher import Dispatcher
from gateway.health import HealthMonitor
from gateway.spool import Leased, PendingInbound, PendingStatus, Spool

log = logging.getLogger(__name__)

SYNC_PATH = "/api/v1/gateway/sync"
MAX_ITEMS = 500
MAX_TEXT = 4000
MAX_FIELD = 64
MAX_ERROR = 255
_PRIORITIES = frozenset({"reply", "alert", "bulk"})
_ITEM_FIELD = re.compile(r"^(inbound|statuses)\.(\d+)")


@dataclass(frozen=True)
class LinkSettings:
    server: str  # base URL, e.g. http://10.0.0.2:8080
    token: str
    wait_s: float = 25.0
    batch: int = MAX_ITEMS
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0
    lease_horizon_s: float = 120.0  # ask for what the channels can send in this long
    request_timeout_s: float = 30.0  # on top of the long-poll wait
    idle_s: float = 5.0  # pause between rounds when nothing can be asked for and nothing is pending


class LinkRefused(Exception):
    """The server refused the whole request; ``retry`` says whether the same request may succeed later."""

    def __init__(self, status: int, message: str, details: list[Any]) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.details = details


@dataclass
class Round:
    """What one sync carried, so the answer's indexes (``inbound.3``) can be mapped back."""

    inbound: list[PendingInbound]
    statuses: list[PendingStatus]
    want: int
    want_parts: int
    wait_s: float
    sent_at: float


class LinkClient:
    def __init__(
        self,
        settings: LinkSettings,
        spool: Spool,
        dispatcher: Dispatcher,
        health: HealthMonitor | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.dispatcher = dispatcher
        self.health = health
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._batch = settings.batch
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.failures = 0  # consecutive failed rounds
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.rounds = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            base_url=self.settings.server.rstrip("/"),
            headers={"Authorization": f"Bearer {self.settings.token}", "User-Agent": "recado-gateway"},
        )
        self._task = asyncio.create_task(self._loop(), name="link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """Something new for the server: sync now (cutting a long poll short)."""
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.sync_once()
            except asyncio.CancelledError:
                raise
            except LinkRefused as error:
                self._failed(str(error))
                await asyncio.sleep(self._backoff(auth=error.status in (401, 403)))
                continue
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
                self._failed(f"{type(error).__name__}: {error}")
                await asyncio.sleep(self._backoff())
                continue
            except Exception as error:
                log.exception("sync round failed")
                self._failed(f"{type(error).__name__}: {error}")
                await asyncio.sleep(self._backoff())
                continue
            if self.failures:
                log.info("the server answers again after %d failed rounds", self.failures)
            self.failures = 0
            self.last_success = self._clock()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.idle_s):
                        await self._wake.wait()

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        level = (
            logging.WARNING if self.failures in (1, 10, 100) or self.failures % 1000 == 0 else logging.DEBUG
        )
        log.log(level, "sync failed (%d in a row): %s", self.failures, reason)

    def _backoff(self, *, auth: bool = False) -> float:
        """Full jitter: a random wait up to an exponentially growing ceiling."""
        low, high = self.settings.backoff_min_s, self.settings.backoff_max_s
        if auth:
            return high  # a technician has to act; asking often changes nothing
        ceiling = min(high, low * 2 ** min(self.failures, 30))
        return self._rng.uniform(low, max(low, ceiling))

    # --- one round ---------------------------------------------------------------------------------------

    async def sync_once(self) -> bool:
        """One request and its answer; True when there may be more to do right away."""
        self._wake.clear()
        round_ = await self._prepare()
        body = self._body(round_)
        answer = await self._post(body, round_.wait_s)
        if answer is None:
            return True  # the long poll was cut short: something new to hand over
        await self._apply(round_, answer)
        self.rounds += 1
        self._batch = min(self.settings.batch, self._batch * 2)
        handed_over = bool(round_.inbound or round_.statuses)
        return handed_over or bool(answer.get("outbound")) or round_.wait_s > 0

    async def _prepare(self) -> Round:
        inbound = await self.spool.pending_inbound(self._batch)
        statuses = await self.spool.pending_statuses(self._batch)
        _, queued_parts = await self.spool.queued_counts()
        room = self.dispatcher.headroom(self.settings.lease_horizon_s) - queued_parts
        want = max(0, min(MAX_ITEMS, room))  # every message costs at least one part
        idle = not inbound and not statuses and want > 0
        wait = self.settings.wait_s if idle else 0.0
        return Round(inbound, statuses, want, max(1, min(100_000, room)), wait, self._clock())

    def _body(self, round_: Round) -> dict[str, Any]:
        body: dict[str, Any] = {
            "inbound": [_inbound_item(item) for item in round_.inbound],
            "statuses": [_status_item(item) for item in round_.statuses],
            "want": round_.want,
            "wait_s": round_.wait_s,
        }
        if self.health is not None:
            body["channels"] = self.health.report()
        if round_.want:
            body["want_parts"] = round_.want_parts
        return body

    async def _post(self, body: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
        assert self._session is not None, "start() first"
        timeout = aiohttp.ClientTimeout(total=wait_s + self.settings.request_timeout_s)
        request = asyncio.ensure_future(self._request(body, timeout))
        if wait_s <= 0:
            return await request
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({request, woken}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            request.cancel()
            raise
        finally:
            woken.cancel()
        if request in done:
            return request.result()
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, TimeoutError):
            await request
        return None

    async def _request(self, body: dict[str, Any], limit: aiohttp.ClientTimeout) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(SYNC_PATH, json=body, timeout=limit) as response:
            if response.status == 200:
                answer = await response.json(content_type=None)
                if not isinstance(answer, dict):
                    raise ValueError("the sync answer is not a JSON object")
                return answer
            text = await response.text(errors="replace")
            message, details = _error(text)
            if response.status == 413:
                self._batch = max(1, self._batch // 2)
                log.warning("the server found the batch too large; sending %d items at a time", self._batch)
            elif response.status == 422:
                await self._drop_invalid(body, details)
            raise LinkRefused(response.status, message, details)

    async def _drop_invalid(self, body: dict[str, Any], details: list[Any]) -> None:
        """A 422 means an item no server will ever take: drop the named ones so the spool moves on."""
        inbound: list[tuple[str, str]] = []
        statuses: list[tuple[str, str, str]] = []
        for detail in details:
            field = str(detail.get("field", "")) if isinstance(detail, dict) else ""
            match = _ITEM_FIELD.match(field)
            if match is None:
                continue
            kind, index = match.group(1), int(match.group(2))
            reason = f"refused by the server: {str(detail.get('message', ''))[:200]}"
            if kind == "inbound" and index < len(body["inbound"]):
                inbound.append((body["inbound"][index]["id"], reason))
            elif kind == "statuses" and index < len(body["statuses"]):
                item = body["statuses"][index]
                statuses.append((item["message_id"], item["status"], reason))
        if inbound or statuses:
            await self.spool.settle(
                acked_inbound=(), acked_statuses=(), rejected_inbound=inbound, rejected_statuses=statuses
            )
        elif body["inbound"] or body["statuses"]:
            self._batch = max(1, self._batch // 2)
        log.error("the server refused a sync as invalid (a gateway bug): %s", details)

    async def _apply(self, round_: Round, answer: dict[str, Any]) -> None:
        acked_inbound = [str(i) for i in _list(answer, "acked_inbound")]
        acked_statuses = [
            (str(a.get("message_id")), str(a.get("status")))
            for a in _list(answer, "acked_statuses")
            if isinstance(a, dict)
        ]
        rejected_inbound: list[tuple[str, str]] = []
        rejected_statuses: list[tuple[str, str, str]] = []
        for item in _list(answer, "rejected"):
            if not isinstance(item, dict):
                continue
            match = _ITEM_FIELD.match(str(item.get("field", "")))
            reason = str(item.get("reason", "rejected"))[:200]
            if match is None:
                continue
            kind, index = match.group(1), int(match.group(2))
            if kind == "inbound" and index < len(round_.inbound):
                rejected_inbound.append((round_.inbound[index].id, reason))
            elif kind == "statuses" and index < len(round_.statuses):
                report = round_.statuses[index]
                rejected_statuses.append((report.message_id, report.status, reason))
        await self.spool.settle(
            acked_inbound=acked_inbound,
            acked_statuses=acked_statuses,
            rejected_inbound=rejected_inbound,
            rejected_statuses=rejected_statuses,
        )
        leased = [m for m in (_leased(item) for item in _list(answer, "outbound")) if m is not None]
        if leased:
            lease_s = answer.get("lease_s")
            lease = float(lease_s) if isinstance(lease_s, int | float) and lease_s > 0 else 300.0
            await self.spool.store_leased(leased, round_.sent_at + lease)
            self.dispatcher.wake()


def _list(answer: dict[str, Any], key: str) -> list[Any]:
    value = answer.get(key)
    return value if isinstance(value, list) else []


def _error(text: str) -> tuple[str, list[Any]]:
    try:
        error = json.loads(text)["error"]
        details = error.get("details")
        return str(error.get("message", ""))[:500], details if isinstance(details, list) else []
    except (ValueError, KeyError, TypeError, AttributeError):
        return text[:200], []


def _inbound_item(item: PendingInbound) -> dict[str, Any]:
    return {
        "id": item.id,
        "channel": item.channel,
        "from": item.sender[:MAX_FIELD] or "?",
        "to": item.recipient[:MAX_FIELD] if item.recipient else None,
        "text": item.text[:MAX_TEXT],
        "received_at": item.received_at,
    }


def _status_item(item: PendingStatus) -> dict[str, Any]:
    return {
        "message_id": item.message_id,
        "status": item.status,
        "channel": item.channel,
        "parts": min(255, item.parts) if item.parts else None,
        "at": item.at,
        "error": item.error[:MAX_ERROR] if item.error else None,
    }


def _leased(item: Any) -> Leased | None:
    """One ``outbound`` entry, or None (logged) when it is not something a radio could send."""
    if not isinstance(item, dict):
        return None
    message_id, to, text = item.get("id"), item.get("to"), item.get("text")
    if not (isinstance(message_id, str) and isinstance(to, str) and isinstance(text, str)) or not message_id:
        log.error("the server leased a message this gateway cannot read: %r", item)
        return None
    priority = item.get("priority")
    segments = item.get("segments")
    expires_at: dt.datetime | None = None
    if isinstance(item.get("expires_at"), str):
        try:
            expires_at = dt.datetime.fromisoformat(item["expires_at"])
        except ValueError:
            expires_at = None
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
    channel = item.get("channel")
    return Leased(
        id=message_id,
        to=to,
        text=text,
        priority=priority if priority in _PRIORITIES else "bulk",
        segments=segments if isinstance(segments, int) and segments > 0 else 1,
        expires_at=expires_at,
        channel=channel if isinstance(channel, str) else None,
    )
