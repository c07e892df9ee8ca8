"""Reading and writing the product catalogue (with stock levels, for in-stock cross-sell).

Every write goes through ``apply_catalogue_change``: products with their variants, products
deleted at the store (kept, since old orders name them, but unpublished and out of stock),
and Shopify's per-location inventory levels. A product's stock is always its tracked
variants' sum (``None`` when none is tracked); a variant's, once levels for its inventory
item are known, the sum of those over their locations.

Each write that changes a product raises the catalogue's revision (``catalogue_revision``,
one row) by one and stamps the changed products with it, so a drain that holds the
catalogue in memory reloads only what changed (``load_products(since_revision=…)``). The
revision row is locked first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer
anyway) and held to the commit: concurrent writers wait for one another, revisions commit
in order, and a reader that has seen revision N has seen every product stamped N or less.
The lock also makes each writer read the rows as the previous one left them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from aftercare.catalogue import Product
from aftercare.catalogue_changes import (
    CatalogueChange,
    InventoryLevelSet,
    ProductUpsert,
    Skipped,
    VariantStock,
    stock_of,
)
from aftercare.storage.insert_if_absent import insert_if_absent
from aftercare.storage.schema import (
    CatalogueRevisionRow,
    InventoryLevelRow,
    ProductRow,
    ProductVariantRow,
)

# Ids per ``IN (…)``: far below SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500

_T = TypeVar("_T")


@dataclass(frozen=True)
class CatalogueWrite:
    """What one write did; ``revision`` is the catalogue's after it (unchanged when it
    changed no product)."""

    revision: int
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    # Deleted at the store, or now sent in a shape that cannot be offered (``skipped``).
    unpublished: tuple[str, ...] = ()
    # Deletions of products the catalogue never held: nothing to keep.
    unknown: tuple[str, ...] = ()
    # Products whose stock an inventory level changed.
    restocked: tuple[str, ...] = ()
    levels_stored: int = 0
    # Levels older than the one stored for the same item and location (Shopify does not
    # promise to deliver in order): ignored.
    levels_stale: int = 0
    # Levels for inventory items no variant names yet: kept for the product to come.
    levels_waiting: int = 0
    skipped: tuple[Skipped, ...] = field(default=())

    @property
    def changed(self) -> tuple[str, ...]:
        """The products stamped with ``revision``."""
        return tuple(
            dict.fromkeys((*self.created, *self.updated, *self.unpublished, *self.restocked))
        )

    def as_record(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "unpublished": len(self.unpublished),
            "unknown": len(self.unknown),
            "restocked": len(self.restocked),
            "levels_stored": self.levels_stored,
            "levels_stale": self.levels_stale,
            "levels_waiting": self.levels_waiting,
            "skipped": [f"{s.subject}: {s.reason}" for s in self.skipped],
        }

    def describe(self) -> str:
        """One line for the inbox record and the logs."""
        counts = [
            (len(self.created), "product(s) added"),
            (len(self.updated), "updated"),
            (len(self.unchanged), "unchanged"),
            (len(self.unpublished), "unpublished"),
            (len(self.unknown), "deletion(s) of an unknown product"),
            (len(self.restocked), "restocked"),
            (self.levels_stale, "stale stock level(s) ignored"),
            (self.levels_waiting, "stock level(s) waiting for their product"),
        ]
        parts = [f"{n} {what}" for n, what in counts if n]
        if self.levels_stored and not (self.restocked or self.levels_waiting):
            parts.append(f"{self.levels_stored} stock level(s) stored")
        parts += [f"{s.subject} skipped: {s.reason}" for s in self.skipped]
        return f"catalogue revision {self.revision}: " + ("; ".join(parts) or "nothing to do")


def apply_catalogue_change(
    session: Session, change: CatalogueChange, now: datetime
) -> CatalogueWrite:
    """Write ``change`` in the session's transaction (the caller commits).

    ``now`` stands in for a level's time when the store sent none. Upserts come first,
    then deletions, skips and levels, so a change naming a product twice ends as it says.
    """
    revision_row = _locked_revision(session)
    next_revision = revision_row.revision + 1
    ids = [u.product.product_id for u in change.upserted]
    ids += [*change.removed, *(s.product_id for s in change.skipped if s.product_id)]
    rows = {row.product_id: row for row in _products(session, ids)}
    stamped: set[str] = set()

    def stamp(row: ProductRow) -> None:
        row.revision = next_revision
        stamped.add(row.product_id)

    created, updated, unchanged = _upsert(session, change.upserted, rows, stamp)
    unpublished, unknown = [], []
    for product_id in change.removed:
        row = rows.get(product_id)
        if row is None:
            unknown.append(product_id)
        elif row.published or row.stock != 0:
            row.published, row.stock = False, 0
            stamp(row)
            unpublished.append(product_id)
    for skip in change.skipped:
        row = rows.get(skip.product_id) if skip.product_id else None
        if row is not None and row.published:
            row.published = False
            stamp(row)
            unpublished.append(row.product_id)
    session.flush()
    levels = _set_levels(session, change.levels, now, stamp)
    if stamped:
        revision_row.revision = next_revision
    session.flush()
    return CatalogueWrite(
        revision=revision_row.revision,
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        unpublished=tuple(unpublished),
        unknown=tuple(unknown),
        restocked=tuple(levels.restocked),
        levels_stored=levels.stored,
        levels_stale=levels.stale,
        levels_waiting=levels.waiting,
        skipped=change.skipped,
    )


def save_products(session: Session, products: Iterable[Product]) -> int:
    """Insert or update products by ``product_id``; how many were written.

    Each product is its own single variant (``ProductUpsert.single``): its stock as given.
    The last of several with the same id wins.
    """
    latest = {p.product_id: p for p in products}
    change = CatalogueChange(
        source="catalogue", upserted=tuple(ProductUpsert.single(p) for p in latest.values())
    )
    apply_catalogue_change(session, change, datetime.now(UTC))
    return len(latest)


def catalogue_revision(session_or_connection: Session | Connection) -> int:
    """The catalogue's revision now: 0 before its first write."""
    query = select(func.max(CatalogueRevisionRow.revision))
    return session_or_connection.execute(query).scalar() or 0


def load_products(
    session: Session | Connection, since_revision: int | None = None
) -> list[Product]:
    """The products changed after ``since_revision`` (all of them when None), unpublished
    ones included: a drain replaces what it holds with them."""
    query: Select[Any] = select(ProductRow.__table__).order_by(ProductRow.id)
    if since_revision is not None:
        query = query.where(ProductRow.revision > since_revision)
    return [
        Product(
            product_id=row.product_id,
            sku=row.sku or row.product_id,
            title=row.title,
            price=row.price,
            currency=row.currency,
            stock=row.stock,
            url=row.url,
            image_url=row.image_url,
            tags=tuple(row.tags or ()),
            published=row.published,
        )
        for row in session.execute(query)
    ]


# --- the revision ---------------------------------------------------------------------------------


def _locked_revision(session: Session) -> CatalogueRevisionRow:
    """The one revision row, created on first use, locked until the transaction ends."""
    query = select(CatalogueRevisionRow).order_by(CatalogueRevisionRow.id).limit(1)
    row = session.scalars(query.with_for_update()).first()
    if row is None:
        # Two first writers at once: one inserts, the other waits for it and inserts nothing.
        table = CatalogueRevisionRow.__table__
        insert_if_absent(session, table, {"id": 1, "revision": 0}, ["id"])  # type: ignore[arg-type]
        row = session.scalars(query.with_for_update()).one()
    return row


# --- products and variants ------------------------------------------------------------------------


def _upsert(
    session: Session,
    upserts: Sequence[ProductUpsert],
    rows: dict[str, ProductRow],
    stamp: Callable[[ProductRow], None],
) -> tuple[list[str], list[str], list[str]]:
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []  # unchanged, or reported older than what is stored
    if not upserts:
        return created, updated, unchanged
    ids = [u.product.product_id for u in upserts]
    stored_variants: dict[str, dict[str, ProductVariantRow]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for variant in session.scalars(
            select(ProductVariantRow).where(ProductVariantRow.product_id.in_(chunk))
        ):
            stored_variants[variant.product_id][variant.variant_id] = variant
    items = [v.inventory_item_id for u in upserts for v in u.variants if v.inventory_item_id]
    levels = _levels_of(session, items)
    for upsert in upserts:
        variants = [_with_known_levels(v, upsert.updated_at, levels) for v in upsert.variants]
        product = upsert.product.model_copy(update={"stock": stock_of(variants)})
        values = _values(product)
        row = rows.get(product.product_id)
        if row is not None and _older(upsert.updated_at, row.store_updated_at):
            # products/update webhooks overtake each other: an older report changes nothing.
            unchanged.append(product.product_id)
            continue
        if row is None:
            row = ProductRow(product_id=product.product_id)
            rows[product.product_id] = row
            session.add(row)
            created.append(product.product_id)
        elif _row_says(row) == values:
            unchanged.append(product.product_id)
        else:
            updated.append(product.product_id)
        if upsert.updated_at is not None:
            row.store_updated_at = upsert.updated_at
        if not unchanged or unchanged[-1] != product.product_id:
            for name, value in values.items():
                setattr(row, name, value)
            stamp(row)
        _replace_variants(session, product.product_id, variants, stored_variants)
    return created, updated, unchanged


def _older(reported: datetime | None, stored: datetime | None) -> bool:
    """Whether a report is older than the one stored (a file import has no time: it is the
    operator's word for now, and always applies)."""
    return reported is not None and stored is not None and reported < stored


def _with_known_levels(
    variant: VariantStock, updated_at: datetime | None, levels: dict[str, list[InventoryLevelRow]]
) -> VariantStock:
    """The variant's stock as its inventory levels say, when one of them is newer than the
    product's own report (a level that arrived before its product, or overtook it); the
    product's report otherwise. A file import (no time) is the operator's word for now."""
    known = levels.get(variant.inventory_item_id or "", [])
    if updated_at is None or not any(level.updated_at > updated_at for level in known):
        return variant
    return variant.model_copy(update={"stock": _on_the_shelf(known)})


def _replace_variants(
    session: Session,
    product_id: str,
    variants: Sequence[VariantStock],
    stored: dict[str, dict[str, ProductVariantRow]],
) -> None:
    """The product's variant rows become exactly ``variants`` (a removed size is gone)."""
    old = stored.get(product_id, {})
    for variant in variants:
        row = old.pop(variant.variant_id, None) or ProductVariantRow(
            product_id=product_id, variant_id=variant.variant_id
        )
        row.inventory_item_id = variant.inventory_item_id
        row.stock, row.tracked = variant.stock, variant.tracked
        session.add(row)
    for gone in old.values():
        session.delete(gone)


def _values(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "title": product.title,
        "price": product.price,
        "currency": product.currency,
        "stock": product.stock,
        "url": str(product.url),
        "image_url": product.image_url,
        "tags": list(product.tags),
        "published": product.published,
    }


def _row_says(row: ProductRow) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "title": row.title,
        "price": row.price,
        "currency": row.currency,
        "stock": row.stock,
        "url": row.url,
        "image_url": row.image_url,
        "tags": list(row.tags or ()),
        "published": row.published,
    }


def _products(session: Session, ids: Sequence[str]) -> Iterator[ProductRow]:
    for chunk in _chunks(list(dict.fromkeys(ids))):
        yield from session.scalars(select(ProductRow).where(ProductRow.product_id.in_(chunk)))


# --- inventory levels -----------------------------------------------------------------------------


@dataclass
class _LevelsDone:
    stored: int = 0
    stale: int = 0
    waiting: int = 0
    restocked: list[str] = field(default_factory=list)


def _set_levels(
    session: Session,
    levels: Sequence[InventoryLevelSet],
    now: datetime,
    stamp: Callable[[ProductRow], None],
) -> _LevelsDone:
    """Store each level, then give its item's variants the sum over their locations and
    their products the sum over their tracked variants."""
    done = _LevelsDone()
    if not levels:
        return done
    known = _levels_of(session, [level.inventory_item_id for level in levels])
    touched: set[str] = set()
    for level in levels:
        rows = known.setdefault(level.inventory_item_id, [])
        row = next((r for r in rows if r.location_id == level.location_id), None)
        moment = level.updated_at or now
        if row is not None and row.updated_at > moment:
            done.stale += 1
            continue
        if row is None:
            row = InventoryLevelRow(
                inventory_item_id=level.inventory_item_id, location_id=level.location_id
            )
            session.add(row)
            rows.append(row)
        row.available, row.updated_at = level.available, moment
        done.stored += 1
        touched.add(level.inventory_item_id)
    if not touched:
        return done
    session.flush()
    variants = [
        v
        for chunk in _chunks(sorted(touched))
        for v in session.scalars(
            select(ProductVariantRow).where(ProductVariantRow.inventory_item_id.in_(chunk))
        )
    ]
    named = {v.inventory_item_id for v in variants}
    done.waiting = sum(1 for level in levels if level.inventory_item_id not in named)
    for variant in variants:
        variant.stock = _on_the_shelf(known[variant.inventory_item_id or ""])
    session.flush()
    product_ids = sorted({v.product_id for v in variants})
    siblings: dict[str, list[ProductVariantRow]] = defaultdict(list)
    for chunk in _chunks(product_ids):
        for variant in session.scalars(
            select(ProductVariantRow).where(ProductVariantRow.product_id.in_(chunk))
        ):
            siblings[variant.product_id].append(variant)
    for product in _products(session, product_ids):
        stock = stock_of(
            VariantStock(variant_id=v.variant_id, stock=v.stock, tracked=v.tracked)
            for v in siblings[product.product_id]
        )
        if stock != product.stock:
            product.stock = stock
            stamp(product)
            done.restocked.append(product.product_id)
    return done


def _levels_of(session: Session, items: Sequence[str]) -> dict[str, list[InventoryLevelRow]]:
    found: dict[str, list[InventoryLevelRow]] = defaultdict(list)
    for chunk in _chunks(sorted(set(items))):
        for level in session.scalars(
            select(InventoryLevelRow).where(InventoryLevelRow.inventory_item_id.in_(chunk))
        ):
            found[level.inventory_item_id].append(level)
    return found


def _on_the_shelf(levels: Iterable[InventoryLevelRow]) -> int:
    """Units available over the locations; an oversold location (below zero) holds none,
    and cannot cancel another location's units."""
    return sum(max(level.available, 0) for level in levels)


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
