"""``recado flows load`` as a person runs it: a programme folder in, a report of what changed out."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flows.model import Programme
from flows.programme import write_programme
from recado.cli import cli
from server.db.engine import create_engine
from server.db.schema import programme, programme_flows
from tests.server.runner import kit


def write(folder: Path, content: Programme) -> Path:
    write_programme(content, folder, replace=True)
    return folder


def load(data_dir: Path, folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["flows", "load", "--data-dir", str(data_dir), str(folder)])
    return result.exit_code, result.output


def stored_flow_names(data_dir: Path) -> list[str]:
    async def read() -> list[str]:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'recado.sqlite3'}")
        try:
            async with engine.connect() as conn:
                names = await conn.execute(
                    sa.select(programme_flows.c.name).order_by(programme_flows.c.position)
                )
                return list(names.scalars())
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def test_a_good_folder_loads_and_says_what_it_added(tmp_path: Path, data_dir: Path) -> None:
    folder = write(tmp_path / "prueba", kit.programme())
    code, output = load(data_dir, folder)
    assert code == 0, output
    assert "programme 'Prueba', revision 1" in output
    assert "flows: added Registro, Alerta, Ayuda, Consulta" in output
    assert "fields: added semanas" in output
    assert "groups: added Embarazadas" in output
    assert "triggers: added hola, registro → Registro" in output
    assert stored_flow_names(data_dir) == ["Registro", "Alerta", "Ayuda", "Consulta"]

    code, output = load(data_dir, folder)
    assert code == 0
    assert "nothing changed" in output


def test_a_reload_reports_the_changed_flow(tmp_path: Path, data_dir: Path) -> None:
    folder = write(tmp_path / "prueba", kit.programme())
    assert load(data_dir, folder)[0] == 0
    changed = kit.programme(registro=kit.REGISTRO.replace("¿Cómo te llamas?", "¿Cuál es tu nombre?"))
    code, output = load(data_dir, write(folder, changed))
    assert code == 0, output
    assert "programme 'Prueba', revision 2" in output
    assert "flows: changed Registro" in output
    assert "fields:" not in output


def test_a_folder_with_an_error_is_refused_entirely(tmp_path: Path, data_dir: Path) -> None:
    folder = write(tmp_path / "prueba", kit.programme())
    assert load(data_dir, folder)[0] == 0
    registro = folder / "flows" / "registro.yaml"
    registro.write_text(registro.read_text().replace("go: guardar", "go: guardr", 1), encoding="utf-8")
    (folder / "flows" / "nueva.yaml").write_text("flow: Nueva\nnodes:\n  a:\n    send: hola\n    go: end\n")
    code, output = load(data_dir, folder)
    assert code == 1
    assert "guardr" in output
    assert "nothing was loaded" in output
    assert stored_flow_names(data_dir) == ["Registro", "Alerta", "Ayuda", "Consulta"]


@pytest.mark.parametrize(
    "programme_yaml",
    [
        "programme: Prueba\nfields: {name: text}\n",  # a field the contact tables reserve
        "programme: [1, 2]\n",
        "\x00\x01binary",
        "programme: Prueba\ntriggers:\n  - keywords: [hola]\n    flow: No existe\n",
    ],
)
def test_hostile_programme_files_are_refused(tmp_path: Path, data_dir: Path, programme_yaml: str) -> None:
    folder = tmp_path / "malo"
    (folder / "flows").mkdir(parents=True)
    (folder / "programme.yaml").write_text(programme_yaml, encoding="utf-8")
    code, output = load(data_dir, folder)
    assert code == 1, output
    assert "nothing was loaded" in output

    async def count() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'recado.sqlite3'}")
        try:
            async with engine.connect() as conn:
                return int(
                    (await conn.execute(sa.select(sa.func.count()).select_from(programme))).scalar_one()
                )
        finally:
            await engine.dispose()

    # Refused while reading the folder (no database opened) or while storing (rolled back): nothing stored.
    assert not (data_dir / "recado.sqlite3").exists() or asyncio.run(count()) == 0


def test_a_missing_folder_is_a_usage_error(tmp_path: Path, data_dir: Path) -> None:
    code, output = load(data_dir, tmp_path / "no-existe")
    assert code == 2
    assert "does not exist" in output


def test_the_programme_keeps_its_flow_order(tmp_path: Path, data_dir: Path) -> None:
    content = kit.programme()
    reordered = dataclasses.replace(content, flows=tuple(reversed(content.flows)))
    assert load(data_dir, write(tmp_path / "prueba", reordered))[0] == 0
    assert stored_flow_names(data_dir) == ["Consulta", "Ayuda", "Alerta", "Registro"]
