"""The ``modem`` channel kind end to end: the virtual modem on a real pty, the gateway, the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli_gateway import Gateway
from gateway.config import ChannelConfig
from gateway.dispatcher import ChannelLimits
from gateway.simulator import VirtualModem
from gateway.transports import TransportError, create
from tests.gateway.process.conftest import eventually, gateway_config
from tests.gateway.process.fakeserver import FakeServer

FAST = {
    "command_timeout": 2.0,
    "prompt_timeout": 2.0,
    "submit_timeout": 5.0,
    "late_grace": 5.0,
    "reopen_interval": 0.1,
    "sweep_interval": 60.0,
}


@pytest.fixture
async def site(tmp_path: Path, server: FakeServer) -> AsyncIterator[tuple[Gateway, VirtualModem]]:
    link = tmp_path / "ttyTelcel"
    modem = await VirtualModem(seed=3, link=link).start()
    config = gateway_config(tmp_path, server.url, {})
    channel = ChannelConfig("telcel-1", "modem", ChannelLimits(), {"port": str(link), **FAST})
    config = type(config)(**{**config.__dict__, "channels": (channel,)})
    gateway = Gateway(config)
    await gateway.start()
    yield gateway, modem
    await gateway.stop()
    await modem.stop()


async def test_an_sms_from_a_phone_reaches_the_server_and_leaves_the_modem(
    site: tuple[Gateway, VirtualModem], server: FakeServer
) -> None:
    _, modem = site
    modem.receive_sms("+529511234567", "Hola, ¿cuándo es mi cita? 🤰")
    await eventually(lambda: len(server.inbound) == 1)
    [item] = server.inbound.values()
    assert (item["from"], item["text"], item["channel"]) == (
        "+529511234567",
        "Hola, ¿cuándo es mi cita? 🤰",
        "telcel-1",
    )
    await eventually(lambda: not any(modem.engine.memories[m].used for m in ("SM", "ME")), timeout=5)


async def test_a_leased_message_goes_out_by_radio_and_its_delivery_comes_back(
    site: tuple[Gateway, VirtualModem], server: FakeServer
) -> None:
    _, modem = site
    text = "Recuerda tu cita de control prenatal el martes. " * 7  # 336 septets: three GSM-7 parts
    message = server.queue("+529517654321", text)
    [sent] = await modem.wait_sent(3, timeout=10)
    assert (sent.recipient, sent.text) == ("+529517654321", text)
    await eventually(lambda: server.statuses_of(message.id) == ["accepted", "sent"])
    sent_report = next(s for b in server.requests for s in b.get("statuses", []) if s["status"] == "sent")
    assert (sent_report["parts"], sent_report["channel"]) == (3, "telcel-1")
    modem.report_message(sent, status=0)
    await eventually(lambda: server.statuses_of(message.id)[-1:] == ["delivered"])


async def test_the_modems_health_goes_up_with_the_sync(
    site: tuple[Gateway, VirtualModem], server: FakeServer
) -> None:
    await eventually(lambda: server.channels.get("telcel-1", {}).get("signal") is not None)
    report = server.channels["telcel-1"]
    assert report["kind"] == "modem"
    assert report["healthy"] is True
    assert report["operator"]


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({}, "needs `port`"),
        ({"port": "/dev/ttyUSB0", "baud": 9600}, "unknown modem option"),
        ({"port": "/dev/ttyUSB0", "pin": 1234}, "pin must be a str"),
        ({"port": "/dev/ttyUSB0", "submit_timeout": "long"}, "submit_timeout must be a float"),
        ({"port": "/dev/ttyUSB0", "status_reports": 1}, "status_reports must be a bool"),
    ],
)
def test_bad_modem_options_are_refused_by_name(options: dict[str, object], complaint: str) -> None:
    with pytest.raises(TransportError, match=complaint):
        create("modem", "telcel-1", options)
