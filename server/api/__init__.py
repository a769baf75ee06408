"""HTTP API under ``/api/v1``: one module per area, each with a ``setup(app)`` that adds its routes."""

from __future__ import annotations

from aiohttp import web


def setup_routes(app: web.Application) -> None:
    from server.api import alerts, auth, contacts, gateway, messages, results, tokens, webhooks

    for area in (auth, tokens, contacts, messages, gateway, alerts, results, webhooks):
        area.setup(app)
