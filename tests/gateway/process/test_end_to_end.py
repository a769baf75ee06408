"""The real thing: `recado server` and `recado gateway` as separate processes, meeting only over the link.

The gateway's channel is the fake transport in its directory form; the server is initialised, given a
gateway token and an API token with the command line, exactly as a technician would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway.process.conftest import eventually

pytestmark = pytest.mark.slow
RECADO = [sys.executable, "-m", "recado"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _token(data_dir: Path, role: str, name: str) -> str:
    result = subprocess.run(
        [*RECADO, "token", "create", "--data-dir", str(data_dir), "--role", role, "--name", name],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.headers = session, url, {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.url + path, json=body, headers=self.headers) as response:
            assert response.status < 300, await response.text()
            return await response.json()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    data_dir = tmp_path / "server"
    subprocess.run(
        [*RECADO, "init", "--data-dir", str(data_dir)],
        capture_output=True,
        env=_env(),
        timeout=60,
        check=True,
    )
    port = _free_port()
    with open(tmp_path / "server.log", "w") as log:
        process = await asyncio.create_subprocess_exec(
            *RECADO,
            "server",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=_env(),
        )
    url = f"http://127.0.0.1:{port}"

    async def healthy() -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    await asyncio.wait_for(healthy(), 30)
    yield url, data_dir
    process.terminate()
    await asyncio.wait_for(process.wait(), 30)


async def test_a_gateway_process_and_a_server_process_carry_messages_both_ways(
    tmp_path: Path, server: tuple[str, Path]
) -> None:
    url, data_dir = server
    gateway_token = _token(data_dir, "gateway", "clinica-norte")
    api_token = _token(data_dir, "api", "central")
    radio = tmp_path / "radio"
    (radio / "inbox").mkdir(parents=True)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
server = "{url}"
token = "{gateway_token}"
spool = "{tmp_path / "gateway.sqlite3"}"
[link]
wait_s = 2.0
backoff_min_s = 0.1
backoff_max_s = 0.5
[health]
interval_s = 1.0
[[channels]]
id = "telcel-1"
kind = "fake"
directory = "{radio}"
poll_interval = 0.05
"""
    )
    at = dt.datetime(2027, 3, 1, 8, 59, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    for n, sender in enumerate(["+529511234567", "9517654321", "TELCEL"]):
        body = {
            "sender": sender,
            "text": f"hola {n}",
            "received_at": (at + dt.timedelta(seconds=n)).isoformat(),
        }
        (radio / "inbox" / f"{n:03d}.json").write_text(json.dumps(body))
    with open(tmp_path / "gateway.log", "w") as log:
        gateway = await asyncio.create_subprocess_exec(
            *RECADO, "gateway", "--config", str(config), stdout=log, stderr=log, env=_env()
        )
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, url, api_token)
            found: list[dict[str, Any]] = []

            async def inbound() -> bool:
                found[:] = (await api.call("GET", "/api/v1/messages?direction=in"))["items"]
                return len(found) >= 2

            async with asyncio.timeout(60):
                while not await inbound():
                    await asyncio.sleep(0.2)
            assert sorted(m["text"] for m in found) == [
                "hola 0",
                "hola 1",
            ]  # the operator's notice is refused
            await eventually(lambda: not list((radio / "inbox").glob("*.json")), timeout=10)

            contact = await api.call("POST", "/api/v1/contacts", {"phone": "+529519998877"})
            queued = await api.call(
                "POST",
                "/api/v1/messages",
                {
                    "contacts": [contact["uuid"]],
                    "text": "Mañana hay jornada de vacunación",
                    "priority": "alert",
                },
            )
            message_id = queued["messages"][0]["uuid"]

            def radio_sent() -> list[str]:
                path = radio / "sent.jsonl"
                return (
                    [json.loads(line)["id"] for line in path.read_text().splitlines()]
                    if path.exists()
                    else []
                )

            await eventually(lambda: message_id in radio_sent(), timeout=60)
            async with asyncio.timeout(30):
                while (message := await api.call("GET", f"/api/v1/messages/{message_id}"))[
                    "status"
                ] != "sent":
                    await asyncio.sleep(0.2)
            assert message["channel"] == "telcel-1"
            assert [h["status"] for h in message["history"]][-1] == "sent"
    finally:
        gateway.terminate()
        await asyncio.wait_for(gateway.wait(), 30)
    assert gateway.returncode == 0
    assert "Traceback" not in (tmp_path / "gateway.log").read_text()
