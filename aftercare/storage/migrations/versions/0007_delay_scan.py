"""The delay scan: when to look at each order next, and the notices raised per stage.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare.storage.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("delay_check_at", UtcDateTime(timezone=True), nullable=True))
    op.create_index("ix_orders_delay_check_at", "orders", ["delay_check_at"])
    op.create_table(
        "delay_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "order_id", sa.Integer(), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("why", sa.String(400), nullable=False),
        sa.Column("inbox_event_id", sa.Integer(), sa.ForeignKey("inbox_events.id"), nullable=True),
        sa.Column("raised_at", UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_id", "stage", "round"),
    )
    op.create_table(
        "delay_coupons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(100), nullable=False, unique=True),
        sa.Column("notice_id", sa.Integer(), sa.ForeignKey("delay_notices.id"), nullable=True),
        sa.Column("given_at", UtcDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delay_coupons_notice_id", "delay_coupons", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_delay_coupons_notice_id", table_name="delay_coupons")
    op.drop_table("delay_coupons")
    op.drop_table("delay_notices")
    op.drop_index("ix_orders_delay_check_at", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("delay_check_at")
