"""campaigns: each contact's next due campaign event (one row per contact per campaign), and the fire log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign_fires",
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("event_uuid", sa.String(length=36), nullable=False),
        sa.Column("due_at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_fires_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_fires_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "campaign_id", name=op.f("pk_campaign_fires")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("campaign_fires", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_fires_due", ["campaign_id", "due_at"], unique=False)

    op.create_table(
        "campaign_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("campaign_uuid", sa.String(length=36), nullable=False),
        sa.Column("event_uuid", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("due_at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("at", server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('fired', 'skipped', 'busy', 'inactive', 'unsendable', 'no_flow')",
            name=op.f("ck_campaign_log_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_log_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_log")),
    )
    with op.batch_alter_table("campaign_log", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_log_contact", ["contact_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_log", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_log_contact")
    op.drop_table("campaign_log")
    with op.batch_alter_table("campaign_fires", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_fires_due")
    op.drop_table("campaign_fires")
