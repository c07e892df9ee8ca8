"""Customer actions: the answers customers give through an email's signed links (ratings,
FAQ votes, delay choices), one row per email, action and subject.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare.storage.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email_key", sa.String(400), nullable=False),
        sa.Column("email_kind", sa.String(40), nullable=False),
        sa.Column("order_source", sa.String(40), nullable=True),
        sa.Column("order_external_id", sa.String(200), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("comment", sa.String(2000), nullable=True),
        sa.Column("first_clicked_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_clicked_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("forwarded_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("forward_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("forward_error", sa.Text(), nullable=True),
        sa.Column("forward_after", UtcDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("email_key", "action", "subject"),
    )
    op.create_index("ix_customer_actions_last_clicked_at", "customer_actions", ["last_clicked_at"])


def downgrade() -> None:
    op.drop_index("ix_customer_actions_last_clicked_at", table_name="customer_actions")
    op.drop_table("customer_actions")
