"""flow anonymity from the flow's own flag; who resolved an inbox item, and an index of each contact's items

The ``anonymous_flows`` table (filled from a setting at every server start) gives way to a column on
``programme_flows`` that a programme load fills from each flow's ``anonymous`` flag. The flows the table named
stay anonymous until the next load, which replaces the column with what the flows themselves say.

Revision ID: 0006_flow_anonymity
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_flow_anonymity"
down_revision = "0005"
branch_labels = None
depends_on = None

_programme_flows = sa.table("programme_flows", sa.column("name", sa.Text), sa.column("anonymous", sa.Boolean))
_anonymous_flows = sa.table("anonymous_flows", sa.column("name", sa.String))


def upgrade() -> None:
    # Plain ALTER TABLEs: a batch would copy the table on SQLite, and the columns need no constraint of theirs.
    op.add_column(
        "programme_flows", sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("inbox", sa.Column("resolved_by", sa.String(length=80), nullable=True))
    op.create_index("ix_inbox_contact", "inbox", ["contact_id", "message_id"], unique=False)
    op.execute(
        _programme_flows.update()
        .where(_programme_flows.c.name.in_(sa.select(_anonymous_flows.c.name)))
        .values(anonymous=True)
    )
    op.drop_table("anonymous_flows")


def downgrade() -> None:
    op.create_table(
        "anonymous_flows",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_anonymous_flows")),
    )
    op.execute(
        _anonymous_flows.insert().from_select(
            ["name"],
            sa.select(sa.func.substr(_programme_flows.c.name, 1, 255))
            .where(_programme_flows.c.anonymous.is_(True))
            .distinct(),
        )
    )
    op.drop_index("ix_inbox_contact", table_name="inbox")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("resolved_by")
    with op.batch_alter_table("programme_flows", schema=None) as batch_op:
        batch_op.drop_column("anonymous")
