"""The HTTP control interface against a modem on the same loop, with the host side read from the real pty."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import termios
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu
from pytest_aiohttp import AiohttpClient

from gateway.simulator import ModemConfig, VirtualModem, tpdu
from gateway.simulator.control import create_control_app, require_loopback, serve_control

Client = TestClient[web.Request, web.Application]


class AsyncPort:
    """The host end opened with os.open, read without blocking the loop the modem runs on."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        termios.tcflush(
            self.fd, termios.TCIFLUSH
        )  # as pyserial does on open: boot URCs already sent are gone
        self.buffer = bytearray()

    async def read_until(self, marker: bytes, timeout: float = 3.0) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while marker not in self.buffer:
                ready = loop.create_future()
                loop.add_reader(self.fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.fd)
                self.buffer.extend(os.read(self.fd, 4096))
        end = self.buffer.index(marker) + len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    async def command(self, line: bytes, marker: bytes = b"OK\r\n") -> bytes:
        os.write(self.fd, line)
        return await self.read_until(marker)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
async def modem(tmp_path: Path) -> AsyncIterator[VirtualModem]:
    async with VirtualModem(ModemConfig(first_reference=20), link=tmp_path / "ttyV") as modem:
        yield modem


@pytest.fixture
async def host(modem: VirtualModem) -> AsyncIterator[AsyncPort]:
    port = AsyncPort(modem.port)
    assert await port.command(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
    yield port
    port.close()


@pytest.fixture
async def client(modem: VirtualModem, aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_control_app(modem))


async def test_a_virtual_phone_sends_and_the_host_reads_it(client: Client, host: AsyncPort) -> None:
    response = await client.post("/phones/+5215599998888/sms", json={"text": "Hola 👶 " * 20})
    assert response.status == 201
    body = await response.json()
    assert body["parts"] == 3
    assert body["placed"] == ["SM:1", "SM:2", "SM:3"]
    await host.read_until(b'+CMTI: "SM",3\r\n')
    listing = await host.command(b"AT+CMGL=4\r")
    assert listing.count(b"+CMGL: ") == 3
    status = await (await client.get("/modem")).json()
    assert status["memories"]["SM"] == {"used": 3, "capacity": 30}
    assert status["received"] == 1


async def test_what_the_modem_sent_and_its_delivery_reports(client: Client, host: AsyncPort) -> None:
    assert await host.command(b"AT+CNMI=2,1,0,2,0\r") == b"\r\nOK\r\n"
    for pdu in encodeSmsSubmitPdu("+5215512345678", "Su próxima cita es el 3 de marzo " * 3):
        assert await host.command(f"AT+CMGS={pdu.tpduLength}\r".encode(), b"> ") == b"\r\n> "
        await host.command(str(pdu).encode() + b"\x1a")
    inbox = await (await client.get("/phones/+5215512345678/inbox")).json()
    (message,) = inbox["messages"]
    assert message["text"] == "Su próxima cita es el 3 de marzo " * 3
    assert message["references"] == [20, 21]
    assert message["complete"]
    assert (await (await client.get("/phones/+5215500000000/inbox")).json()) == {"messages": []}

    response = await client.post("/reports", json={"message": 0, "status": "delivered"})
    assert response.status == 201
    assert [r["placed"] for r in (await response.json())["reports"]] == ["SR:1", "SR:2"]
    await host.read_until(b'+CDSI: "SR",2\r\n')
    one = await client.post("/reports", json={"reference": 21, "status": 70})
    assert (await one.json())["reports"] == [{"reference": 21, "status": 70, "placed": "SR:3"}]


async def test_urc_network_fill_and_transcript(client: Client, host: AsyncPort, modem: VirtualModem) -> None:
    assert (await client.post("/urc", json={"hex": "0d0a5e525353493a31370d0a"})).status == 202
    assert await host.read_until(b"^RSSI:17\r\n") == b"\r\n^RSSI:17\r\n"
    assert (await (await client.post("/network", json={"registration": 2, "signal": 5})).json()) == {
        "registration": 2
    }
    assert await host.command(b"AT+CREG?;+CSQ\r") == b"\r\n+CREG: 0,2\r\n\r\n+CSQ: 5,99\r\n\r\nOK\r\n"
    assert (await client.post("/fill", json={"memory": "sr"})).status == 202
    assert modem.engine.memories["SR"].full
    traffic = (await (await client.get("/transcript?limit=2")).json())["traffic"]
    assert [t["direction"] for t in traffic] == ["in", "out"]
    assert traffic[0]["text"] == "AT+CREG?;+CSQ\r"


async def test_unplug_and_replug_over_http(client: Client, modem: VirtualModem) -> None:
    first = modem.path
    assert (await (await client.post("/unplug")).json())["port"] is None
    assert not os.path.lexists(modem.port)
    replugged = await (await client.post("/replug")).json()
    assert replugged["port"] not in (None, first)
    assert replugged["ports"][0] == first


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/sms", None, 400),
        ("post", "/sms", [], 400),
        ("post", "/sms", {"from": "+521", "text": 5}, 400),
        ("post", "/sms", {"from": "", "text": "x"}, 400),
        ("post", "/sms", {"from": "Demasiado largo remitente", "text": "x"}, 400),
        ("post", "/sms", {"from": "+521", "text": "x" * 20000}, 400),
        ("post", "/sms", {"from": "+521", "text": "x", "order": ["a"]}, 400),
        ("post", "/sms", {"from": "+521", "text": "x", "order": [9]}, 400),
        ("post", "/reports", {"reference": 999}, 400),
        ("post", "/reports", {"reference": 3}, 400),
        ("post", "/reports", {"message": 0}, 400),
        ("post", "/reports", {"reference": 1, "status": "lost"}, 400),
        ("post", "/urc", {"hex": "zz"}, 400),
        ("post", "/network", {"signal": True}, 400),
        ("post", "/fill", {"memory": "XX"}, 400),
        ("get", "/transcript?limit=many", None, 400),
    ],
)
async def test_bad_requests_get_400_never_500(
    client: Client,
    method: str,
    path: str,
    body: object,
    status: int,
) -> None:
    if body is None and method == "post":
        response = await client.post(path, data=b"\xff{not json")
    else:
        response = await getattr(client, method)(path, json=body)
    assert response.status == status
    assert "error" in await response.json()


async def test_report_for_a_part_that_asked_for_none_is_409(client: Client, host: AsyncPort) -> None:
    pdu = encodeSmsSubmitPdu("+5215512345678", "hola", requestStatusReport=False)[0]
    await host.command(f"AT+CMGS={pdu.tpduLength}\r".encode(), b"> ")
    await host.command(str(pdu).encode() + b"\x1a")
    response = await client.post("/reports", json={"reference": 20})
    assert response.status == 409


async def test_serve_control_binds_loopback_only(modem: VirtualModem) -> None:
    runner, port = await serve_control(modem, "127.0.0.1", 0)
    try:
        assert port > 0
    finally:
        await runner.cleanup()
    for host in ("0.0.0.0", "192.168.1.10", "example.org"):  # noqa: S104 - these must be refused
        with pytest.raises(ValueError, match="loopback"):
            require_loopback(host)
    require_loopback("::1")
    require_loopback("localhost")


def test_deliver_pdu_through_http_is_a_real_deliver() -> None:
    """The hex a virtual phone's SMS becomes is a DELIVER that gsmmodem parses (sanity on the shared codec)."""
    encoded = tpdu.encode_deliver(
        "+5215599998888", "hola", smsc="+5294100001410", timestamp=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    assert decodeSmsPdu(encoded.hex)["type"] == "SMS-DELIVER"
