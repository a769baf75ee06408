"""What ``recado phone list`` can tell about a phone without asking it, from the files the gateway keeps: the
spool (read only), the phones' last calls (:mod:`.last_call`) and SMSGate private-server registrations
(:mod:`.smsgate_private_device`). All of it works whether the gateway is running or not.

The queue follows the dispatcher's own rule (:meth:`gateway.dispatcher.Dispatcher._choose`): a message waits
for "her" channel, the one the server names (``hint``) when the gateway has it, otherwise the one this
gateway last used with her number (the spool's ``contacts``); a message with neither waits for whichever
channel has room. So each SIM channel has the messages waiting for it alone, and all channels share the
ones waiting for any.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.android_bridge.last_call import RECORD_EVERY_S, LastCall

QUIET_AFTER_S = 300.0  # :class:`.dialin.DialInSettings`' default
_READ_TIMEOUT_S = 2.0  # the gateway holds its write lock for one group commit, milliseconds


class SpoolReadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Waiting:
    own: dict[str, int]  # channel: messages waiting for that channel alone
    any: int  # messages any channel may take (also those whose channel this gateway does not have)


@dataclass(frozen=True)
class SpoolView:
    parts_in_window: dict[str, int]
    waiting: Waiting


def share_waiting(groups: Iterable[tuple[str | None, str | None, int]], channels: Collection[str]) -> Waiting:
    """Queued messages counted by (hint, channel last used with her, count) given to the channel that will
    take them; a channel the gateway does not have is no one's, as for the dispatcher."""
    own: dict[str, int] = {}
    anyone = 0
    for hint, last_used, count in groups:
        target = hint if hint in channels else last_used if last_used in channels else None
        if target is None:
            anyone += count
        else:
            own[target] = own.get(target, 0) + count
    return Waiting(own, anyone)


def read_spool(path: Path, windows: Mapping[str, float], channels: Collection[str], now: float) -> SpoolView:
    """Parts handed to each channel within its window, and who the queued messages wait for.

    Read only and briefly: the gateway may be running, and its writes must never wait for this."""
    if not path.exists():
        raise SpoolReadError(f"no spool at {path}")
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_READ_TIMEOUT_S, isolation_level=None
        )
        with contextlib.closing(connection) as db:
            db.execute("BEGIN")  # one snapshot for every figure
            parts = {
                channel: int(
                    db.execute(
                        "SELECT COALESCE(SUM(parts), 0) FROM outbound WHERE channel = ? AND handed_at >= ?",
                        (channel, now - window_s),
                    ).fetchone()[0]
                )
                for channel, window_s in windows.items()
            }
            groups = db.execute(
                "SELECT o.hint, c.channel, COUNT(*) FROM outbound o LEFT JOIN contacts c ON c.contact = o.contact"
                " WHERE o.state = 'queued' GROUP BY o.hint, c.channel"
            ).fetchall()
            db.execute("COMMIT")
    except sqlite3.Error as error:
        raise SpoolReadError(f"cannot read the spool {path}: {error}") from error
    return SpoolView(parts, share_waiting(groups, channels))


@dataclass(frozen=True)
class CallHealth:
    healthy: bool
    health: str


def call_health(call: LastCall | None, now: float, quiet_after_s: float = QUIET_AFTER_S) -> CallHealth:
    """A phone that dials in is well while it keeps calling, as the gateway judges it (:mod:`.dialin`); the
    record may be up to :data:`.last_call.RECORD_EVERY_S` behind, so that much more quiet is forgiven."""
    if call is None:
        return CallHealth(False, "has never called the gateway")
    quiet_for = max(0.0, now - call.at)
    if quiet_for > quiet_after_s + RECORD_EVERY_S:
        return CallHealth(False, f"quiet for {duration(quiet_for)}: the app stopped calling the gateway")
    return CallHealth(True, f"calling (last call {duration(quiet_for)} ago)")


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
