"""DESIGN.md's import rules: flows is pure; server and gateway never import each other."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = {
    "flows": {
        "aiohttp",
        "aiosqlite",
        "sqlalchemy",
        "apscheduler",
        "serial",
        "asyncio",
        "socket",
        "random",
        "sqlite3",
        "urllib.request",
        "http.client",
        "requests",
        "server",
        "gateway",
        "recado",
    },
    "server": {"gateway", "recado"},
    "gateway": {"server", "recado"},
}


def _modules_after_import(package: str) -> set[str]:
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_design_allows(package: str) -> None:
    loaded = _modules_after_import(package)
    bad = sorted(m for m in loaded for f in FORBIDDEN[package] if m == f or m.startswith(f + "."))
    assert not bad, f"{package} pulls in {bad}"


def test_flows_reads_no_clock() -> None:
    """The engine gets `now` passed in: no module in flows calls the clock or the random source."""
    import pathlib

    import flows

    root = pathlib.Path(flows.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in (
            "datetime.now(",
            "dt.now(",
            ".utcnow(",
            "time.time(",
            "date.today(",
            "time.monotonic(",
        ):
            if needle in text:
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert not offenders
