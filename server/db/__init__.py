"""Storage: SQLAlchemy Core (async) over SQLite or PostgreSQL; every schema change is an Alembic migration."""
