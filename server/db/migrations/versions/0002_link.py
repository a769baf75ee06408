"""gateway link: gateways, gateway_channels, contact_routes; an index to expire queued messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateways")),
    )
    op.create_table(
        "gateway_channels",
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("signal", sa.SmallInteger(), nullable=True),
        sa.Column("battery", sa.SmallInteger(), nullable=True),
        sa.Column("sent_today", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("queue", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("last_seen_at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('modem', 'smsgate', 'envaya', 'smssync')", name=op.f("ck_gateway_channels_kind")
        ),
        sa.ForeignKeyConstraint(
            ["gateway"],
            ["gateways.name"],
            name=op.f("fk_gateway_channels_gateway_gateways"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("gateway", "channel", name=op.f("pk_gateway_channels")),
    )
    op.create_table(
        "contact_routes",
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_routes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_routes")),
    )
    # Not in a batch: on SQLite a batch may copy the whole table, and other branches change ``messages`` too.
    op.create_index("ix_messages_expiry", "messages", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_expiry", table_name="messages")
    op.drop_table("contact_routes")
    op.drop_table("gateway_channels")
    op.drop_table("gateways")
