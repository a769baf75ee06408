"""HTTP API under ``/api/v1``: one module per area, each with a ``setup(app)`` that adds its routes."""

from __future__ import annotations

from aiohttp import web


def setup_routes(app: web.Application) -> None:
    # Each area registers itself here as it is built.
    del app
