"""Stored cross-sell models, and the order history they are learned from.

A model is built from every order (``learning/cross_sell_model.py``) and stored as
compressed JSON with the highest order row it counted; a drain loads the newest one once
and folds in the orders stored after it (``baskets_after``), so new orders count within a
minute without a rebuild. Reading is by streaming rows: a million order lines must not sit
in memory as ORM objects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

import zstandard
from sqlalchemy import Connection, delete, func, select, tuple_

from aftercare.enrichment.cross_sell.associations import AssociationModel
from aftercare.storage.schema import CrossSellModelRow, CustomerRow, LineItemRow, OrderRow

_models = CrossSellModelRow.__table__
_orders = OrderRow.__table__
_lines = LineItemRow.__table__
_customers = CustomerRow.__table__

# Models kept: the newest serves, the one before it is there to compare with.
MODELS_KEPT = 2


@dataclass(frozen=True)
class StoredModel:
    model_id: int
    model: AssociationModel
    orders_through: int
    built_at: datetime


def save_model(
    connection: Connection, model: AssociationModel, orders_through: int, now: datetime
) -> int:
    """Store ``model`` as the newest, drop all but the newest ``MODELS_KEPT``; its id."""
    packed = zstandard.ZstdCompressor(level=6).compress(model.to_json())
    model_id = connection.execute(
        _models.insert()
        .values(built_at=now, orders_through=orders_through, baskets=model.baskets, model=packed)
        .returning(_models.c.id)
    ).scalar_one()
    keep = select(_models.c.id).order_by(_models.c.id.desc()).limit(MODELS_KEPT)
    connection.execute(delete(_models).where(_models.c.id.not_in(keep.scalar_subquery())))
    return model_id


def newest_model_id(connection: Connection) -> int | None:
    """One cheap query: whether a drain's model is still the newest."""
    return connection.execute(select(func.max(_models.c.id))).scalar()


def load_newest_model(connection: Connection) -> StoredModel | None:
    row = connection.execute(
        select(_models.c.id, _models.c.model, _models.c.orders_through, _models.c.built_at)
        .order_by(_models.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    raw = zstandard.ZstdDecompressor().decompress(row.model)
    return StoredModel(row.id, AssociationModel.from_json(raw), row.orders_through, row.built_at)


def order_baskets(
    connection: Connection, after_order: int = 0, batch: int = 20_000
) -> Iterator[tuple[int, str, list[str]]]:
    """Every stored order after ``after_order`` that was not cancelled, oldest first:
    (order row id, customer row id as text, its product ids). Lines without a product id
    (a custom item, a tip) are left out; so is an order left with none."""
    # Streamed (a server-side cursor on PostgreSQL), set on the statement alone: a
    # connection's own options would stream every later statement too.
    rows = connection.execute(
        select(_orders.c.id, _orders.c.customer_id, _lines.c.product_id)
        .join(_lines, _lines.c.order_id == _orders.c.id)
        .where(
            _orders.c.id > after_order,
            _orders.c.cancelled_at.is_(None),
            _lines.c.product_id.is_not(None),
        )
        .order_by(_orders.c.id, _lines.c.position)
        .execution_options(yield_per=batch)
    )
    current: int | None = None
    customer = ""
    products: list[str] = []
    for order_id, customer_id, product_id in rows:
        if order_id != current:
            if current is not None and products:
                yield current, customer, products
            current, customer, products = order_id, str(customer_id), []
        products.append(product_id)
    if current is not None and products:
        yield current, customer, products


def newest_order_id(connection: Connection) -> int:
    return connection.execute(select(func.max(_orders.c.id))).scalar() or 0


def recent_products(
    connection: Connection, customers: Collection[tuple[str, str]], since: datetime
) -> dict[tuple[str, str], set[str]]:
    """What each (source, customer key) ordered since ``since``: one query for a group."""
    if not customers:
        return {}
    rows = connection.execute(
        select(_customers.c.source, _customers.c.customer_key, _lines.c.product_id)
        .join(_orders, _orders.c.customer_id == _customers.c.id)
        .join(_lines, _lines.c.order_id == _orders.c.id)
        .where(
            tuple_(_customers.c.source, _customers.c.customer_key).in_(list(customers)),
            _orders.c.placed_at >= since,
            _lines.c.product_id.is_not(None),
        )
    ).all()
    found: dict[tuple[str, str], set[str]] = {}
    for source, key, product_id in rows:
        found.setdefault((source, key), set()).add(product_id)
    return found
