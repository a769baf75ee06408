"""``recado token ...``: long-lived tokens for gateways and integrations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth import service
from server.auth.keys import KeyError_, load_keyring
from server.auth.scopes import ROLE_SCOPES, TOKEN_ROLES, ScopeError
from server.cli import config_option, data_dir_option, make_config, with_database

CLI_ACTOR = "cli"


@click.group("token")
def token_group() -> None:
    """Create, list and revoke API and gateway tokens."""


@token_group.command("create")
@data_dir_option
@config_option
@click.option("--role", type=click.Choice(TOKEN_ROLES), required=True, help="What the token is for.")
@click.option("--name", required=True, help="A name to recognise it by, e.g. the site or the central system.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="Limit the token to these scopes (repeatable); without it the token gets every scope of its role.",
)
@click.option(
    "--days", type=click.IntRange(1, 3650), default=None, help="Lifetime in days (default from config)."
)
def create_command(
    data_dir: Path | None,
    config_file: Path | None,
    role: str,
    name: str,
    scopes: tuple[str, ...],
    days: int | None,
) -> None:
    """Create a token; the token itself is printed once, alone on the last line."""
    config = make_config(data_dir, config_file)
    try:
        keyring = load_keyring(config.keys_dir)
    except KeyError_ as exc:
        raise click.UsageError(str(exc)) from exc

    async def work(engine: AsyncEngine) -> service.IssuedToken:
        async with engine.begin() as conn:
            return await service.create_token(
                conn,
                keyring,
                config,
                role=role,
                name=name,
                scopes=list(scopes) or None,
                actor=CLI_ACTOR,
                now=dt.datetime.now(dt.UTC),
                days=days,
            )

    try:
        issued = with_database(config, work)
    except ScopeError as exc:
        allowed = ", ".join(ROLE_SCOPES[role])
        raise click.UsageError(f"{exc} (scopes for {role}: {allowed})") from exc
    click.echo(f"token {issued.jti} for {issued.role} {issued.name!r}, scopes {' '.join(issued.scopes)}")
    click.echo(f"expires {issued.expires_at:%Y-%m-%d}; it is shown only now, keep it safe:")
    click.echo(issued.jwt)


@token_group.command("list")
@data_dir_option
@config_option
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
def list_command(data_dir: Path | None, config_file: Path | None, include_revoked: bool) -> None:
    """List tokens (never the token strings, which are not stored)."""
    config = make_config(data_dir, config_file)

    async def work(engine: AsyncEngine) -> list[Any]:
        async with engine.connect() as conn:
            return await service.list_tokens(conn, include_revoked=include_revoked)

    rows = with_database(config, work)
    if not rows:
        click.echo("no tokens")
        return
    click.echo(f"{'ID':36}  {'ROLE':8}  {'NAME':24}  {'EXPIRES':10}  STATE")
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        click.echo(f"{row.jti:36}  {row.role:8}  {row.name[:24]:24}  {row.expires_at:%Y-%m-%d}  {state}")


@token_group.command("revoke")
@data_dir_option
@config_option
@click.argument("token_id")
def revoke_command(data_dir: Path | None, config_file: Path | None, token_id: str) -> None:
    """Revoke a token by its id (or an unambiguous prefix of it); it stops working at once."""
    config = make_config(data_dir, config_file)

    async def work(engine: AsyncEngine) -> Any:
        async with engine.begin() as conn:
            return await service.revoke_token(conn, token_id, actor=CLI_ACTOR, now=dt.datetime.now(dt.UTC))

    try:
        row = with_database(config, work)
    except (service.TokenNotFound, service.AmbiguousToken) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {row.jti} ({row.role} {row.name!r})")
