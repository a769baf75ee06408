"""Webhook calls a flow asks for: made after the commit against a real local server, answered into the session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.db.schema import PRIORITIES, inbox, sessions, webhook_requests
from server.runner import Runner
from tests.server.runner import kit

PHONE = "+525577778888"
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def clinic(aiohttp_server: ServerFactory) -> tuple[TestServer, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        calls.append({"method": request.method, "body": await request.text()})
        return web.json_response({"cita": "lunes"})

    app = web.Application()
    app.router.add_post("/clinica", answer)
    return await aiohttp_server(app), calls


async def start_consulta(engine: AsyncEngine, runner: Runner, clock: FixedClock, url: str) -> None:
    await kit.load(engine, kit.programme(webhook_url=url), clock.now())
    assert await runner.handle_inbound(await kit.receive(engine, PHONE, "consulta", clock.now())) == "trigger"


async def test_the_call_is_made_after_commit_and_its_answer_resumes_the_session(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, clinic: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    server, calls = clinic
    await start_consulta(engine, runner, clock, str(server.make_url("/clinica")))
    assert calls == []  # recorded, not yet made
    (request,) = await kit.rows(engine, webhook_requests)
    assert (request.status, request.method, request.priority) == ("pending", "POST", "reply")
    (session,) = await kit.rows(engine, sessions)
    assert session.wait_kind == "webhook"

    assert await runner.perform_webhooks() == 1
    assert calls == [{"method": "POST", "body": '{"semanas": ""}'}]
    (request,) = await kit.rows(engine, webhook_requests)
    assert (request.status, request.response_status) == ("done", 200)
    sent = await kit.outbox(engine, PHONE)
    assert sent[-1].text.startswith("Tu clínica respondió:")
    assert "lunes" in sent[-1].text
    assert sent[-1].priority == PRIORITIES["reply"]
    assert await kit.rows(engine, sessions) == []
    assert await runner.perform_webhooks() == 0  # done once


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/clinica", "file:///etc/passwd", "ftp://clinica/x"])
async def test_no_answer_is_a_failure_the_flow_routes(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, url: str
) -> None:
    await start_consulta(engine, runner, clock, url)
    assert await runner.perform_webhooks() == 1
    (request,) = await kit.rows(engine, webhook_requests)
    assert (request.status, request.response_status) == ("done", 0)
    assert (await kit.texts(engine, PHONE))[-1] == "No pudimos hablar con tu clínica."


async def test_a_message_while_waiting_for_a_webhook_goes_to_the_inbox(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, clinic: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    server, _ = clinic
    await start_consulta(engine, runner, clock, str(server.make_url("/clinica")))
    assert await runner.handle_inbound(await kit.receive(engine, PHONE, "¿y?", clock.now())) == "inbox"
    (item,) = await kit.rows(engine, inbox)
    assert item.reason == "not_expected"
    assert await runner.perform_webhooks() == 1
    assert "lunes" in (await kit.texts(engine, PHONE))[-1]


async def test_background_calls_run_after_the_turn(
    engine: AsyncEngine, runner: Runner, clock: FixedClock, clinic: tuple[TestServer, list[dict[str, Any]]]
) -> None:
    server, calls = clinic
    runner.webhooks_in_background = True
    await start_consulta(engine, runner, clock, str(server.make_url("/clinica")))
    await runner.idle()
    assert len(calls) == 1
    assert "lunes" in (await kit.texts(engine, PHONE))[-1]
