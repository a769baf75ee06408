"""The schema, in SQLAlchemy Core. Alembic migrations in ``migrations/versions`` create exactly this.

Internal integer keys join the tables; the ``uuid`` columns are what the API shows.
All times are UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

from server.db.types import BigId, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

CONTACT_STATUSES = ("active", "stopped", "blocked")
FIELD_TYPES = ("text", "number", "date", "datetime")
MESSAGE_DIRECTIONS = ("in", "out")
# queued → leased → accepted → sent → delivered | failed | unknown; inbound messages are "received".
MESSAGE_STATUSES = ("queued", "leased", "accepted", "sent", "delivered", "failed", "unknown", "received")
# Lower sorts first when gateways lease: replies, then alerts, then bulk.
PRIORITIES = {"reply": 0, "alert": 1, "bulk": 2}
ENCODINGS = ("gsm7", "ucs2")
ROLES = ("admin", "operator", "api", "gateway")


def _enum_check(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("phone", sa.String(20), nullable=False, unique=True),  # E.164
    sa.Column("name", sa.String(128), nullable=True),
    sa.Column("language", sa.String(3), nullable=True),  # ISO 639-3
    sa.Column("timezone", sa.String(64), nullable=True),  # IANA; None means the programme timezone
    sa.Column("status", sa.String(8), nullable=False, server_default="active"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=True),
    _enum_check("status", CONTACT_STATUSES, "status"),
)
sa.Index("ix_contacts_name", contacts.c.name)

fields = sa.Table(
    "fields",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(36), nullable=False, unique=True),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("value_type", sa.String(8), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _enum_check("value_type", FIELD_TYPES, "value_type"),
)

# One row per contact and field. ``text_value`` always holds the value as shown; the typed column that
# matches the field's type holds it for comparisons and campaign scheduling.
contact_fields = sa.Table(
    "contact_fields",
    metadata,
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("field_id", BigId, sa.ForeignKey("fields.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("text_value", sa.String(640), nullable=False),
    sa.Column("number_value", sa.Numeric(36, 8), nullable=True),
    sa.Column("date_value", sa.Date, nullable=True),
    sa.Column("datetime_value", UTCDateTime, nullable=True),
)
sa.Index("ix_contact_fields_field_text", contact_fields.c.field_id, contact_fields.c.text_value)
sa.Index("ix_contact_fields_field_date", contact_fields.c.field_id, contact_fields.c.date_value)
sa.Index("ix_contact_fields_field_datetime", contact_fields.c.field_id, contact_fields.c.datetime_value)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", BigId, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("added_at", UTCDateTime, nullable=False),
)
sa.Index("ix_group_members_contact", group_members.c.contact_id)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(9), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="2"),
    sa.Column("segments", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("encoding", sa.String(4), nullable=False, server_default="gsm7"),
    sa.Column("channel", sa.String(64), nullable=True),  # the gateway's channel id (a modem, a phone SIM)
    sa.Column("gateway", sa.String(64), nullable=True),  # the gateway token's name that carried it
    sa.Column("external_id", sa.String(64), nullable=True),  # inbound: the gateway's id, for dedupe
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("leased_until", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("error", sa.String(255), nullable=True),
    _enum_check("direction", MESSAGE_DIRECTIONS, "direction"),
    _enum_check("status", MESSAGE_STATUSES, "status"),
    _enum_check("encoding", ENCODINGS, "encoding"),
    sa.UniqueConstraint("gateway", "external_id", name="uq_messages_gateway_external_id"),
)
sa.Index("ix_messages_contact", messages.c.contact_id, messages.c.id)
sa.Index("ix_messages_outbox", messages.c.status, messages.c.priority, messages.c.id)

message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(9), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("detail", sa.String(255), nullable=True),
)
sa.Index("ix_message_events_message", message_events.c.message_id, message_events.c.id)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.Uuid, nullable=False, unique=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _enum_check("role", ROLES, "role"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("jti", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    _enum_check("role", ROLES, "role"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),  # "user:ana", "token:central", "cli"
    sa.Column("action", sa.String(64), nullable=False),  # "token.create", "contact.stop", ...
    sa.Column("target", sa.String(80), nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
)
sa.Index("ix_audit_log_at", audit_log.c.at)
