"""Server subcommands of ``recado``: init, server, token, contacts."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.app import create_app, settle_heap
from server.auth.keys import ensure_keyring
from server.auth.passwords import generate_password, hash_password
from server.config import Config, ConfigError, load_config
from server.db import migrate
from server.db.engine import create_engine
from server.db.schema import users

T = TypeVar("T")

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (SQLite file, keys). Default: RECADO_DATA_DIR or the user data directory.",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML configuration file. Default: recado.toml in the data directory.",
)


def make_config(data_dir: Path | None, config_file: Path | None = None, **overrides: Any) -> Config:
    try:
        return load_config(data_dir=data_dir, config_file=config_file, **overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def with_database(config: Config, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` against the migrated database, then close it (for one-shot CLI commands)."""

    async def run() -> T:
        engine = create_engine(config.effective_database_url)
        try:
            await migrate.upgrade(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def initialise(config: Config, *, admin_username: str = "admin") -> str | None:
    """Create the data directory, the signing key and the first admin. Returns the new admin's password,
    or None when the admin already existed (so a second ``init`` is harmless)."""
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ensure_keyring(config.keys_dir)

    async def work(engine: AsyncEngine) -> str | None:
        async with engine.begin() as conn:
            exists = (
                await conn.execute(sa.select(users.c.id).where(users.c.username == admin_username))
            ).first()
            if exists:
                return None
            password = generate_password()
            await conn.execute(
                users.insert().values(
                    uuid=uuid.uuid4(),
                    username=admin_username,
                    password_hash=hash_password(password),
                    role="admin",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            return password

    return with_database(config, work)


@click.command("init")
@data_dir_option
@config_option
@click.option(
    "--admin", "admin_username", default="admin", show_default=True, help="Name of the first admin."
)
def init_command(data_dir: Path | None, config_file: Path | None, admin_username: str) -> None:
    """Create the data directory, the signing key and the first admin user."""
    config = make_config(data_dir, config_file)
    password = initialise(config, admin_username=admin_username)
    click.echo(f"data directory: {config.data_dir}")
    if password is None:
        click.echo(f"admin user {admin_username!r} already exists; nothing changed")
    else:
        click.echo(f"admin user: {admin_username}")
        click.echo(f"admin password (shown once, keep it safe): {password}")


def serve(config: Config) -> None:
    if not any(config.keys_dir.glob("signing-*.pem")):
        raise click.UsageError(
            f"{config.data_dir} is not initialised: run `recado init --data-dir {config.data_dir}`"
        )
    app = create_app(config)
    settle_heap()
    click.echo(f"recado server on http://{config.host}:{config.port} (data: {config.data_dir})")
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None)


@click.command("server")
@data_dir_option
@config_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
def server_command(
    data_dir: Path | None, config_file: Path | None, host: str | None, port: int | None
) -> None:
    """Run the recado server."""
    serve(make_config(data_dir, config_file, host=host, port=port))
