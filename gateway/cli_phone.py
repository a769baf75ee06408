"""``recado phone``: pair the site's Android phones with the gateway, and see how they are doing.

``recado phone pair --app smsgate-local --host ADDR`` talks to the phone before saving anything: ``/health``
(is the app's local server on?), ``/device`` with the login shown in the app (right password? which phone,
which SIM cards?). The phone is saved under the id it reports, so pairing the same phone twice is refused,
and pairing a phone that moved to another address updates the address. The command prints the
``[[channels]]`` entries for ``gateway.toml``: one per SIM, each naming the phone, so the password stays in
the phone book (``phones.json``, mode 0600) and not in the configuration.

For apps that call the gateway (EnvayaSMS, SMSSync, SMSGate in private-server mode) there is nothing to ask:
pairing makes a secret and prints what to type into the app, with the URL also as a QR code (any QR reader
on the phone can copy it). SMSGate in private-server mode talks HTTPS only, so pairing it also makes the
gateway's local certificate authority and server certificate (:mod:`gateway.tls`) and says how to install
the CA on the phone; ``recado phone ca`` exports it again.

Android lets an app send 30 SMS parts per check period. ``--raised-limit`` records that the technician
raised it with adb (docs/technicians.md); the printed channel entries carry the limit either way.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import secrets
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import click
import segno

from gateway import tls
from gateway.android_bridge import last_call, phone_status
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge import smsgate_private_device as private_device
from gateway.android_bridge.phones import Phone, PhoneBookError, Sim
from gateway.android_bridge.smsgate_private import PHONE_APP as PRIVATE_APP
from gateway.android_bridge.smsgate_private_api import default_path as smsgate_private_path
from gateway.cli_chat import chat_command
from gateway.config import default_spool


class PairingError(click.ClickException):
    pass


@click.group("phone")
def phone_group() -> None:
    """Android phones as SMS channels: pair them, list them."""


def _book_option(function: Any) -> Any:
    return click.option(
        "--phones",
        "book",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The phone book (default: phones.json in the gateway's data directory).",
    )(function)


async def probe_smsgate(url: str, user: str, password: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Ask an SMSGate phone who it is; raise PairingError with what the technician should check."""
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.get(url + "/health") as response:
                health = await response.json(content_type=None)
            async with session.get(
                url + "/device", headers={"Authorization": f"Basic {credentials}"}
            ) as response:
                status = response.status
                devices = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise PairingError(
                f"no SMSGate answer at {url} ({type(error).__name__}): is the phone on this network, the app open "
                "and 'Local server' switched on? The address and port are shown in the app."
            ) from error
    if status == 401:
        raise PairingError(
            "the phone refused the user or password: copy them from the app's Local server screen"
        )
    if status != 200 or not isinstance(devices, list) or not devices or not isinstance(devices[0], dict):
        raise PairingError(f"the phone answered GET /device with HTTP {status}")
    device = devices[0]
    if not isinstance(device.get("id"), str) or not device["id"]:
        raise PairingError("the phone did not say its device id")
    return {"health": health if isinstance(health, dict) else {}, "device": device}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _channel_entries(phone: Phone) -> str:
    lines = []
    sims = phone.sims or [Sim(1)]
    for sim in sims:
        name = (phone.name or phone.key)[:40].replace(" ", "-")
        lines += [
            "[[channels]]",
            f'id = "{name}-sim{sim.sim_number}"',
            'kind = "smsgate"',
            f"phone = {json.dumps(phone.key)}",
            f"sim = {sim.sim_number}",
            f"window_max = {phone.sms_limit}",
            f"window_s = {phone.check_period_s}",
            "",
        ]
    return "\n".join(lines)


@phone_group.command("pair")
@click.option(
    "--app",
    type=click.Choice(list(phone_book.APPS)),
    required=True,
    help="The app on the phone.",
)
@click.option(
    "--host", default=None, help="SMSGate local: the phone's address (shown in the app), e.g. 192.168.1.50."
)
@click.option("--port", default=8080, show_default=True, help="SMSGate local: the app's port.")
@click.option("--user", default="sms", show_default=True, help="SMSGate local: the user shown in the app.")
@click.option("--password", default=None, help="SMSGate local: the password shown in the app.")
@click.option("--name", default=None, help="A name for the phone (required for apps that call the gateway).")
@click.option(
    "--url",
    "public_url",
    default=None,
    help="Apps that call the gateway: where the phone reaches it, e.g. http://192.168.1.2:8090 "
    "(SMSGate private server: https://192.168.1.2:8443).",
)
@click.option(
    "--raised-limit",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Parts per check period after raising Android's limit with adb.",
)
@click.option(
    "--check-period-s",
    type=click.IntRange(1, 86_400),
    default=None,
    help="Android's check period in seconds, if it was changed with adb.",
)
@_book_option
def pair(
    app: str,
    host: str | None,
    port: int,
    user: str,
    password: str | None,
    name: str | None,
    public_url: str | None,
    raised_limit: int | None,
    check_period_s: int | None,
    book: Path | None,
) -> None:
    """Pair a phone: check it answers, save it, and print what goes into gateway.toml."""
    path = book or phone_book.default_path()
    try:
        phones = phone_book.load(path)
    except PhoneBookError as error:
        raise click.ClickException(str(error)) from error
    if app == "smsgate-local":
        phone = _pair_smsgate_local(phones, host, port, user, password, name)
    elif app == "smsgate-cloud":
        phone = _pair_smsgate_cloud(phones, name, public_url, path, explicit_book=book is not None)
    else:
        phone = _pair_dial_in(phones, app, name, public_url)
    if raised_limit is not None:
        phone.sms_limit = raised_limit
    if check_period_s is not None:
        phone.check_period_s = check_period_s
    phones[phone.key] = phone
    phone_book.save(path, phones)
    click.echo(f"saved in {path}")
    if app == "smsgate-local":
        click.echo("\nAdd to gateway.toml (one channel per SIM):\n")
        click.echo(_channel_entries(phone))


def _pair_smsgate_local(
    phones: dict[str, Phone], host: str | None, port: int, user: str, password: str | None, name: str | None
) -> Phone:
    if not host or not password:
        raise click.UsageError("--app smsgate-local needs --host and --password (both shown in the app)")
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{netloc}:{port}"
    if urlsplit(url).hostname is None:
        raise click.UsageError(f"--host {host!r} is not an address")
    answer = asyncio.run(probe_smsgate(url, user, password))
    device = answer["device"]
    key = device["id"]
    sims = [
        Sim(s["simNumber"], s.get("phoneNumber"), s.get("carrierName"))
        for s in device.get("simCards") or []
        if isinstance(s, dict) and isinstance(s.get("simNumber"), int)
    ]
    click.echo(
        f"phone {key} ({device.get('name', '?')}) answers at {url}: health {answer['health'].get('status', '?')}"
    )
    for sim in sims:
        click.echo(
            f"  SIM {sim.sim_number}: {sim.phone_number or 'number unknown'} {sim.carrier or ''}".rstrip()
        )
    known = phones.get(key)
    if known is not None:
        if known.url == url:
            raise click.ClickException(f"phone {key} is already paired at {url}")
        click.echo(f"phone {key} moved: {known.url} -> {url}; the address is updated")
        known.url, known.user, known.password, known.updated_at = url, user, password, _now()
        known.sims = sims or known.sims
        return known
    for other in phones.values():
        if other.url == url and other.key != key:
            click.echo(f"note: {url} was the address of phone {other.key}; that phone must have moved")
    return Phone(
        key=key,
        app="smsgate-local",
        url=url,
        user=user,
        password=password,
        name=name,
        sims=sims,
        paired_at=_now(),
    )


def _pair_dial_in(phones: dict[str, Phone], app: str, name: str | None, public_url: str | None) -> Phone:
    if not name or not public_url:
        raise click.UsageError(
            f"--app {app} needs --name (the channel's name) and --url (where the phone calls)"
        )
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"--url {public_url!r} is not an http:// or https:// URL")
    if name in phones:
        raise click.ClickException(f"a phone named {name!r} is already paired")
    secret = secrets.token_urlsafe(12)
    prefix = "envaya" if app == "envaya" else "smssync"
    endpoint = f"{public_url.rstrip('/')}/{prefix}/{quote(name, safe='')}"
    listen_port = parts.port or (443 if parts.scheme == "https" else 80)
    label = "Password" if app == "envaya" else "Secret"
    click.echo(f"In the {app} app on the phone, enter:\n  Server URL: {endpoint}\n  {label}: {secret}")
    if app == "smssync":
        click.echo("  and switch on the app's Message Results API")
    _echo_qr(endpoint)
    secret_key = "password" if app == "envaya" else "secret"
    click.echo("Add to gateway.toml:\n")
    click.echo(
        "\n".join(
            [
                "[[channels]]",
                f"id = {json.dumps(name)}",
                f'kind = "{prefix}"',
                f'listen = "0.0.0.0:{listen_port}"',
                f"url = {json.dumps(endpoint)}",
                f"phone = {json.dumps(name)}   # the {secret_key} is read from the phone book",
                *(["results_api = true"] if app == "smssync" else []),
                f"window_max = {phone_book.ANDROID_MAX_COUNT}",
                f"window_s = {phone_book.ANDROID_CHECK_PERIOD_S}",
                "",
            ]
        )
    )
    return Phone(key=name, app=app, url=endpoint, password=secret, name=name, paired_at=_now())


def _echo_qr(url: str) -> None:
    qr = io.StringIO()
    segno.make(url, error="m").terminal(out=qr, compact=True)
    click.echo("\nThe URL as a QR code (scan it with the phone's camera and copy it into the app):")
    click.echo(qr.getvalue())


def _pair_smsgate_cloud(
    phones: dict[str, Phone], name: str | None, public_url: str | None, book: Path, *, explicit_book: bool
) -> Phone:
    if not name or not public_url:
        raise click.UsageError(
            "--app smsgate-cloud needs --name (the phone's name) and --url (https://ADDRESS:PORT the phone dials)"
        )
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.hostname:
        raise click.UsageError(f"--url {public_url!r} is not an https:// URL (the app refuses plain HTTP)")
    if name in phones:
        raise click.ClickException(f"a phone named {name!r} is already paired")
    directory = book.parent / "tls"
    try:
        tls.ensure_server(directory, [parts.hostname])
    except tls.TlsError as error:
        raise click.ClickException(str(error)) from error
    ca_file = tls.ca_paths(directory)[0]
    token = secrets.token_urlsafe(18)
    api_url = public_url.rstrip("/") + smsgate_private_path(name)
    click.echo(
        "\n".join(
            [
                "1. Install the gateway's certificate authority on the phone (once per phone):",
                f"   copy {ca_file} to the phone (USB cable, or: adb push {ca_file} /sdcard/Download/recado-ca.crt),",
                "   then Settings > Security > Encryption & credentials > Install a certificate > CA certificate,",
                "   and pick the file. Under Trusted credentials > User it shows this SHA-256 fingerprint:",
                f"   {tls.fingerprint(ca_file)}",
                "2. In SMSGate: Settings > Cloud server, enter",
                f"   API URL: {api_url}",
                f"   Private token: {token}",
                "   and set Notification channel to SSE only. Restart the app, choose Cloud server, tap Online.",
                "   The phone needs a connection Android calls validated (with internet) on Android 8 and later:",
                "   see docs/android.md.",
            ]
        )
    )
    _echo_qr(api_url)
    click.echo("Add to gateway.toml (for a second SIM, copy it with sim = 2 and another id):\n")
    click.echo(
        "\n".join(
            [
                "[[channels]]",
                f"id = {json.dumps(name[:58].replace(' ', '-') + '-sim1')}",
                'kind = "smsgate-private"',
                f'listen = "0.0.0.0:{parts.port or 443}"',
                f"url = {json.dumps(api_url)}",
                f"phone = {json.dumps(name)}   # the private token is read from the phone book",
                *([f"phones_file = {json.dumps(str(book.resolve()))}"] if explicit_book else []),
                "sim = 1",
                f"window_max = {phone_book.ANDROID_MAX_COUNT}",
                f"window_s = {phone_book.ANDROID_CHECK_PERIOD_S}",
                "",
            ]
        )
    )
    return Phone(key=name, app="smsgate-cloud", url=api_url, password=token, name=name, paired_at=_now())


@phone_group.command("ca")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CA certificate here (e.g. a USB stick) instead of printing it.",
)
@_book_option
def export_ca(out: Path | None, book: Path | None) -> None:
    """The certificate authority phones install to trust the gateway's HTTPS (SMSGate private server)."""
    directory = (book or phone_book.default_path()).parent / "tls"
    try:
        ca_file = tls.ensure_ca(directory)
    except tls.TlsError as error:
        raise click.ClickException(str(error)) from error
    pem = ca_file.read_text(encoding="ascii")
    if out is None:
        click.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        click.echo(f"wrote {out}")
    click.echo(f"SHA-256 fingerprint: {tls.fingerprint(ca_file)}", err=out is None)


@phone_group.command("list")
@click.option(
    "--spool",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The gateway's spool, read only (default: the configuration's, else the usual place).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="gateway.toml, to know which channel is which SIM and who the queued messages wait for.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per phone.")
@_book_option
def list_phones(spool: Path | None, config_file: Path | None, as_json: bool, book: Path | None) -> None:
    """Each phone and SIM: registered, health, battery, last seen, parts sent in the current window against
    the limit, and the messages waiting for it."""
    path = book or phone_book.default_path()
    try:
        phones = phone_book.load(path)
    except PhoneBookError as error:
        raise click.ClickException(str(error)) from error
    if not phones:
        click.echo(f"no phones paired ({path})")
        return
    setup = _gateway_setup(config_file)
    now = time.time()
    spool_path = spool or setup.spool or default_spool()
    view: phone_status.SpoolView | None = None
    try:
        view = phone_status.read_spool(spool_path, setup.windows(phones), setup.channel_ids, now)
    except phone_status.SpoolReadError as error:
        click.echo(f"{error}: no parts or queue figures", err=True)
    rows = asyncio.run(_rows(list(phones.values()), setup, view, path, now))
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            _echo_row(row)
    if view is not None and not as_json:
        own = sum(view.waiting.own.values())
        if setup.channel_ids:
            click.echo(
                f"spool: {own} message(s) waiting for a channel of their own, {view.waiting.any} for any channel"
            )
        else:
            click.echo(
                f"spool: {own + view.waiting.any} message(s) waiting (give --config to say for which SIM)"
            )


def _echo_row(row: dict[str, Any]) -> None:
    battery = f"{row['battery']}%" if row["battery"] is not None else "?"
    registered = ""
    if row["registered"] is not None:
        registered = f"registered {_when(row['registered_at'])}, " if row["registered"] else ""
    click.echo(
        f"{row['phone']} ({row['app']}): {registered}{row['health']}, battery {battery}, "
        f"last seen {_when(row['last_seen']) if row['last_seen'] else 'never'}"
    )
    for channel in row["channels"]:
        parts = channel["parts_in_window"] if channel["parts_in_window"] is not None else "?"
        line = (
            f"  {channel['id']} SIM {channel['sim'] or '-'}: {parts} of {channel['limit']} parts in the last "
            f"{phone_status.duration(channel['window_s'])}"
        )
        if channel["waiting_for_this_sim"] is not None:
            line += (
                f"; waiting: {channel['waiting_for_this_sim']} for this SIM, "
                f"{channel['waiting_for_any']} for any channel"
            )
        if channel["problem"]:
            line += f"; {channel['problem']}"
        click.echo(line)
    if row.get("with_phone"):
        click.echo(f"  {row['with_phone']} message(s) handed to the phone, not yet reported sent or failed")


def _when(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _GatewaySetup:
    """What ``recado phone list`` needs from gateway.toml (read as it is: the file may name a token file this
    user cannot read, which the list has no use for)."""

    by_phone: dict[str, list[dict[str, Any]]]
    channel_ids: frozenset[str]
    spool: Path | None

    def windows(self, phones: dict[str, Phone]) -> dict[str, float]:
        return {
            str(entry["id"]): float(entry.get("window_s", phone.check_period_s))
            for key, phone in phones.items()
            for entry in self.by_phone.get(key, [])
        }


def _gateway_setup(config_file: Path | None) -> _GatewaySetup:
    if config_file is None:
        return _GatewaySetup({}, frozenset(), None)
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot read {config_file}: {error}") from error
    by_phone: dict[str, list[dict[str, Any]]] = {}
    ids: set[str] = set()
    for entry in data.get("channels", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        for key in ("window_s", "window_max", "quiet_after_s"):
            value = entry.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise click.ClickException(
                    f"{config_file}: channel {entry['id']!r}: {key} must be a positive number"
                )
        ids.add(entry["id"])
        if isinstance(entry.get("phone"), str):
            by_phone.setdefault(entry["phone"], []).append(entry)
    spool = data.get("spool")
    return _GatewaySetup(by_phone, frozenset(ids), Path(spool) if isinstance(spool, str) and spool else None)


async def _rows(
    phones: list[Phone], setup: _GatewaySetup, view: phone_status.SpoolView | None, book: Path, now: float
) -> list[dict[str, Any]]:
    states = await asyncio.gather(
        *(
            _ask_phone(phone)
            if phone.app == "smsgate-local"
            else asyncio.to_thread(_dial_in_state, phone, setup.by_phone.get(phone.key, []), book, now)
            for phone in phones
        )
    )
    rows = []
    for phone, state in zip(phones, states, strict=True):
        entries = []
        for entry in setup.by_phone.get(phone.key, []):
            channel_id = str(entry.get("id"))
            sim = entry.get("sim")
            sims = state.get("sims")
            entries.append(
                {
                    "id": channel_id,
                    "sim": sim,
                    "parts_in_window": view.parts_in_window.get(channel_id) if view else None,
                    "limit": int(entry.get("window_max", phone.sms_limit)),
                    "window_s": int(entry.get("window_s", phone.check_period_s)),
                    "waiting_for_this_sim": view.waiting.own.get(channel_id, 0) if view else None,
                    "waiting_for_any": view.waiting.any if view else None,
                    "problem": f"SIM {sim} is not in the phone"
                    if isinstance(sim, int) and sims and sim not in sims
                    else None,
                }
            )
        rows.append(
            {
                "phone": phone.name or phone.key,
                "key": phone.key,
                "app": phone.app,
                "url": phone.url,
                "registered": state.get("registered"),
                "registered_at": state.get("registered_at"),
                "healthy": state["healthy"],
                "health": state["health"],
                "battery": state.get("battery"),
                "last_seen": state.get("last_seen"),
                "sims": [s.sim_number for s in phone.sims] or state.get("sims") or [],
                "limit": phone.sms_limit,
                "check_period_s": phone.check_period_s,
                "channels": entries,
                **({"with_phone": state["with_phone"]} if "with_phone" in state else {}),
            }
        )
    return rows


async def _ask_phone(phone: Phone) -> dict[str, Any]:
    """An SMSGate phone on the site's network is asked live; it is seen now or not at all."""
    url = phone.url or ""
    try:
        answer = await probe_smsgate(url, phone.user or "sms", phone.password or "", timeout_s=3.0)
    except PairingError as error:
        return {"registered": None, "healthy": False, "health": f"not answering: {error.message}"}
    device = answer["device"]
    if device["id"] != phone.key:
        return {
            "registered": None,
            "healthy": False,
            "health": f"a different phone answers at {url}: pair both phones again",
        }
    status = answer["health"].get("status", "?")
    level = (answer["health"].get("checks") or {}).get("battery:level")
    value = level.get("observedValue") if isinstance(level, dict) else None
    return {
        "registered": None,
        "healthy": status != "fail",
        "health": f"answers, health {status}",
        "battery": value if isinstance(value, int) and not isinstance(value, bool) else None,
        "last_seen": _iso(time.time()),
        "sims": [s["simNumber"] for s in device.get("simCards") or [] if isinstance(s, dict)],
    }


def _dial_in_state(phone: Phone, entries: list[dict[str, Any]], book: Path, now: float) -> dict[str, Any]:
    """A phone that calls the gateway, as the gateway last recorded it (running or not)."""
    channel_book = Path(str(entries[0]["phones_file"])) if entries and entries[0].get("phones_file") else book
    quiet_after_s = float(entries[0].get("quiet_after_s", phone_status.QUIET_AFTER_S)) if entries else 300.0
    state: dict[str, Any] = {"registered": None}
    push = False
    try:
        call = last_call.read(last_call.path_for(channel_book, phone.key))
    except last_call.LastCallError as error:
        return {**state, "healthy": False, "health": str(error)}
    if phone.app == PRIVATE_APP:
        state_dir = Path(str(entries[0]["state_dir"])) if entries and entries[0].get("state_dir") else None
        directory = state_dir or private_device.default_state_dir(channel_book)
        try:
            registration = private_device.load(private_device.path_for(directory, phone.key))
            handed = private_device.load_messages(private_device.messages_path_for(directory, phone.key))
        except private_device.RegistrationError as error:
            return {**state, "healthy": False, "health": str(error)}
        if registration is None:
            return {
                "registered": False,
                "healthy": False,
                "health": "never registered: enter the API URL and private token in the app",
            }
        state.update(
            registered=True,
            registered_at=_iso(registration.registered_at),
            sims=registration.sims,
            with_phone=len(handed),
        )
        push = registration.push_token
        call = call or last_call.LastCall(registration.registered_at)  # registered before calls were kept
    health = phone_status.call_health(call, now, quiet_after_s)
    text = health.health
    if push:
        text += "; the app uses push notifications: set it to SSE only"
    return {
        **state,
        "healthy": health.healthy,
        "health": text,
        "battery": call.battery if call else None,
        "last_seen": _iso(call.at) if call else None,
    }


phone_group.add_command(chat_command)  # `recado phone chat`: the demo's mother, in gateway/cli_chat.py
