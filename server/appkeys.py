"""Typed keys for the state the aiohttp application shares."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth.keys import Keyring
from server.clock import Clock
from server.config import Config

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", AsyncEngine)
KEYRING = web.AppKey("keyring", Keyring)
CLOCK = web.AppKey("clock", Clock)
