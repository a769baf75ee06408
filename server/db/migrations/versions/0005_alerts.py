"""alerts: raising message, clinic, staff texted, acknowledge and resolve; clinic ratings; event webhooks

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.types

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = server.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("clinic", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("clinic_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("notified_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("staff_texted", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", _TIME, nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_message_id_messages"),
            "messages",
            ["message_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_alerts_clinic", ["clinic_key", "id"], unique=False)
        batch_op.create_index(
            "ix_alerts_unnotified",
            ["id"],
            unique=False,
            sqlite_where=sa.text("notified_at IS NULL"),
            postgresql_where=sa.text("notified_at IS NULL"),
        )
    # Alerts raised before this version were never texted to staff; texting them now, late, would mislead.
    op.execute("UPDATE alerts SET notified_at = raised_at, staff_texted = 0")

    op.create_table(
        "anonymous_flows",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_anonymous_flows")),
    )
    op.create_table(
        "clinic_ratings",
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("clinic", sa.String(length=128), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("answer_digest", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week", "clinic", "question", "answer_digest", name=op.f("pk_clinic_ratings")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("uuid", name=op.f("uq_webhook_events_uuid")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_uuid", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("event_uuid", "url", name="uq_webhook_deliveries_event_uuid_url"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_due", ["next_attempt_at"], unique=False)
    op.create_table(
        "webhook_dead_letters",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_uuid", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("failed_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_dead_letters")),
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_cursors")),
    )


def downgrade() -> None:
    op.drop_table("webhook_cursors")
    op.drop_table("webhook_dead_letters")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("clinic_ratings")
    op.drop_table("anonymous_flows")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_unnotified")
        batch_op.drop_index("ix_alerts_clinic")
        batch_op.drop_constraint(batch_op.f("fk_alerts_message_id_messages"), type_="foreignkey")
        for column in (
            "resolution",
            "resolved_by",
            "resolved_at",
            "acknowledged_by",
            "acknowledged_at",
            "staff_texted",
            "notified_at",
            "clinic_key",
            "clinic",
            "message_id",
        ):
            batch_op.drop_column(column)
