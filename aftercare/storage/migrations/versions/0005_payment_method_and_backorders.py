"""Remember how an order is paid and which items are back-ordered (for the FAQ answers).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("payment_method", sa.String(20), nullable=True))
    with op.batch_alter_table("line_items") as batch:
        batch.add_column(
            sa.Column("backordered", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("line_items") as batch:
        batch.drop_column("backordered")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("payment_method")
