"""``recado flows check PATH...``: located problems, a summary line, and the exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from recado.cli import cli

NATIVE = Path(__file__).parents[1] / "flows" / "testdata" / "native"


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["flows", "check", *args])
    return result.exit_code, result.output.splitlines()


def test_valid_files_and_folders_pass(tmp_path: Path) -> None:
    folder = tmp_path / "prog"
    (folder / "flows").mkdir(parents=True)
    (folder / "programme.yaml").write_text(
        "programme: P\ngroups: [Embarazadas]\nfields: {fecha_parto: date}\n"
    )
    (folder / "flows" / "registro.yaml").write_text((NATIVE / "registro.yaml").read_text(encoding="utf-8"))
    code, lines = run(str(NATIVE / "registro.yaml"), str(folder))
    assert (code, lines) == (0, ["3 files checked: no problems"])


def test_problems_are_printed_located_with_a_summary_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "registro.yaml"
    bad.write_text(
        (NATIVE / "registro.yaml").read_text(encoding="utf-8").replace("go: guardar", "go: guardr")
    )
    empty = tmp_path / "vacia.yaml"
    empty.write_text("")
    code, lines = run(str(bad), str(empty), str(tmp_path / "no-existe.yaml"))
    assert code == 1
    assert lines == [
        f"{bad}:52:13: node 'confirmar' goes to 'guardr', which does not exist; did you mean 'guardar'?",
        f"{empty}:1:1: the file is empty",
        f"{tmp_path / 'no-existe.yaml'}: cannot read the file: No such file or directory",
        "3 errors in 3 files",
    ]


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text("flow: F\nnodes:\n  a:\n    go: end\n  b:\n    go: a\n")
    expected = [
        f"{flow}:5:3: warning: node 'b' can never be reached: no route leads to it",
        "no errors, 1 warning in 1 file",
    ]
    assert run(str(flow)) == (0, expected)
    assert run("--strict", str(flow)) == (1, expected)


def test_a_programme_with_broken_files_reports_them_all(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "programme.yaml").write_text(
        "programme: P\ntriggers:\n  - keywords: [hola]\n    flow: Nada\n"
    )
    (tmp_path / "flows" / "a.yaml").write_text("flow: A\nnodes:\n  a:\n\t  go: end\n")
    code, lines = run(str(tmp_path))
    assert code == 1
    assert lines == [
        f"{tmp_path / 'flows' / 'a.yaml'}:4:1: a tab in the indentation: indent with spaces",
        f"{tmp_path / 'programme.yaml'}:4:11: the trigger starts the flow 'Nada', which is not in this programme",
        "2 errors in 2 files",
    ]


def test_the_real_command_runs_as_a_process(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    done = subprocess.run(
        [sys.executable, "-m", "recado", "flows", "check", str(flow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{flow}: this is a binary file, not a text file",
        "1 error in 1 file",
    ]
    assert done.stderr == ""


def test_no_paths_is_a_usage_error() -> None:
    code, lines = run()
    assert code == 2
    assert any("Missing argument" in line for line in lines)
