"""The virtual modem's HTTP control interface, for virtual phones, the demo and tests (loopback only).

It exposes the Python control API (:class:`VirtualModem`) as JSON: send the modem an SMS from any number,
read what it sent, emit delivery reports, and pull the plug. It has no authentication, which is why
``recado sim modem`` refuses to bind it anywhere but a loopback address. Routes: ``docs/simulator.md``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.simulator.engine import ReportNotRequested, SentMessage
from gateway.simulator.modem import VirtualModem

MODEM: web.AppKey[VirtualModem] = web.AppKey("modem", VirtualModem)
MAX_TEXT = 255 * 67  # the most a concatenated SMS can carry in UCS-2 (255 parts)
STATUSES = {"delivered": 0x00, "failed": 0x45, "expired": 0x46, "pending": 0x20}


class BadRequest(ValueError):
    pass


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input gets a 400 with a reason, never a 500."""
    try:
        return await handler(request)
    except (BadRequest, ValueError, KeyError, TypeError) as exc:
        reason = exc.args[0] if exc.args else str(exc)
        return web.json_response({"error": str(reason)}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _string(body: dict[str, Any], key: str, *, limit: int = 64) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"{key!r} must be a non-empty string of at most {limit} characters")
    return value


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key!r} must be an integer from {low} to {high}")
    return value


def _message_json(index: int, message: SentMessage) -> dict[str, Any]:
    return {
        "index": index,
        "to": message.recipient,
        "text": message.text,
        "references": list(message.references),
        "complete": message.complete,
        "parts": [
            {
                "reference": part.reference,
                "text": part.text,
                "alphabet": part.alphabet,
                "status_report": part.status_report,
                "concatenation": None
                if part.concatenation is None
                else {
                    "reference": part.concatenation.reference,
                    "total": part.concatenation.total,
                    "sequence": part.concatenation.sequence,
                },
                "pdu": part.pdu,
            }
            for part in message.parts
        ],
    }


async def status(request: web.Request) -> web.Response:
    modem = request.app[MODEM]
    engine = modem.engine
    settings = engine.settings
    return web.json_response(
        {
            "profile": engine.profile.name,
            "port": modem.path,
            "link": None if modem.link is None else str(modem.link),
            "ports": modem.ports,
            "powered": engine.powered,
            "registration": engine.registration(),
            "memories": {n: {"used": m.used, "capacity": m.capacity} for n, m in engine.memories.items()},
            "settings": {
                "echo": settings.echo,
                "cmee": settings.cmee,
                "text_mode": settings.text_mode,
                "cnmi": list(settings.cnmi),
                "cpms": list(settings.cpms),
                "cmms": settings.cmms,
            },
            "received": len(engine.received),
            "sent_parts": len(engine.sent_parts),
            "waiting_inbound": len(engine.waiting_inbound),
        }
    )


def _receive(modem: VirtualModem, sender: str, body: dict[str, Any]) -> web.Response:
    text = body.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise BadRequest(f"'text' must be a string of at most {MAX_TEXT} characters")
    order = body.get("order")
    if order is not None and (
        not isinstance(order, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in order)
    ):
        raise BadRequest("'order' must be a list of part numbers")
    wide = body.get("wide_reference", False)
    if not isinstance(wide, bool):
        raise BadRequest("'wide_reference' must be true or false")
    inbound = modem.receive_sms(
        sender, text, wide_reference=wide, order=None if order is None else tuple(order)
    )
    return web.json_response(
        {"from": sender, "parts": len(inbound.parts), "placed": list(inbound.placed)}, status=201
    )


async def send_sms(request: web.Request) -> web.Response:
    body = await _body(request)
    return _receive(request.app[MODEM], _string(body, "from", limit=21), body)


async def phone_sends(request: web.Request) -> web.Response:
    return _receive(request.app[MODEM], request.match_info["number"], await _body(request))


async def sent(request: web.Request) -> web.Response:
    messages = request.app[MODEM].sent
    return web.json_response({"messages": [_message_json(i, m) for i, m in enumerate(messages)]})


async def phone_inbox(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    messages = request.app[MODEM].sent
    return web.json_response(
        {"messages": [_message_json(i, m) for i, m in enumerate(messages) if m.recipient == number]}
    )


async def reports(request: web.Request) -> web.Response:
    """Status reports for one part (``reference``) or for every part of a sent message (``message`` index)."""
    modem = request.app[MODEM]
    body = await _body(request)
    raw_status = body.get("status", "delivered")
    if isinstance(raw_status, str) and raw_status in STATUSES:
        tp_status = STATUSES[raw_status]
    else:
        tp_status = _int(body, "status", 0, 255)
    try:
        if "message" in body:
            messages = modem.sent
            message = messages[_int(body, "message", 0, max(len(messages) - 1, 0))]
            made = modem.report_message(message, tp_status)
        else:
            made = [modem.report(_int(body, "reference", 0, 255), tp_status)]
    except IndexError:
        raise BadRequest("no such sent message") from None
    except KeyError as exc:
        raise BadRequest(str(exc.args[0])) from None
    except ReportNotRequested as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(
        {"reports": [{"reference": r.reference, "status": r.status, "placed": r.placed} for r in made]},
        status=201,
    )


async def urc(request: web.Request) -> web.Response:
    body = await _body(request)
    if "hex" in body:
        data = bytes.fromhex(_string(body, "hex", limit=8192))
    else:
        data = _string(body, "text", limit=4096).encode("utf-8")
    request.app[MODEM].inject(data)
    return web.json_response({"bytes": len(data)}, status=202)


async def network(request: web.Request) -> web.Response:
    modem = request.app[MODEM]
    body = await _body(request)
    if "signal" in body:
        modem.set_signal(_int(body, "signal", 0, 99))
    if "registration" in body:
        modem.set_registration(None if body["registration"] is None else _int(body, "registration", 0, 5))
    return web.json_response({"registration": modem.engine.registration()})


async def fill(request: web.Request) -> web.Response:
    body = await _body(request)
    memory = _string(body, "memory", limit=2).upper()
    if memory not in request.app[MODEM].engine.memories:
        raise BadRequest("memory must be SM, ME or SR")
    request.app[MODEM].fill(memory)
    return web.json_response({"memory": memory}, status=202)


def _power(action: Callable[[VirtualModem], None]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        modem = request.app[MODEM]
        action(modem)
        return web.json_response({"port": modem.path, "ports": modem.ports}, status=202)

    return handler


async def transcript(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "200"))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    chunks = request.app[MODEM].transcript[-max(limit, 0) :] if limit else []
    return web.json_response(
        {
            "traffic": [
                {
                    "at": c.at,
                    "direction": c.direction,
                    "text": c.data.decode("utf-8", "replace"),
                    "hex": c.data.hex(),
                }
                for c in chunks
            ]
        }
    )


def create_control_app(modem: VirtualModem) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[MODEM] = modem
    app.router.add_get("/modem", status)
    app.router.add_post("/sms", send_sms)
    app.router.add_get("/sent", sent)
    app.router.add_post("/reports", reports)
    app.router.add_post("/urc", urc)
    app.router.add_post("/network", network)
    app.router.add_post("/fill", fill)
    app.router.add_post("/reboot", _power(VirtualModem.reboot))
    app.router.add_post("/unplug", _power(VirtualModem.unplug))
    app.router.add_post("/replug", _power(VirtualModem.replug))
    app.router.add_get("/transcript", transcript)
    app.router.add_get("/phones/{number}/inbox", phone_inbox)
    app.router.add_post("/phones/{number}/sms", phone_sends)
    return app


def require_loopback(host: str) -> None:
    """The control interface has no authentication: it must never listen beyond this machine."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the control interface listens on loopback only, not {host}")


async def serve_control(
    modem: VirtualModem, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start the control interface; returns the runner (``await runner.cleanup()`` stops it) and its port."""
    require_loopback(host)
    runner = web.AppRunner(create_control_app(modem), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])
