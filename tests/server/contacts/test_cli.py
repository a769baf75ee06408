"""``recado contacts import`` against a real data directory and SQLite file."""

from __future__ import annotations

import asyncio
import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recado.cli import cli
from server import contacts
from server.db.engine import create_engine


@pytest.fixture
def data_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    shutil.copyfile(sqlite_template, directory / "recado.sqlite3")
    return directory


def stored(data_dir: Path) -> dict[str, contacts.Contact]:
    async def read() -> dict[str, contacts.Contact]:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'recado.sqlite3'}")
        try:
            async with engine.connect() as conn:
                found = await contacts.search_contacts(conn, contacts.ContactQuery(), limit=100)
        finally:
            await engine.dispose()
        return {c.phone: c for c in found}

    return asyncio.run(read())


def run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["contacts", "import", "--data-dir", str(data_dir), *args])
    return result.exit_code, result.stdout, result.stderr


def test_import_a_register(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "registro.csv"
    source.write_text(
        "Teléfono,Nombre,FPP,Clínica\n55 1234 5678,Ana,01/03/2027,Norte\n33 1234 5678,Bety,,Sur\n"
    )
    code, out, err = run(data_dir, str(source), "--map", "FPP=field:due_date:date", "--map", "Clínica=group")
    assert code == 0, err
    assert "registro.csv: 2 rows, 2 contacts created, 0 updated, 0 refused" in out
    assert "importing" in err  # the progress bar, on stderr
    people = stored(data_dir)
    assert people["+525512345678"].fields == {"due_date": "2027-03-01"}
    assert [g.name for g in people["+523312345678"].groups] == ["Sur"]
    code, out, _ = run(data_dir, str(source), "--map", "FPP=field:due_date", "--map", "Clínica=group")
    assert code == 0
    assert "0 contacts created, 2 updated" in out


def test_refused_rows_are_listed_and_the_exit_status_says_so(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "registro.csv"
    source.write_text("phone,name\n5512345678,Ana\n12345,Bety\n" + "".join("x,y\n" for _ in range(60)))
    report = tmp_path / "problemas.csv"
    code, out, err = run(data_dir, str(source), "--report", str(report))
    assert code == 1
    assert "1 contacts created, 0 updated, 61 refused" in out
    assert "row 3, column phone: phone is too short for a number in +52 (MX)" in err
    assert "... and 11 more problems" in err
    with report.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "column", "problem"]
    assert rows[1] == ["3", "phone", "phone is too short for a number in +52 (MX)"]
    assert len(rows) == 62
    assert list(stored(data_dir)) == ["+525512345678"]


def test_a_file_that_cannot_be_imported_changes_nothing(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "registro.csv"
    source.write_bytes("teléfono,nombre,Notas\n5512345678,María,\n".encode("cp1252"))
    code, _, err = run(data_dir, str(source))
    assert code == 1
    assert "not UTF-8 text: line 1" in err
    assert "Nothing was imported" in err
    code, _, err = run(data_dir, str(source), "--encoding", "cp1252")
    assert code == 1
    assert "not mapped to anything: Notas" in err
    assert stored(data_dir) == {}
    code, _, err = run(data_dir, str(source), "--encoding", "cp1252", "--map", "Notas=ignore")
    assert code == 0, err
    assert [c.name for c in stored(data_dir).values()] == ["María"]


@pytest.mark.parametrize("mapping", ["Notas", "Notas=email", "Notas=field:Bad Key"])
def test_a_bad_map_is_a_usage_error(data_dir: Path, tmp_path: Path, mapping: str) -> None:
    source = tmp_path / "registro.csv"
    source.write_text("phone,Notas\n5512345678,x\n")
    code, _, err = run(data_dir, str(source), "--map", mapping)
    assert code == 2
    assert "Notas" in err


def test_a_missing_file_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run(data_dir, str(tmp_path / "no.csv"))
    assert code == 2
    assert "does not exist" in err
