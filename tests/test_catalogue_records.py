"""The catalogue in the database: products with variants, deletions, Shopify's inventory
levels, and the revision a drain reloads by. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.catalogue import Product
from aftercare.catalogue_changes import (
    CatalogueChange,
    InventoryLevelSet,
    ProductUpsert,
    Skipped,
    VariantStock,
)
from aftercare.settings import StoreFacts
from aftercare.storage.catalogue_records import (
    apply_catalogue_change,
    catalogue_revision,
    load_products,
    save_products,
)
from aftercare.storage.database import session_factory
from aftercare.storage.schema import InventoryLevelRow, ProductRow, ProductVariantRow
from aftercare.stores.shopify_products import product_upsert

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
SAMPLE = Path(__file__).parent / "fixtures" / "shopify" / "product.json"


def ipod(**variant_items: int) -> ProductUpsert:
    """Shopify's sample product (four colours, 10 + 20 + 30 + 40 tracked), last changed at
    its ``updated_at`` (2011); ``variant_items`` gives variants (by title) inventory items."""
    body: dict[str, Any] = json.loads(SAMPLE.read_bytes())["product"]
    for variant in body["variants"]:
        if variant["title"] in variant_items:
            variant["inventory_item_id"] = variant_items[variant["title"]]
    upsert = product_upsert(body, StoreFacts())
    assert isinstance(upsert, ProductUpsert)
    return upsert


def card(product_id: str, stock: int | None = 5, **changes: Any) -> Product:
    return Product(
        product_id=product_id,
        sku=f"SKU-{product_id}",
        title=f"Product {product_id}",
        price=Decimal("12.50"),
        currency="EUR",
        stock=stock,
        url=f"https://fernandfield.example/products/{product_id}",
        **changes,
    )


def change(**parts: Any) -> CatalogueChange:
    return CatalogueChange(source="shopify", **parts)


def apply(engine: Engine, the_change: CatalogueChange, now: datetime = NOW):
    with session_factory(engine).begin() as session:
        return apply_catalogue_change(session, the_change, now)


def products(engine: Engine, since: int | None = None) -> dict[str, Product]:
    with session_factory(engine)() as session:
        return {p.product_id: p for p in load_products(session, since_revision=since)}


def revision(engine: Engine) -> int:
    with engine.connect() as connection:
        return catalogue_revision(connection)


def variants(engine: Engine, product_id: str) -> dict[str, tuple[int, bool]]:
    with session_factory(engine)() as session:
        rows = session.scalars(
            select(ProductVariantRow).where(ProductVariantRow.product_id == product_id)
        )
        return {r.variant_id: (r.stock, r.tracked) for r in rows}


def level(item: str, location: str, available: int, at: datetime = NOW) -> InventoryLevelSet:
    return InventoryLevelSet(
        inventory_item_id=item, location_id=location, available=available, updated_at=at
    )


# --- products ---------------------------------------------------------------------------------


def test_a_new_catalogue_starts_at_revision_zero(engine: Engine) -> None:
    assert revision(engine) == 0 and products(engine) == {}


def test_a_product_is_stored_with_its_variants_and_raises_the_revision(engine: Engine) -> None:
    written = apply(engine, change(upserted=(ipod(),)))
    assert written.created == ("632910392",) and written.revision == 1 == revision(engine)
    stored = products(engine)["632910392"]
    assert stored == ipod().product and stored.stock == 100
    assert sorted(s for s, _ in variants(engine, "632910392").values()) == [10, 20, 30, 40]


def test_the_same_product_again_changes_nothing_and_keeps_the_revision(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(),)))
    again = apply(engine, change(upserted=(ipod(),)))
    assert again.unchanged == ("632910392",) and again.changed == ()
    assert again.revision == 1 == revision(engine)


def test_a_drain_reloads_only_the_products_changed_since_its_revision(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        assert save_products(session, [card("a"), card("b"), card("c")]) == 3
    held = revision(engine)
    with session_factory(engine).begin() as session:
        save_products(session, [card("b", stock=0)])
    assert revision(engine) == held + 1
    assert list(products(engine, since=held)) == ["b"]
    assert products(engine, since=held)["b"].stock == 0
    assert set(products(engine)) == {"a", "b", "c"}
    assert products(engine, since=revision(engine)) == {}


def test_save_products_keeps_an_untracked_product_untracked(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        save_products(session, [card("gift-card", stock=None)])
    assert products(engine)["gift-card"].stock is None
    assert variants(engine, "gift-card") == {"gift-card": (0, False)}


def test_a_variant_the_store_removed_is_gone(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(),)))
    full = ipod()
    fewer = ProductUpsert.of(full.product, full.variants[:2], updated_at=full.updated_at)
    written = apply(engine, change(upserted=(fewer,)))
    assert written.updated == ("632910392",)
    assert len(variants(engine, "632910392")) == 2
    assert products(engine)["632910392"].stock == 10 + 20


# --- deletions and skips ----------------------------------------------------------------------


def test_a_deleted_product_is_kept_unpublished_and_out_of_stock(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(),)))
    written = apply(engine, change(removed=("632910392",)))
    assert written.unpublished == ("632910392",) and written.revision == 2
    kept = products(engine)["632910392"]
    assert kept.title == ipod().product.title  # old orders still name it
    assert not kept.published and kept.stock == 0 and not kept.in_stock


def test_a_deleted_product_that_comes_back_is_published_again(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(),)))
    apply(engine, change(removed=("632910392",)))
    apply(engine, change(upserted=(ipod(),)))
    assert products(engine)["632910392"].in_stock


def test_deleting_an_unknown_product_is_no_error_and_stores_nothing(engine: Engine) -> None:
    written = apply(engine, change(removed=("404",)))
    assert written.unknown == ("404",) and written.changed == ()
    assert revision(engine) == 0 and products(engine) == {}
    assert "1 deletion(s) of an unknown product" in written.describe()


def test_a_product_the_store_now_sends_unofferable_is_unpublished(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(),)))
    skip = Skipped(subject="product 632910392", reason="no price", product_id="632910392")
    written = apply(engine, change(skipped=(skip,)))
    assert written.unpublished == ("632910392",)
    assert not products(engine)["632910392"].published
    assert "no price" in written.describe()


# --- inventory levels -------------------------------------------------------------------------


def test_a_level_sets_its_variant_to_the_sum_over_locations(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(Pink=9001, Red=9002),)))
    written = apply(engine, change(levels=(level("9001", "warehouse", 3),)))
    assert written.restocked == ("632910392",) and written.revision == 2
    assert products(engine)["632910392"].stock == 3 + 20 + 30 + 40
    apply(engine, change(levels=(level("9001", "shop-floor", 4),)))
    assert products(engine)["632910392"].stock == (3 + 4) + 20 + 30 + 40
    apply(engine, change(levels=(level("9001", "warehouse", 0),)))
    assert products(engine)["632910392"].stock == 4 + 20 + 30 + 40


def test_an_oversold_location_holds_nothing_and_cancels_nothing(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(Pink=9001),)))
    apply(engine, change(levels=(level("9001", "a", -2), level("9001", "b", 5))))
    assert variants(engine, "632910392")["808950810"] == (5, True)


def test_a_level_older_than_the_stored_one_is_ignored(engine: Engine) -> None:
    apply(engine, change(upserted=(ipod(Pink=9001),)))
    apply(engine, change(levels=(level("9001", "a", 2, NOW),)))
    late = apply(engine, change(levels=(level("9001", "a", 8, NOW - timedelta(minutes=1)),)))
    assert late.levels_stale == 1 and late.changed == ()
    assert variants(engine, "632910392")["808950810"] == (2, True)


def test_a_level_for_an_unknown_item_waits_for_its_product(engine: Engine) -> None:
    early = apply(engine, change(levels=(level("9001", "warehouse", 2),)))
    assert early.levels_waiting == 1 and early.changed == () and revision(engine) == 0
    with session_factory(engine)() as session:
        assert session.scalars(select(InventoryLevelRow.available)).all() == [2]
    # The product arrives with its own report from before the level (its updated_at).
    apply(engine, change(upserted=(ipod(Pink=9001),)))
    assert variants(engine, "632910392")["808950810"] == (2, True)
    assert products(engine)["632910392"].stock == 2 + 20 + 30 + 40


def test_a_product_report_newer_than_the_levels_wins(engine: Engine) -> None:
    apply(engine, change(levels=(level("9001", "warehouse", 2, datetime(2010, 1, 1, tzinfo=UTC)),)))
    apply(engine, change(upserted=(ipod(Pink=9001),)))
    assert variants(engine, "632910392")["808950810"] == (10, True)


def test_a_level_for_an_untracked_product_leaves_it_untracked(engine: Engine) -> None:
    untracked = ProductUpsert.of(
        card("mug", stock=None),
        [VariantStock(variant_id="v1", inventory_item_id="77", stock=0, tracked=False)],
    )
    apply(engine, change(upserted=(untracked,)))
    written = apply(engine, change(levels=(level("77", "a", 3),)))
    assert written.restocked == () and products(engine)["mug"].stock is None


def test_one_change_with_products_and_levels_applies_both(engine: Engine) -> None:
    written = apply(
        engine,
        change(upserted=(ipod(Red=9002),), levels=(level("9002", "a", 1, NOW),)),
    )
    assert written.revision == 1 and set(written.changed) == {"632910392"}
    assert products(engine)["632910392"].stock == 10 + 1 + 30 + 40


# --- writers in order -------------------------------------------------------------------------


def test_concurrent_writers_commit_in_revision_order(postgresql_engine: Engine) -> None:
    """The second writer waits for the first's commit (the revision row's lock), so a
    drain that sees revision 2 has seen revision 1's products too."""
    apply(postgresql_engine, change(upserted=(ProductUpsert.single(card("seed")),)))
    sessions = session_factory(postgresql_engine)
    first = sessions()
    first.begin()
    first_write = apply_catalogue_change(
        first, change(upserted=(ProductUpsert.single(card("a")),)), NOW
    )
    second_done = threading.Event()
    second: dict[str, Any] = {}

    def write_second() -> None:
        with sessions.begin() as session:
            second["write"] = apply_catalogue_change(
                session, change(upserted=(ProductUpsert.single(card("b")),)), NOW
            )
        second_done.set()

    worker = threading.Thread(target=write_second)
    worker.start()
    try:
        assert not second_done.wait(0.5), "the second writer did not wait for the first"
        first.commit()
    finally:
        first.close()
    worker.join(timeout=10)
    assert second_done.is_set()
    assert (first_write.revision, second["write"].revision) == (2, 3)
    with Session(postgresql_engine) as session:
        stamps = dict(session.execute(select(ProductRow.product_id, ProductRow.revision)).all())
    assert stamps == {"seed": 1, "a": 2, "b": 3}


def test_an_older_product_report_arriving_late_changes_nothing(engine: Engine) -> None:
    """products/update webhooks overtake each other: the report of 10:05 arrives after the
    one of 10:07, and the product stays as 10:07 left it."""
    at = datetime(2026, 11, 16, 10, 7, tzinfo=UTC)
    newer = ipod().model_copy(update={"updated_at": at})
    newer = newer.model_copy(
        update={"product": newer.product.model_copy(update={"title": "iPod Nano, new name"})}
    )
    older = ipod().model_copy(update={"updated_at": at - timedelta(minutes=2)})
    apply(engine, change(upserted=(newer,)))
    written = apply(engine, change(upserted=(older,)))
    assert written.unchanged == ("632910392",) and written.updated == ()
    assert products(engine)["632910392"].title == "iPod Nano, new name"
    # A file import has no time: the operator's word for now, it applies.
    with session_factory(engine).begin() as session:
        save_products(session, [card("632910392").model_copy(update={"title": "Imported"})])
    assert products(engine)["632910392"].title == "Imported"
