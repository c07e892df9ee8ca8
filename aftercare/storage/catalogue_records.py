"""Reading and writing the product catalogue (with stock levels, for in-stock cross-sell)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.catalogue import Product
from aftercare.storage.schema import ProductRow


def save_products(session: Session, products: Iterable[Product]) -> int:
    """Insert or update products by ``product_id``; how many were written."""
    products = list(products)
    existing = {
        row.product_id: row
        for row in session.scalars(
            select(ProductRow).where(ProductRow.product_id.in_([p.product_id for p in products]))
        )
    }
    for product in products:
        row = existing.get(product.product_id) or ProductRow(product_id=product.product_id)
        row.sku, row.title, row.price = product.sku, product.title, product.price
        row.published = product.published
        row.currency, row.stock = product.currency, product.stock
        row.url, row.image_url, row.tags = (
            str(product.url),
            product.image_url,
            list(product.tags),
        )
        session.add(row)
    session.flush()
    return len(products)


def load_products(session: Session) -> list[Product]:
    return [
        Product(
            product_id=row.product_id,
            sku=row.sku or "",
            title=row.title,
            price=row.price,
            currency=row.currency,
            stock=row.stock,
            url=row.url,
            image_url=row.image_url,
            tags=tuple(row.tags),
            published=row.published,
        )
        for row in session.scalars(select(ProductRow).order_by(ProductRow.id))
    ]
