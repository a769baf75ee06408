"""Typed keys for the state the aiohttp application shares."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth.keys import Keyring
from server.auth.tokens import CheckedTokens
from server.clock import Clock
from server.config import Config
from server.link.sync import Sweeps
from server.wakeup import Wakeup

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", AsyncEngine)
KEYRING = web.AppKey("keyring", Keyring)
CLOCK = web.AppKey("clock", Clock)
CHECKED_TOKENS = web.AppKey("checked_tokens", CheckedTokens)  # for the keyring above
LINK_SWEEPS = web.AppKey("link_sweeps", Sweeps)  # this process's sweeps of expired leases and messages

# Raised after a commit that queued outbound messages (long-polling gateways return early) and after one that
# stored inbound messages (the runner handles them at once instead of at its next tick).
OUTBOX_WAKE = web.AppKey("outbox_wake", Wakeup)
INBOX_WAKE = web.AppKey("inbox_wake", Wakeup)
