"""``recado phone pair`` and ``recado phone list`` as a technician runs them, against a fake SMSGate phone."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import tls
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.smsgate_local import settings_from
from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport
from gateway.android_bridge.smsgate_private import settings_from as private_settings
from gateway.config import load_config
from tests.gateway.android.fake_smsgate import FakeSmsGatePhone
from tests.gateway.android.fake_smsgate_private import FakeSmsGatePrivatePhone
from tests.gateway.android.sink import RecordingSink

pytestmark = pytest.mark.slow  # each command is a fresh interpreter
RECADO = [sys.executable, "-m", "recado"]


async def recado(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
    process = await asyncio.create_subprocess_exec(
        *RECADO, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def phone() -> AsyncIterator[FakeSmsGatePhone]:
    fake = FakeSmsGatePhone(sims=(1, 2))
    await fake.start()
    yield fake
    await fake.stop()


def pair_args(phone: FakeSmsGatePhone, book: Path, password: str | None = None) -> list[str]:
    return [
        "phone", "pair", "--app", "smsgate-local", "--host", "127.0.0.1", "--port", str(phone.port),
        "--password", password or phone.password, "--name", "recepcion", "--phones", str(book),
    ]  # fmt: skip


async def test_pairing_checks_the_phone_keys_it_on_its_id_and_prints_a_channel_per_sim(
    phone: FakeSmsGatePhone, tmp_path: Path
) -> None:
    book = tmp_path / "phones.json"
    code, out, err = await recado(*pair_args(phone, book))
    assert code == 0, err
    saved = phone_book.load(book)
    assert list(saved) == [phone.device_id]
    assert [s.sim_number for s in saved[phone.device_id].sims] == [1, 2]
    assert saved[phone.device_id].sms_limit == 30
    assert phone.password not in out
    channels = tomllib.loads(out.split("(one channel per SIM):", 1)[1])["channels"]
    assert [(c["kind"], c["sim"], c["window_max"]) for c in channels] == [
        ("smsgate", 1, 30),
        ("smsgate", 2, 30),
    ]
    # The printed entries are a working configuration: the gateway reads them, the channel finds the phone.
    config = tmp_path / "gateway.toml"
    lines = ['server = "http://127.0.0.1:1"', 'token = "t"']
    for channel in channels:
        lines += [
            "[[channels]]",
            *(f"{k} = {json.dumps(v)}" for k, v in channel.items()),
            f'phones_file = "{book}"',
        ]
    config.write_text("\n".join(lines) + "\n")
    loaded = load_config(config)
    assert [c.limits.window_max for c in loaded.channels] == [30, 30]
    settings = settings_from(loaded.channels[0].id, loaded.channels[0].options)
    assert (settings.url, settings.password, settings.device_id) == (
        phone.url,
        phone.password,
        phone.device_id,
    )


async def test_the_same_phone_twice_is_refused_and_a_moved_phone_is_updated(
    phone: FakeSmsGatePhone, tmp_path: Path
) -> None:
    book = tmp_path / "phones.json"
    assert (await recado(*pair_args(phone, book)))[0] == 0
    code, _, err = await recado(*pair_args(phone, book))
    assert code == 1
    assert "already paired" in err
    old_port = phone.port
    await phone.stop()
    phone.port = 0
    await phone.start()  # the same phone, at another address
    code, out, err = await recado(*pair_args(phone, book))
    assert code == 0, err
    assert f"moved: http://127.0.0.1:{old_port} -> http://127.0.0.1:{phone.port}" in out
    assert phone_book.load(book)[phone.device_id].url == phone.url


async def test_a_wrong_password_or_no_phone_saves_nothing(phone: FakeSmsGatePhone, tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    code, _, err = await recado(*pair_args(phone, book, password="equivocada"))
    assert code == 1
    assert "refused the user or password" in err
    assert "equivocada" not in err
    await phone.stop()
    code, _, err = await recado(*pair_args(phone, book))
    assert code == 1
    assert "no SMSGate answer" in err
    assert not book.exists()


async def test_a_dial_in_app_gets_a_secret_a_url_and_a_qr_code(tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    code, out, err = await recado(
        "phone", "pair", "--app", "envaya", "--name", "viejo-1", "--url", "http://192.168.1.2:8090", "--phones", str(book)
    )  # fmt: skip
    assert code == 0, err
    secret = phone_book.load(book)["viejo-1"].password
    assert secret is not None
    assert f"Password: {secret}" in out
    assert "Server URL: http://192.168.1.2:8090/envaya/viejo-1" in out
    assert "█" in out or "▀" in out  # the QR code
    assert (
        await recado(
            "phone",
            "pair",
            "--app",
            "envaya",
            "--name",
            "viejo-1",
            "--url",
            "http://x:1",
            "--phones",
            str(book),
        )
    )[0] == 1


async def test_smsgate_private_server_pairing_makes_the_ca_and_prints_what_the_phone_needs(
    tmp_path: Path,
) -> None:
    book = tmp_path / "phones.json"
    pair = ["phone", "pair", "--app", "smsgate-cloud", "--name", "lejos-1", "--phones", str(book)]
    code, _, err = await recado(*pair, "--url", "http://127.0.0.1:8443")
    assert code == 2
    assert "not an https:// URL" in err
    code, out, err = await recado(*pair, "--url", "https://127.0.0.1:8443")
    assert code == 0, err
    paired = phone_book.load(book)["lejos-1"]
    assert paired.app == "smsgate-cloud"
    token = paired.password
    assert token is not None
    api_url = "https://127.0.0.1:8443/smsgate-private/lejos-1"
    assert f"API URL: {api_url}" in out
    assert f"Private token: {token}" in out
    ca_file = tls.ca_paths(tmp_path / "tls")[0]
    assert tls.fingerprint(ca_file) in out
    assert "SSE only" in out
    assert "█" in out or "▀" in out  # the QR code
    assert (await recado(*pair, "--url", "https://127.0.0.1:8443"))[0] == 1  # the same name twice
    # `recado phone ca` hands out the same CA, for the phone's USB stick.
    exported = tmp_path / "recado-ca.crt"
    code, _, err = await recado("phone", "ca", "--phones", str(book), "--out", str(exported))
    assert code == 0, err
    assert exported.read_bytes() == ca_file.read_bytes()
    # The printed entry is a working channel: the phone registers with the printed token and trusts the CA.
    entry = tomllib.loads(out.split("another id):", 1)[1].split("saved in", 1)[0])["channels"][0]
    assert (entry["kind"], entry["phone"], entry["sim"], entry["url"]) == (
        "smsgate-private",
        "lejos-1",
        1,
        api_url,
    )
    options = {k: v for k, v in entry.items() if k not in ("id", "kind", "window_max", "window_s", "url")}
    dial_in, private, sim = private_settings(entry["id"], {**options, "listen": "127.0.0.1:0"})
    transport = SmsGatePrivateTransport(entry["id"], dial_in, private, sim=sim)
    await transport.start(RecordingSink())
    phone = FakeSmsGatePrivatePhone(transport.url, token, ca_file)
    try:
        await phone.start(listen=False)
        assert phone.registrations == 1
        assert (await transport.health()).healthy
    finally:
        await phone.stop()
        await transport.stop()


async def test_list_shows_health_battery_and_limits(phone: FakeSmsGatePhone, tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    assert (await recado(*pair_args(phone, book)))[0] == 0
    code, out, err = await recado("phone", "list", "--json", "--phones", str(book))
    assert code == 0, err
    row = json.loads(out.splitlines()[0])
    assert (row["key"], row["health"], row["battery"], row["sims"], row["limit"]) == (
        phone.device_id, "health pass", 87, [1, 2], 30
    )  # fmt: skip
    assert phone.password not in out
