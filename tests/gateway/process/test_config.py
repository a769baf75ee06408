"""gateway.toml and the command-line flags on top of it; every mistake named, none ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, modem_channel
from gateway.dispatcher import ANDROID_WINDOW_MAX

FULL = """
server = "http://10.0.0.2:8080"
token_file = "gateway.token"
spool = "/var/lib/recado/gateway.sqlite3"
region = "GT"
timezone = "America/Guatemala"
purge_after_days = 3

[link]
wait_s = 20
backoff_max_s = 120

[dispatch]
sticky_down_s = 7200
max_attempts = 5

[health]
interval_s = 15

[[channels]]
id = "telcel-1"
kind = "modem"
port = "/dev/serial/by-id/usb-HUAWEI_Mobile-if00-port0"
rate_per_minute = 20
daily_cap = 500
pin = "1234"

[[channels]]
id = "phone-1"
kind = "fake"
link_kind = "smsgate"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_a_full_file_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "gateway.token").write_text("eyJ.token.sig\n")
    config = load_config(write(tmp_path, FULL), environ={})
    assert config.link.server == "http://10.0.0.2:8080"
    assert config.link.token == "eyJ.token.sig"
    assert (config.link.wait_s, config.link.backoff_max_s, config.link.batch) == (20, 120, 500)
    assert (config.dispatch.sticky_down_s, config.dispatch.max_attempts) == (7200, 5)
    assert config.dispatch.timezone == "America/Guatemala"
    assert config.health.interval_s == 15
    assert config.region == "GT"
    assert config.purge_after_s == 3 * 86400
    modem, phone = config.channels
    assert (modem.limits.rate_per_minute, modem.limits.daily_cap) == (20, 500)
    assert modem.options == {"port": "/dev/serial/by-id/usb-HUAWEI_Mobile-if00-port0", "pin": "1234"}
    assert phone.limits.window_max == ANDROID_WINDOW_MAX  # a phone gets Android's limit unless told otherwise


def test_flags_alone_make_a_gateway(tmp_path: Path) -> None:
    config = load_config(
        server="http://127.0.0.1:8080",
        token="tok",
        modems=["/dev/serial/by-id/usb-ZTE-if00", "movistar=/dev/ttyUSB3"],
        spool=tmp_path / "s.sqlite3",
        environ={},
    )
    assert [(c.id, c.kind, c.options["port"]) for c in config.channels] == [
        ("usb-ZTE-if00", "modem", "/dev/serial/by-id/usb-ZTE-if00"),
        ("movistar", "modem", "/dev/ttyUSB3"),
    ]
    assert config.spool == tmp_path / "s.sqlite3"


def test_flags_win_over_the_file_and_the_token_may_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, 'server = "http://a:1"\n[[channels]]\nid = "f"\nkind = "fake"\n')
    config = load_config(path, server="https://b:2", environ={"RECADO_GATEWAY_TOKEN": "from-env"})
    assert (config.link.server, config.link.token) == ("https://b:2", "from-env")


@pytest.mark.parametrize(
    ("text", "flags", "complaint"),
    [
        ("", {}, "no server"),
        ('server = "ftp://x"', {"token": "t", "modems": ["/dev/x"]}, "not an http"),
        ('server = "http://x"', {"modems": ["/dev/x"]}, "no token"),
        ('server = "http://x"\ntoken = "t"', {}, "no channels"),
        ('server = "http://x"\ntoken = "t"\ncolour = "red"', {"modems": ["/dev/x"]}, "unknown key.*colour"),
        ('server = "http://x"\ntoken = "t"\n[link]\nwait = 3', {"modems": ["/dev/x"]}, r"link\.wait"),
        (
            'server = "http://x"\ntoken = "t"\n[link]\nwait_s = "soon"',
            {"modems": ["/dev/x"]},
            "must be a number",
        ),
        ('server = "http://x"\ntoken = "t"\n[link]\nbatch = 900', {"modems": ["/dev/x"]}, "batch"),
        (
            'server = "http://x"\ntoken = "t"\n[dispatch]\nmax_attempts = 2.5',
            {"modems": ["/dev/x"]},
            "whole number",
        ),
        (
            'server = "http://x"\ntoken = "t"\n[dispatch]\nsticky_down_s = -1',
            {"modems": ["/dev/x"]},
            "negative",
        ),
        ('server = "http://x"\ntoken = "t"\ntimezone = "Mars/Olympus"', {"modems": ["/dev/x"]}, "time zone"),
        ('server = "http://x"\ntoken = "t"\nchannels = 3', {}, "list of tables"),
        ('server = "http://x"\ntoken = "t"\n[[channels]]\nkind = "fake"', {}, "needs an id"),
        ('server = "http://x"\ntoken = "t"\n[[channels]]\nid = "a b"\nkind = "fake"', {}, "without spaces"),
        (
            'server = "http://x"\ntoken = "t"\n[[channels]]\nid = "a"\nkind = "fake"\ndaily_cap = true',
            {},
            "number",
        ),
        (
            'server = "http://x"\ntoken = "t"\n[[channels]]\nid = "a"\nkind = "fake"',
            {"modems": ["a=/dev/x"]},
            "two channels",
        ),
        ('server = "http://x"\ntoken_file = "missing"', {"modems": ["/dev/x"]}, "cannot read token_file"),
        ("server = [", {}, "not valid TOML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, flags: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_config(write(tmp_path, text), environ={}, **flags)  # type: ignore[arg-type]


def test_a_modem_flag_without_a_path_is_refused() -> None:
    with pytest.raises(ConfigError, match="no port path"):
        modem_channel("telcel=")


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})
