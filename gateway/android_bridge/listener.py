"""The HTTP listener the phones that dial in talk to (EnvayaSMS, SMSSync, SMSGate webhooks, SMSGate's mobile
API in private-server mode).

Several channels may share one address: each mounts its own path, and the listener runs while any channel
holds it. An address is served either over HTTPS (the channel that starts it brings the TLS context, see
:mod:`gateway.tls`) or plain, never both. What arrives is hostile until proven otherwise, so:

- bodies are capped (``MAX_BODY``: an SMS and its envelope fit many times over) and a bigger one is refused
  with 413 before it is read;
- aiohttp's access log is off, because SMSSync puts its secret in the query string; refusals are logged
  here with the method, the path (never the query) and the peer address only;
- an unknown path is a plain 404, the same whether or not a channel exists under a similar name.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ListenerError(ValueError):
    pass


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ListenerError(f"listen address {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class Listener:
    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.routes: dict[str, Handler] = {}
        self.users = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def mount(self, path: str, handler: Handler) -> None:
        if path in self.routes:
            raise ListenerError(f"{self.base_url}{path} is already served by another channel")
        self.routes[path] = handler

    def unmount(self, path: str) -> None:
        self.routes.pop(path, None)

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site: web.BaseSite
        if self.port == 0:
            # Bind first, so the port the system picked is known before anyone is told the URL.
            sock = socket.create_server((self.host, 0))
            self.port = int(sock.getsockname()[1])
            site = web.SockSite(runner, sock, ssl_context=self.ssl_context)
        else:
            site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        handler = self.routes.get(request.path)
        if handler is None:
            return refuse(request, 404, "no such endpoint")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return refuse(request, 413, "body too large")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return refuse(request, 413, "body too large")
        except HttpProcessingError:  # a body that does not parse as what its headers claim
            return refuse(request, 400, "malformed body")


_shared: dict[tuple[str, int], Listener] = {}


async def acquire(address: str, ssl_context: ssl.SSLContext | None = None) -> Listener:
    """The listener on ``address``, started; port 0 always makes a new one (tests)."""
    host, port = parse_address(address)
    listener = _shared.get((host, port)) if port else None
    if listener is None:
        listener = Listener(host, port, ssl_context)
        await listener.start()
        if port:
            _shared[(host, port)] = listener
    elif (listener.ssl_context is None) != (ssl_context is None):
        raise ListenerError(f"{address} is served both with and without TLS by different channels")
    listener.users += 1
    return listener


async def release(listener: Listener) -> None:
    listener.users -= 1
    if listener.users <= 0:
        _shared.pop((listener.host, listener.port), None)
        await listener.stop()


def refuse(request: web.Request, status: int, reason: str, channel: str = "") -> web.Response:
    """Say no, and log it without anything a request carried (secrets travel in bodies and queries)."""
    where = f"{channel}: " if channel else ""
    log.warning("%srefused %s %s from %s: %s", where, request.method, request.path, request.remote, reason)
    return web.json_response({"error": {"message": reason}}, status=status)
