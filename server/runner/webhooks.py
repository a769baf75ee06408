"""Making the calls flows ask for (``webhook_called``), after the commit that recorded them.

Only http and https URLs are called. Any failure to get an answer (a refused connection, a timeout, a
malformed URL or header) is an answer of status 0, which the flow routes as a failure; the body read back is
capped at what the engine keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from flows.engine import WebhookResponse

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024
NO_ANSWER = WebhookResponse(0, "")


async def call_webhook(
    client: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: str,
    *,
    timeout_s: float,
) -> WebhookResponse:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        log.warning("webhook not called: only http and https URLs are allowed")
        return NO_ANSWER
    try:
        async with client.request(
            method,
            url,
            headers=dict(headers),
            data=body.encode("utf-8") if body else None,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            content = await response.content.read(MAX_RESPONSE_BYTES)
            return WebhookResponse(response.status, content.decode("utf-8", errors="replace"))
    except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeError) as exc:
        log.info("webhook %s %s got no answer: %s", method, urlsplit(url).netloc, type(exc).__name__)
        return NO_ANSWER
