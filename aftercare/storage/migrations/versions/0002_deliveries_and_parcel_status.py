"""Keep raw webhook deliveries in the inbox; record when a parcel's status was reported.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftercare.storage.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("topic", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("raw_body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("raw_headers", sa.JSON(), nullable=True))
    with op.batch_alter_table("fulfilments") as batch:
        batch.add_column(
            sa.Column(
                "status_at", aftercare.storage.schema.UtcDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("fulfilments") as batch:
        batch.drop_column("status_at")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("raw_headers")
        batch.drop_column("raw_body")
        batch.drop_column("topic")
