"""Cross-sell: published products, variants and inventory levels, the catalogue's revision,
stored models, marketing consent and opt-outs.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare.storage.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(
            sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch.alter_column("stock", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("store_updated_at", UtcDateTime(timezone=True), nullable=True))
    op.create_index("ix_products_revision", "products", ["revision"])
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("marketing_consent", sa.String(20), nullable=True))
    op.create_table(
        "product_variants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.String(200), nullable=False),
        sa.Column("variant_id", sa.String(200), nullable=False),
        sa.Column("inventory_item_id", sa.String(200), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("product_id", "variant_id"),
    )
    op.create_index("ix_product_variants_product_id", "product_variants", ["product_id"])
    op.create_index(
        "ix_product_variants_inventory_item_id", "product_variants", ["inventory_item_id"]
    )
    op.create_table(
        "inventory_levels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inventory_item_id", sa.String(200), nullable=False),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("inventory_item_id", "location_id"),
    )
    op.create_table(
        "catalogue_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cross_sell_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("built_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("orders_through", sa.Integer(), nullable=False),
        sa.Column("baskets", sa.Integer(), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "marketing_opt_outs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("opted_out_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("marketing_opt_outs")
    op.drop_table("cross_sell_models")
    op.drop_table("catalogue_revision")
    op.drop_table("inventory_levels")
    op.drop_index("ix_product_variants_inventory_item_id", table_name="product_variants")
    op.drop_index("ix_product_variants_product_id", table_name="product_variants")
    op.drop_table("product_variants")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("marketing_consent")
    op.drop_index("ix_products_revision", table_name="products")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("store_updated_at")
        batch.drop_column("revision")
        batch.drop_column("published")
        batch.alter_column("stock", existing_type=sa.Integer(), nullable=False)
