"""One sync request, read into plain values after the OpenAPI document has checked its shape.

The document (``server/api/openapi/gateway.yaml``) enforces types, sizes and enums; what JSON Schema cannot
say without a format checker (RFC 3339 times with an offset) is checked here, and a failure names the field
the way a 422 does. Problems with one item's content (a sender that is not a phone number, a status for a
message this gateway does not hold) are not errors of the batch: they come back as rejections, so one bad
SMS never blocks a gateway's spool.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_ITEMS = 500  # per list; the document's maxItems
MAX_CHANNELS = 64
INBOUND_TEXT_MAX = 4000  # characters: 26 GSM-7 parts, more than any handset lets a person write
MAX_WANT = 500
MAX_WAIT_S = 30  # a longer wait_s is accepted and shortened: proxies and NATs drop idle connections
ID_MAX = 64

# C0 controls other than tab and newlines, DEL, and lone surrogates: PostgreSQL refuses NUL in text and
# neither backend stores half a surrogate pair. An SMS that holds one is kept, with the character replaced.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class BadBatch(ValueError):
    """The batch is malformed; ``problems`` name each field as the API's 422 details do."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Inbound:
    index: int
    id: str
    channel: str
    sender: str  # as the radio gave it; normalised when stored
    text: str
    received_at: dt.datetime


@dataclass(frozen=True)
class StatusReport:
    index: int
    message_id: str
    status: str
    channel: str | None
    parts: int | None
    at: dt.datetime | None
    error: str | None


@dataclass(frozen=True)
class ChannelReport:
    id: str
    kind: str
    healthy: bool
    signal: int | None
    battery: int | None
    sent_today: int
    daily_cap: int | None
    queue: int
    operator: str | None
    detail: str | None


@dataclass(frozen=True)
class SyncRequest:
    inbound: tuple[Inbound, ...]
    statuses: tuple[StatusReport, ...]
    channels: tuple[ChannelReport, ...]
    want: int
    want_parts: int | None
    wait_s: float  # already capped at MAX_WAIT_S


def storable(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _time(raw: str, field: str, problems: list[dict[str, str]]) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        problems.append({"field": field, "message": "must be an RFC 3339 date-time"})
        return None
    if parsed.tzinfo is None:
        problems.append({"field": field, "message": "needs a UTC offset (Z or +hh:mm)"})
        return None
    return parsed.astimezone(dt.UTC)


def _optional_text(raw: Any) -> str | None:
    return storable(raw) if isinstance(raw, str) else None


def read_request(body: Mapping[str, Any]) -> SyncRequest:
    """``body`` has passed the ``GatewaySync`` schema."""
    problems: list[dict[str, str]] = []
    inbound = []
    for index, item in enumerate(body.get("inbound", ())):
        received_at = _time(item["received_at"], f"inbound.{index}.received_at", problems)
        if received_at is not None:
            inbound.append(
                Inbound(index, item["id"], item["channel"], item["from"], storable(item["text"]), received_at)
            )
    statuses = []
    for index, item in enumerate(body.get("statuses", ())):
        raw_at = item.get("at")
        at = _time(raw_at, f"statuses.{index}.at", problems) if raw_at is not None else None
        statuses.append(
            StatusReport(
                index,
                item["message_id"],
                item["status"],
                item.get("channel"),
                item.get("parts"),
                at,
                _optional_text(item.get("error")),
            )
        )
    if problems:
        raise BadBatch(problems)
    return SyncRequest(
        inbound=tuple(inbound),
        statuses=tuple(statuses),
        channels=_channels(body.get("channels", ())),
        want=body.get("want", 0),
        want_parts=body.get("want_parts"),
        wait_s=min(float(body.get("wait_s", 0)), MAX_WAIT_S),
    )


def _channels(items: Sequence[Mapping[str, Any]]) -> tuple[ChannelReport, ...]:
    latest: dict[str, ChannelReport] = {}  # a channel listed twice: the later report is the newer one
    for item in items:
        latest[item["id"]] = ChannelReport(
            id=item["id"],
            kind=item["kind"],
            healthy=item["healthy"],
            signal=item.get("signal"),
            battery=item.get("battery"),
            sent_today=item.get("sent_today", 0),
            daily_cap=item.get("daily_cap"),
            queue=item.get("queue", 0),
            operator=_optional_text(item.get("operator")),
            detail=_optional_text(item.get("detail")),
        )
    return tuple(latest.values())
