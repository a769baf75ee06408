"""Alembic environment. recado runs migrations itself (server.db.migrate) and passes the connection in."""

from __future__ import annotations

from alembic import context

from server.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate` by developers
    raise SystemExit("run migrations through `recado db upgrade` or server.db.migrate")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
