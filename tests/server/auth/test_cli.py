"""`recado init` and `recado token ...` as a technician runs them."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
from click.testing import CliRunner

from recado.cli import cli


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_a_private_key_and_prints_the_password_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, _ = _run("init", "--data-dir", str(data))
    assert code == 0
    assert "admin password" in out
    keys = list((data / "keys").glob("signing-*.pem"))
    assert len(keys) == 1
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700

    code, out, _ = _run("init", "--data-dir", str(data))
    assert code == 0
    assert "password" not in out
    assert "already exists" in out
    assert list((data / "keys").glob("signing-*.pem")) == keys


def test_token_create_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    data = str(tmp_path)
    _run("init", "--data-dir", data)
    code, out, _ = _run(
        "token",
        "create",
        "--data-dir",
        data,
        "--role",
        "api",
        "--name",
        "central",
        "--scope",
        "contacts:read",
        "--scope",
        "messages:write",
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["role"] == "api"
    assert claims["scopes"] == ["contacts:read", "messages:write"]

    code, out, _ = _run("token", "list", "--data-dir", data)
    assert claims["jti"] in out
    assert token not in out

    code, out, _ = _run("token", "revoke", "--data-dir", data, claims["jti"][:8])
    assert code == 0
    assert "revoked" in out
    code, out, _ = _run("token", "list", "--data-dir", data)
    assert "no tokens" in out
    code, out, _ = _run("token", "list", "--data-dir", data, "--all")
    assert "revoked" in out


def test_token_without_scope_gets_every_scope_of_its_role(tmp_path: Path) -> None:
    _run("init", "--data-dir", str(tmp_path))
    _, out, _ = _run("token", "create", "--data-dir", str(tmp_path), "--role", "gateway", "--name", "site-1")
    claims = jwt.decode(out.strip().splitlines()[-1], options={"verify_signature": False})
    assert claims["scopes"] == ["gateway:sync"]


def test_token_create_refusals(tmp_path: Path) -> None:
    code, _, err = _run("token", "create", "--data-dir", str(tmp_path), "--role", "api", "--name", "x")
    assert code == 2
    assert "recado init" in err
    _run("init", "--data-dir", str(tmp_path))
    code, _, err = _run("token", "create", "--data-dir", str(tmp_path), "--role", "admin", "--name", "x")
    assert code == 2
    code, _, err = _run(
        "token",
        "create",
        "--data-dir",
        str(tmp_path),
        "--role",
        "api",
        "--name",
        "x",
        "--scope",
        "gateway:sync",
    )
    assert code == 2
    assert "contacts:read" in err


def test_revoking_an_unknown_token_fails_clearly(tmp_path: Path) -> None:
    _run("init", "--data-dir", str(tmp_path))
    code, _, err = _run("token", "revoke", "--data-dir", str(tmp_path), "deadbeef")
    assert code == 1
    assert "no token" in err
