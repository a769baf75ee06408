"""``recado flows import`` as people run it: real export files in, a programme folder and a report out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flows.programme import load_programme
from flows.rapidpro import MAX_EXPORT_BYTES, import_export
from recado.cli import cli

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "rapidpro"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixture exports not found at {FIXTURES}")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["flows", "import", *args])


def import_to(tmp_path: Path, name: str, *extra: str) -> tuple[Result, Path]:
    out = tmp_path / "programme"
    return run(str(FIXTURES / name), "--out", str(out), *extra), out


@needs_fixtures
def test_import_writes_a_programme_and_prints_the_report(tmp_path: Path) -> None:
    result, out = import_to(tmp_path, "cataclysm.json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f'programme "cataclysm" written to {out}'
    assert 'flow "Cataclysmic"' in lines
    assert any("unsupported action send_broadcast" in line and "node 35416fea" in line for line in lines)
    assert lines[-1].startswith(f"{FIXTURES / 'cataclysm.json'}: imported 2 flows, 2 fields, 5 groups")
    assert (out / "programme.yaml").is_file()
    assert len(list((out / "flows").glob("*.yaml"))) == 2


@needs_fixtures
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("survey_campaign.json", "legacy format"),
        ("two_questions.json", "goflow assets file"),
        ("random.json", "router test case file"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_and_nothing_is_written(
    tmp_path: Path, name: str, words: str
) -> None:
    result, out = import_to(tmp_path, name)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {FIXTURES / name}: ")
    assert words in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


@needs_fixtures
def test_legacy_refusal_says_how_to_reexport(tmp_path: Path) -> None:
    result, _ = import_to(tmp_path, "survey_campaign.json")
    assert "open each flow in the flow editor and save it, then export again" in result.stderr


def test_bad_json_is_reported_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": "13",\n "flows": [}\n', encoding="utf-8")
    result = run(str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"Error: {path}:2:12: not valid JSON" in result.stderr


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.json"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    result = run(str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_a_file_too_big_to_be_an_export_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: the refusal must not depend on the content
    result = run(str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "52.4 MB" in result.stderr
    assert f"up to {MAX_EXPORT_BYTES // (1024 * 1024)} MB" in result.stderr


@needs_fixtures
def test_an_existing_folder_with_files_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "programme"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = run(str(FIXTURES / "favorites_v13.json"), "--out", str(out))
    assert result.exit_code == 1
    assert "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    result = run(str(FIXTURES / "favorites_v13.json"), "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert (out / "programme.yaml").is_file()
    # importing a newer export over it replaces the programme, flow files included
    result = run(str(FIXTURES / "rating_10.json"), "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (out / "flows").iterdir()] == ["rate-us.yaml"]


@needs_fixtures
@pytest.mark.parametrize(
    "name",
    [
        "favorites_v13.json",
        "color_v13.json",
        "rating_10.json",
        "cataclysm.json",
        "campaign_import_with_translations.json",
    ],
)
def test_written_programme_loads_back_to_an_equal_model(tmp_path: Path, name: str) -> None:
    result, out = import_to(tmp_path, name, "--name", "Importado")
    assert result.exit_code == 0, result.output
    expected, _ = import_export((FIXTURES / name).read_bytes(), str(FIXTURES / name), name="Importado")
    assert load_programme(out) == expected


@needs_fixtures
@pytest.mark.parametrize("name", ["two_questions.json", "all_actions.json", "number_quiz.json"])
def test_real_goflow_flows_written_as_yaml_load_back_equal(name: str) -> None:
    from flows.native import dump_flow, load_flow_text

    flows = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["flows"]
    programme, _ = import_export({"version": "13", "flows": flows}, name)
    assert programme.flows
    for flow in programme.flows:
        assert load_flow_text(dump_flow(flow), f"{flow.name}.yaml") == flow


@needs_fixtures
def test_the_command_runs_as_a_real_process(tmp_path: Path) -> None:
    out = tmp_path / "programme"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recado",
            "flows",
            "import",
            str(FIXTURES / "rating_10.json"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith(
        "1 trigger; 0 unsupported, 0 changed, 0 problems, 0 warnings"
    )
    assert (out / "programme.yaml").is_file()
