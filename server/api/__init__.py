"""HTTP API under ``/api/v1``: one module per area, each with a ``setup(app)`` that adds its routes."""

from __future__ import annotations

from aiohttp import web


def setup_routes(app: web.Application) -> None:
    from server.api import (
        alerts,
        auth,
        contacts,
        demo,
        gateway,
        gateways,
        inbox,
        messages,
        results,
        tokens,
        webhooks,
    )

    areas = (auth, tokens, contacts, messages, inbox, gateway, gateways, alerts, results, webhooks, demo)
    for area in areas:
        area.setup(app)
