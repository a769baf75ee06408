"""The files in deploy/ are what a technician copies onto a box: the systemd units parse, run `recado`
subcommands with options that exist, harden the service and give the gateway the modems; the udev rule is
well formed and names the vendors the technicians' guide lists; the example gateway.toml loads."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gateway.config import load_config
from recado.cli import cli as recado_command

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
UNITS = ("recado-server.service", "recado-gateway.service")
INSTALLED_RECADO = "/opt/recado/venv/bin/recado"  # where deploy/README.md installs the command
# Files deploy/README.md installs from deploy/: the commands' options that must name an existing file find it.
INSTALLED_FILES = {"/etc/recado/gateway.toml": DEPLOY / "gateway.toml"}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
}


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit's sections and keys, each key with all its values (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate((DEPLOY / name).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if header := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(header.group(1), {})
            continue
        key, equals, value = line.partition("=")
        assert current is not None, f"{name}:{number}: a key before any section"
        assert equals, f"{name}:{number}: not KEY=VALUE: {raw!r}"
        assert re.fullmatch(r"[A-Za-z]+", key), f"{name}:{number}: not a key: {key!r}"
        current.setdefault(key, []).append(value)
    return sections


def _one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, (section, key, values)
    return values[0]


def _check_command(argv: list[str]) -> click.Command:
    """Parse ``argv`` as the `recado` command line would, without running it: the group's options up to the
    subcommand, then the subcommand's own. An unknown subcommand or option raises click's usage errors."""
    assert isinstance(recado_command, click.Group)
    names = set(recado_command.list_commands(click.Context(recado_command)))
    at = next((index for index, word in enumerate(argv) if word in names), None)
    assert at is not None, f"no recado subcommand in {argv}"
    argv = [str(INSTALLED_FILES.get(word, word)) for word in argv]
    context = recado_command.make_context("recado", argv[1:at])
    name, command, arguments = recado_command.resolve_command(context, argv[at:])
    assert name is not None
    assert command is not None
    command.make_context(name, arguments, parent=context)
    return command


@pytest.mark.parametrize("name", UNITS)
def test_unit_runs_a_recado_subcommand_with_options_that_exist(name: str) -> None:
    unit = _unit(name)
    assert set(unit) == {"Unit", "Service", "Install"}
    argv = shlex.split(_one(unit, "Service", "ExecStart"))
    assert argv[0] == INSTALLED_RECADO
    command = _check_command(argv)
    assert command.name == name.removeprefix("recado-").removesuffix(".service")
    assert _one(unit, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", UNITS)
def test_unit_runs_as_the_recado_user_hardened_and_restarts(name: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert _one(unit, "Service", "User") == "recado"
    assert {key: _one(unit, "Service", key) for key in HARDENING} == HARDENING
    assert _one(unit, "Service", "Restart") in {"on-failure", "always"}
    # A configuration mistake exits with click's usage status: restarting in a loop would hide it.
    assert _one(unit, "Service", "RestartPreventExitStatus") == "2"
    assert "StateDirectory" in service
    assert "network-online.target" in _one(unit, "Unit", "After")


def test_only_the_gateway_may_open_modems() -> None:
    server, gateway = (_unit(name)["Service"] for name in UNITS)
    assert server["PrivateDevices"] == ["yes"]
    assert "PrivateDevices" not in gateway
    assert gateway["SupplementaryGroups"] == ["dialout"]
    assert gateway["DevicePolicy"] == ["closed"]
    assert sorted(gateway["DeviceAllow"]) == ["char-ttyACM rw", "char-ttyUSB rw"]


def test_the_gateway_unit_reads_the_example_configuration_which_loads() -> None:
    argv = shlex.split(_one(_unit("recado-gateway.service"), "Service", "ExecStart"))
    assert argv[argv.index("--config") + 1] == "/etc/recado/gateway.toml"
    config = load_config(DEPLOY / "gateway.toml", token="a-token-instead-of-the-token-file", environ={})
    assert config.spool == Path("/var/lib/recado-gateway/gateway.sqlite3")  # inside its StateDirectory
    assert [(c.id, c.kind, c.options["port"]) for c in config.channels] == [
        ("telcel-1", "modem", "/dev/recado/telcel-1")
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    # systemd checks that ExecStart's program exists, so the copies run the `recado` of this environment.
    here = str(Path(sys.executable).with_name("recado"))
    for name in UNITS:
        (tmp_path / name).write_text((DEPLOY / name).read_text().replace(INSTALLED_RECADO, here))
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            "--recursive-errors=no",
            *(str(tmp_path / n) for n in UNITS),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_sysusers_makes_the_user_and_puts_it_in_dialout() -> None:
    lines = [
        shlex.split(line)
        for line in (DEPLOY / "recado.sysusers").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ["u", "recado", "-", "recado SMS conversations", "/var/lib/recado", "/usr/sbin/nologin"] in lines
    assert ["m", "recado", "dialout"] in lines


# --- the udev rule -------------------------------------------------------------------------------------------

_MATCH = {"==", "!="}
_ASSIGN = {"=", "+=", ":="}
_TERM = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[.\w]+)\})?(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"\s*')


def _rule_lines(text: str) -> list[list[tuple[str, str, str]]]:
    """Each rule as (key, operator, value) terms; a line that is not `KEY{attr}op"value", ...` fails."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        terms = []
        for part in raw.split(", "):
            term = _TERM.fullmatch(part)
            assert term, f"line {number}: {part!r}"
            key = term["key"] + (f"{{{term['attr']}}}" if term["attr"] else "")
            terms.append((key, term["op"], term["value"]))
        assert any(op in _MATCH for _, op, _ in terms) or terms[0][0] == "LABEL", f"line {number}: no match"
        assert all(op in _MATCH | _ASSIGN for _, op, _ in terms)
        rules.append(terms)
    return rules


def test_udev_rule_is_well_formed_and_its_gotos_land() -> None:
    text = (DEPLOY / "70-recado-modems.rules").read_text()
    rules = _rule_lines(text)
    labels = {value for rule in rules for key, _, value in rule if key == "LABEL"}
    gotos = {value for rule in rules for key, _, value in rule if key == "GOTO"}
    assert gotos == labels == {"recado_modems_end", "recado_modems_named"}
    # The example lines a technician uncomments are well formed too.
    examples = [line.lstrip("# ") for line in text.splitlines() if line.startswith("#   ENV{")]
    assert len(_rule_lines("\n".join(examples))) == 3


def test_udev_rule_gives_known_modems_the_group_a_stable_name_and_keeps_modemmanager_off() -> None:
    rules = _rule_lines((DEPLOY / "70-recado-modems.rules").read_text())
    vendors = {
        (rule[0][2], rule[1][2]) for rule in rules if rule[0][0] == "ENV{ID_VENDOR_ID}" and len(rule) == 3
    }
    # Huawei E3131/E1752, SIMCom SIM7600 and Quectel EC25: the modems docs/technicians.md covers.
    assert vendors == {("12d1", "1506|1001"), ("1e0e", "9001"), ("2c7c", "0125")}
    access = [rule for rule in rules if ("GROUP", "=", "dialout") in rule]
    assert access
    assert ("ENV{ID_MM_DEVICE_IGNORE}", "=", "1") in access[0]
    assert ("MODE", "=", "0660") in access[0]
    names = [value for rule in rules for key, _, value in rule if key == "SYMLINK"]
    assert names == [f"recado/{v}-$env{{ID_SERIAL_SHORT}}" for v in ("huawei", "simcom", "quectel")]
