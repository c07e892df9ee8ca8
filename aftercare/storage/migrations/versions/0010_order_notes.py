"""Order notes: whether each customer action was also written on the order in the store's
admin (``drain/order_notes.py``), kept apart from the webhook's ``forward*`` columns so one
failing never holds the other back.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare.storage.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer_actions") as table:
        table.add_column(sa.Column("noted_at", UtcDateTime(timezone=True), nullable=True))
        table.add_column(
            sa.Column("note_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("note_error", sa.Text(), nullable=True))
        table.add_column(sa.Column("note_after", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_actions") as table:
        table.drop_column("note_after")
        table.drop_column("note_error")
        table.drop_column("note_attempts")
        table.drop_column("noted_at")
