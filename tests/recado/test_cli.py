"""The ``recado`` command line: every subcommand is found, and starting it imports only what it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from recado.cli import COMMANDS, cli
from recado.flows_cli import flows_group
from recado.lazy import LazyGroup

# The command as a person runs it, without the RECADO_* settings of whoever runs the tests.
CLEAN_ENV = {key: None for key in os.environ if key.startswith("RECADO_")}


@pytest.mark.parametrize("group", [cli, flows_group], ids=["recado", "flows"])
def test_every_lazy_subcommand_resolves_to_the_command_of_that_name(group: LazyGroup) -> None:
    context = click.Context(group)
    for name in group.lazy_commands:
        command = group.get_command(context, name)
        assert command is not None
        assert command.name == name


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output


def test_an_unknown_subcommand_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["servr"])
    assert result.exit_code == 2
    assert "No such command 'servr'" in result.output


def test_a_mapping_to_the_wrong_command_is_refused() -> None:
    group = LazyGroup("g", commands={"check": "recado.flows_check:check_command", "oops": "recado.cli:cli"})
    with pytest.raises(TypeError, match="is not the 'oops' command"):
        group.get_command(click.Context(group), "oops")


def test_trying_a_flow_does_not_import_the_server_or_the_gateway() -> None:
    probe = (
        "import sys\n"
        "from recado.cli import cli\n"
        "try:\n"
        "    cli(['flows', 'try', '--help'], standalone_mode=False)\n"
        "finally:\n"
        "    print(sorted({m.split('.')[0] for m in sys.modules} & {'server', 'gateway', 'aiohttp', 'sqlalchemy'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_demo_refuses_a_sites_data_directory(tmp_path: Path) -> None:
    site = tmp_path / "site"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--data-dir", str(site)], env=CLEAN_ENV).exit_code == 0
    before = sorted(p.name for p in site.iterdir())
    result = runner.invoke(cli, ["demo", "--data-dir", str(site), "--no-radio"], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "holds a site's data" in result.output
    assert sorted(p.name for p in site.iterdir()) == before  # nothing of the demo's was written


def test_the_demo_refuses_a_database_elsewhere(tmp_path: Path) -> None:
    env = {**CLEAN_ENV, "RECADO_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/somewhere"}
    result = CliRunner().invoke(cli, ["demo", "--data-dir", str(tmp_path / "d"), "--no-radio"], env=env)
    assert result.exit_code == 1
    assert "unset database_url" in result.output
