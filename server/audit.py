"""The audit log of administrative actions: who did what to which object, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.schema import audit_log


async def record(
    conn: AsyncConnection,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one entry inside the caller's transaction, so the action and its record commit together.

    ``detail`` must not hold phone numbers, secrets or health data: the log outlives them.
    """
    await conn.execute(
        audit_log.insert().values(at=at, actor=actor, action=action, target=target, detail=detail)
    )
