"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


_SQLITE_TEXT_LENGTH = len("2026-01-01 00:00:00.000000")
_TEXTS_KEPT = 1024  # moments whose text a processor keeps (it starts over when full)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Stores UTC; refuses naive datetimes on the way in and returns aware ones on the way out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.DateTime(timezone=False))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # One step instead of this decorator's and then SQLite DATETIME's: every row the runner writes carries
        # several times. The text is SQLAlchemy's SQLite storage format (microseconds always present), so old
        # and new rows compare as strings.
        utc = dt.UTC
        # Most of the times a batch writes are one moment (its ``now``, in every row's stamps), and formatting
        # one costs more than the rest of the row's values: each UTC moment is formatted once. Only UTC ones
        # are kept: two equal datetimes of a zone with daylight saving can be an hour apart (``fold``).
        texts: dict[dt.datetime, str] = {}

        def to_text(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is utc:
                text = texts.get(value)
                if text is None:
                    text = value.isoformat(" ", "microseconds")[:_SQLITE_TEXT_LENGTH]
                    if len(texts) >= _TEXTS_KEPT:
                        texts.clear()
                    texts[value] = text
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            return value.astimezone(utc).isoformat(" ", "microseconds")[:_SQLITE_TEXT_LENGTH]

        return to_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        slow = super().result_processor(dialect, coltype)
        utc = dt.UTC

        def from_text(value: str | None) -> dt.datetime | None:
            if value is None:
                return None
            try:
                parsed = dt.datetime.fromisoformat(value)
            except (TypeError, ValueError):  # a value some other writer stored in another shape
                converted: dt.datetime | None = slow(value) if slow is not None else None
                return converted
            return parsed.replace(tzinfo=utc) if parsed.tzinfo is None else parsed.astimezone(utc)

        return from_text

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
