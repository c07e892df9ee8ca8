"""Learned FAQ rates: how often each snippet's question follows each kind of email; an
index on orders by customer, to tell a customer's first order (an FAQ condition).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare.storage.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_rates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("snippet_id", sa.String(200), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("learned_at", UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "snippet_id"),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_customer_id", table_name="orders")
    op.drop_table("faq_rates")
