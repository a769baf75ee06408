"""``recado phone pair`` and ``recado phone list`` as a technician runs them, against a fake SMSGate phone."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import tls
from gateway.android_bridge import last_call, phone_status
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.envaya import _factory as envaya_factory
from gateway.android_bridge.phones import Phone, Sim
from gateway.android_bridge.smsgate_local import settings_from
from gateway.android_bridge.smsgate_private import SmsGatePrivateTransport
from gateway.android_bridge.smsgate_private import settings_from as private_settings
from gateway.config import load_config
from gateway.spool import Leased, Spool
from tests.gateway.android.fake_envaya import FakeEnvayaPhone
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


def test_the_phone_book_is_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The systemd unit names it, so the gateway and the technician's commands share one book."""
    monkeypatch.setenv(phone_book.PHONES_ENV, str(tmp_path / "site" / "phones.json"))
    assert phone_book.default_path() == tmp_path / "site" / "phones.json"
    monkeypatch.delenv(phone_book.PHONES_ENV)
    assert phone_book.default_path().name == "phones.json"
    assert phone_book.default_path() != tmp_path / "site" / "phones.json"


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
    code, out, err = await recado(
        "phone", "list", "--json", "--phones", str(book), "--spool", str(tmp_path / "none")
    )
    assert code == 0, err
    row = json.loads(out.splitlines()[0])
    assert (row["key"], row["healthy"], row["health"], row["battery"], row["sims"], row["limit"]) == (
        phone.device_id, True, "answers, health pass", 87, [1, 2], 30
    )  # fmt: skip
    assert row["last_seen"] is not None
    assert phone.password not in out
    assert "no spool at" in err  # the figures it cannot give are said to be missing, not shown as zero
    await phone.stop()
    code, out, err = await recado("phone", "list", "--json", "--phones", str(book))
    assert code == 0, err
    row = json.loads(out.splitlines()[0])
    assert (row["healthy"], row["last_seen"]) == (False, None)
    assert row["health"].startswith("not answering: no SMSGate answer")


# --- the queue and the window, from a real spool -----------------------------------------------------------


def leased(message_id: str, to: str, hint: str | None, text: str = "Hola") -> Leased:
    return Leased(message_id, to, text, "bulk", 1, None, hint)


async def send_on(spool: Spool, message_id: str, to: str, channel: str, parts: int) -> None:
    await spool.store_leased([leased(message_id, to, None)], time.time() + 600)
    assert await spool.mark_sending(message_id, channel, parts)
    await spool.record_outcome(message_id, "sent", channel=channel, parts=parts)


async def test_list_counts_parts_in_the_window_and_says_who_each_queued_message_waits_for(
    phone: FakeSmsGatePhone, tmp_path: Path
) -> None:
    book = tmp_path / "phones.json"
    phone_book.save(book, {phone.device_id: Phone(phone.device_id, "smsgate-local", phone.url, "sms", phone.password, "recepcion", [Sim(1), Sim(2)])})  # fmt: skip
    spool_file = tmp_path / "gateway.sqlite3"
    config = tmp_path / "gateway.toml"
    lines = ['server = "http://127.0.0.1:1"', 'token_file = "/root/unreadable"', f'spool = "{spool_file}"']
    for sim in (1, 2, 3):
        lines += ["[[channels]]", f'id = "recepcion-sim{sim}"', 'kind = "smsgate"', f'phone = "{phone.device_id}"', f"sim = {sim}"]  # fmt: skip
    lines += ["[[channels]]", 'id = "telcel-1"', 'kind = "modem"', 'port = "/dev/recado/huawei-1"']
    config.write_text("\n".join(lines) + "\n")

    at = [time.time() - 7200]
    spool = await Spool.open(spool_file, clock=lambda: at[0])
    try:
        await send_on(spool, "old", "+529511110000", "recepcion-sim1", 3)  # two hours ago: out of the window
        at[0] = time.time() - 60
        await send_on(spool, "recent-1", "+529511110001", "recepcion-sim1", 1)
        await send_on(spool, "recent-2", "+529513330000", "recepcion-sim2", 2)  # she is now sim 2's
        at[0] = time.time()
        await spool.store_leased(
            [
                leased("q-named", "+529514440000", "recepcion-sim1"),  # the server names sim 1
                leased("q-named-over-last", "9513330000", "recepcion-sim1"),  # the server's word comes first
                leased("q-last-used", "9513330000", None),  # sim 2 carried her last
                leased("q-retired", "+529515550000", "modem-retirado"),  # a channel this gateway lacks
                leased("q-new", "+529516660000", None),
                leased("q-modem", "+529517770000", "telcel-1"),
            ],
            time.time() + 600,
        )
        # The gateway is running: the list reads beside it.
        code, out, err = await recado(
            "phone", "list", "--json", "--config", str(config), "--phones", str(book)
        )
        assert code == 0, err
        running = [json.loads(line) for line in out.splitlines()]
    finally:
        await spool.close()
    figures = [
        (
            c["id"],
            c["parts_in_window"],
            c["limit"],
            c["waiting_for_this_sim"],
            c["waiting_for_any"],
            c["problem"],
        )
        for c in running[0]["channels"]
    ]
    assert figures == [
        ("recepcion-sim1", 1, 30, 2, 2, None),
        ("recepcion-sim2", 2, 30, 1, 2, None),
        ("recepcion-sim3", 0, 30, 0, 2, "SIM 3 is not in the phone"),
    ]
    # Stopped, the same figures; and the way the technician reads them.
    code, out, err = await recado("phone", "list", "--config", str(config), "--phones", str(book))
    assert code == 0, err
    assert "recepcion (smsgate-local): answers, health pass, battery 87%, last seen" in out
    assert (
        "recepcion-sim1 SIM 1: 1 of 30 parts in the last 30 min; waiting: 2 for this SIM, 2 for any channel"
        in out
    )
    assert (
        "recepcion-sim3 SIM 3: 0 of 30 parts in the last 30 min; waiting: 0 for this SIM, 2 for any channel; SIM 3 is not in the phone"
        in out
    )
    assert (
        "spool: 4 message(s) waiting for a channel of their own, 2 for any channel" in out
    )  # one is the modem's
    assert "9513330000" not in out + err


def test_queued_messages_go_where_the_dispatcher_would_send_them() -> None:
    channels = {"a", "b"}
    groups = [("a", "b", 3), (None, "b", 2), ("gone", "a", 1), ("gone", "gone-too", 4), (None, None, 5)]
    waiting = phone_status.share_waiting(groups, channels)
    assert (waiting.own, waiting.any) == ({"a": 4, "b": 2}, 9)


# --- apps that dial in: what the gateway recorded ---------------------------------------------------------


async def test_a_dial_in_phone_shows_never_called_then_its_last_call_and_battery(tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    secret = "secreto-viejo-1"
    phone_book.save(
        book, {"viejo-1": Phone("viejo-1", "envaya", "http://x/envaya/viejo-1", None, secret, "viejo-1")}
    )
    config = tmp_path / "gateway.toml"
    config.write_text(
        'server = "http://127.0.0.1:1"\ntoken = "t"\n[[channels]]\nid = "viejo-1"\nkind = "envaya"\n'
        f'listen = "127.0.0.1:0"\nphone = "viejo-1"\nphones_file = "{book}"\nquiet_after_s = 120\n'
    )
    listing = [
        "phone",
        "list",
        "--json",
        "--config",
        str(config),
        "--phones",
        str(book),
        "--spool",
        str(tmp_path / "s"),
    ]
    code, out, err = await recado(*listing)
    assert code == 0, err
    row = json.loads(out)
    assert (row["healthy"], row["health"], row["battery"], row["last_seen"]) == (
        False, "has never called the gateway", None, None
    )  # fmt: skip

    options = tomllib.loads(config.read_text())["channels"][0]
    transport = envaya_factory("viejo-1", {k: v for k, v in options.items() if k not in ("id", "kind")})
    await transport.start(RecordingSink())
    fake = FakeEnvayaPhone(transport.url, secret, battery=41)
    await fake.start()
    try:
        await fake.sync()
        await fake.sync()
    finally:
        await fake.stop()
        await transport.stop()  # the last call is written when the channel stops
    assert transport.last_seen is not None
    code, out, err = await recado(*listing)
    assert code == 0, err
    row = json.loads(out)
    assert (row["healthy"], row["battery"]) == (True, 41)
    assert row["health"].startswith("calling (last call ")
    assert dt.datetime.fromisoformat(row["last_seen"]).timestamp() == pytest.approx(
        transport.last_seen, abs=1
    )

    # Quiet for longer than the gateway forgives (quiet_after_s, plus the minute the record may lag).
    last_call.write(last_call.path_for(book, "viejo-1"), last_call.LastCall(time.time() - 3 * 3600, 41))
    row = json.loads((await recado(*listing))[1])
    assert (row["healthy"], row["health"]) == (False, "quiet for 3 h: the app stopped calling the gateway")
    last_call.path_for(book, "viejo-1").write_text("{not json")
    code, out, err = await recado(*listing)
    assert code == 0, err
    assert "is not a record of calls" in json.loads(out)["health"]


async def test_a_private_server_phone_shows_whether_it_registered(tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    pair = ["phone", "pair", "--app", "smsgate-cloud", "--name", "lejos-1", "--phones", str(book)]
    code, out, err = await recado(*pair, "--url", "https://127.0.0.1:8443")
    assert code == 0, err
    entry = tomllib.loads(out.split("another id):", 1)[1].split("saved in", 1)[0])["channels"][0]
    entry["listen"] = "127.0.0.1:0"
    config = tmp_path / "gateway.toml"
    config.write_text(
        'server = "http://127.0.0.1:1"\ntoken = "t"\n[[channels]]\n'
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items())
    )
    listing = [
        "phone",
        "list",
        "--json",
        "--config",
        str(config),
        "--phones",
        str(book),
        "--spool",
        str(tmp_path / "s"),
    ]
    row = json.loads((await recado(*listing))[1])
    assert (row["registered"], row["healthy"]) == (False, False)
    assert row["health"] == "never registered: enter the API URL and private token in the app"

    options = {k: v for k, v in entry.items() if k not in ("id", "kind", "window_max", "window_s", "url")}
    dial_in, private, sim = private_settings(entry["id"], options)
    transport = SmsGatePrivateTransport(entry["id"], dial_in, private, sim=sim)
    await transport.start(RecordingSink())
    token = phone_book.load(book)["lejos-1"].password
    assert token is not None
    fake = FakeSmsGatePrivatePhone(transport.url, token, tls.ca_paths(tmp_path / "tls")[0], sims=(1, 2))
    calls = last_call.path_for(book, "lejos-1")
    try:
        await fake.start(listen=False)
        for _ in range(200):  # the first call is written on the loop's next turn, off the loop
            if calls.exists():
                break
            await asyncio.sleep(0.01)
    finally:
        await fake.stop()
        await transport.stop()
    code, out, err = await recado(*listing)
    assert code == 0, err
    row = json.loads(out)
    assert (row["registered"], row["healthy"], row["sims"]) == (True, True, [1, 2])
    assert row["health"].startswith("calling (last call ")
    assert row["registered_at"] is not None
    assert row["last_seen"] is not None
    assert token not in out


async def test_calls_are_written_at_most_once_a_pause_and_the_last_one_at_close(tmp_path: Path) -> None:
    path = tmp_path / "calls" / "p.json"
    recorder = last_call.CallRecorder(path, every_s=3600)
    recorder.seen(last_call.LastCall(1000.0, 50))
    for _ in range(200):
        if path.exists():
            break
        await asyncio.sleep(0.01)
    recorder.seen(last_call.LastCall(1010.0, 49))  # inside the pause: waits for its end
    await asyncio.sleep(0.05)
    assert last_call.read(path) == last_call.LastCall(1000.0, 50)
    await recorder.close()
    assert last_call.read(path) == last_call.LastCall(1010.0, 49)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_a_bad_configuration_or_spool_is_said_plainly(phone: FakeSmsGatePhone, tmp_path: Path) -> None:
    book = tmp_path / "phones.json"
    phone_book.save(
        book, {phone.device_id: Phone(phone.device_id, "smsgate-local", phone.url, "sms", phone.password)}
    )
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[[channels]]\nid = "c1"\nkind = "smsgate"\nphone = "{phone.device_id}"\nwindow_s = "media hora"\n'
    )
    code, _, err = await recado("phone", "list", "--config", str(config), "--phones", str(book))
    assert code == 1
    assert "channel 'c1': window_s must be a positive number" in err
    config.write_text(f'[[channels]]\nid = "c1"\nkind = "smsgate"\nphone = "{phone.device_id}"\n')
    not_a_spool = tmp_path / "spool.sqlite3"
    not_a_spool.write_bytes(b"this is not SQLite" * 100)
    code, out, err = await recado(
        "phone", "list", "--config", str(config), "--phones", str(book), "--spool", str(not_a_spool)
    )
    assert code == 0, err
    assert "cannot read the spool" in err
    assert "c1 SIM -: ? of 30 parts in the last 30 min" in out
