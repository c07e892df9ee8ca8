"""Product and stock webhooks become catalogue changes, read from the stores' own samples.

Shopify: the REST product and inventory level of Shopify's Python API fixtures (the bodies
of ``products/*`` and ``inventory_levels/update``); WooCommerce: the REST API docs'
product examples (a webhook body is the REST resource). Expected values come from the files.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aftercare.catalogue_changes import CatalogueChange, ProductUpsert, Skipped, VariantStock
from aftercare.drain.catalogue_changes import catalogue_change_of
from aftercare.settings import GenericOptions, StoreFacts
from aftercare.stores import MalformedPayloadError
from aftercare.stores.catalogue_topics import CatalogueTopics
from aftercare.stores.generic import GenericAdapter
from aftercare.stores.shopify_products import product_upsert as shopify_product
from aftercare.stores.woocommerce_products import product_upsert as woo_product
from tests import test_store_shopify as shopify
from tests import test_store_woocommerce as woo

FIXTURES = Path(__file__).parent / "fixtures"
STORE = StoreFacts()


def shopify_product_sample() -> dict[str, Any]:
    return json.loads((FIXTURES / "shopify" / "product.json").read_bytes())["product"]


def woo_sample(name: str) -> Any:
    return json.loads((FIXTURES / "woocommerce" / f"{name}.json").read_bytes())


def shopify_change(body: dict[str, Any] | bytes, topic: str) -> CatalogueChange | None:
    adapter = shopify.adapter()
    the_delivery = shopify.delivery(body, topic)
    adapter.verify(the_delivery)
    return adapter.catalogue_change(the_delivery)


def woo_change(body: dict[str, Any] | bytes, topic: str) -> CatalogueChange | None:
    adapter = woo.adapter()
    the_delivery = woo.delivery(body, topic)
    adapter.verify(the_delivery)
    return adapter.catalogue_change(the_delivery)


def only_upsert(change: CatalogueChange | None) -> ProductUpsert:
    assert change is not None
    (upsert,) = change.upserted
    return upsert


# --- Shopify ----------------------------------------------------------------------------------


def test_a_shopify_product_becomes_a_card_with_its_storefront_link_and_stock() -> None:
    sample = shopify_product_sample()
    upsert = only_upsert(shopify_change(sample, "products/update"))
    product = upsert.product
    assert product.product_id == str(sample["id"])
    assert product.title == sample["title"]
    assert product.url == f"https://fernandfield.example/products/{sample['handle']}"
    assert product.price == Decimal(sample["variants"][0]["price"])
    assert product.currency == STORE.default_currency  # prices are in the shop's currency
    assert product.sku == sample["variants"][0]["sku"]
    # Every variant is tracked ("inventory_management": "shopify"): the sum of their counts.
    assert product.stock == sum(v["inventory_quantity"] for v in sample["variants"]) == 100
    assert [v.variant_id for v in upsert.variants] == [str(v["id"]) for v in sample["variants"]]
    assert product.published
    assert product.tags == ("Cult Products", "Emotive", "Flash Memory", "MP3", "Music")
    assert upsert.updated_at == datetime.fromisoformat(sample["updated_at"])


def test_an_http_picture_on_shopifys_cdn_is_upgraded_to_https() -> None:
    sample = shopify_product_sample()
    assert sample["images"][0]["src"].startswith("http://static.shopify.com/")
    product = only_upsert(shopify_change(sample, "products/create")).product
    assert product.image_url == "https://" + sample["images"][0]["src"].removeprefix("http://")


def test_an_http_picture_elsewhere_is_dropped_and_the_product_kept() -> None:
    sample = shopify_product_sample() | {"images": [{"src": "http://pics.example/a.png"}]}
    product = only_upsert(shopify_change(sample, "products/update")).product
    assert product.image_url is None and product.title == sample["title"]


@pytest.mark.parametrize(
    ("changes", "published"),
    [
        ({"status": "active"}, True),
        ({"status": "draft"}, False),
        ({"status": "archived"}, False),
        ({"status": "active", "published_at": None}, False),  # not on the online store
        ({"published_at": None}, False),  # an old payload without status
    ],
)
def test_drafts_archived_and_unpublished_shopify_products_are_never_offered(
    changes: dict[str, Any], published: bool
) -> None:
    product = only_upsert(
        shopify_change(shopify_product_sample() | changes, "products/update")
    ).product
    assert product.published is published


def test_untracked_variants_are_always_sellable_and_count_for_no_stock() -> None:
    sample = shopify_product_sample()
    for variant in sample["variants"]:
        variant["inventory_management"] = None
    upsert = only_upsert(shopify_change(sample, "products/update"))
    assert upsert.product.stock is None and upsert.product.in_stock
    assert not any(v.tracked for v in upsert.variants)


def test_a_product_with_one_untracked_variant_counts_the_tracked_ones() -> None:
    sample = shopify_product_sample()
    sample["variants"][0]["inventory_management"] = None  # Pink: 10, now uncounted
    assert only_upsert(shopify_change(sample, "products/update")).product.stock == 90


def test_continue_selling_still_counts_what_is_on_the_shelf() -> None:
    """``inventory_policy: continue`` lets customers order on backorder; a recommendation
    should ship now, so an oversold variant (negative) counts 0, not against the others."""
    sample = shopify_product_sample()
    assert {v["inventory_policy"] for v in sample["variants"]} == {"continue"}
    sample["variants"][0]["inventory_quantity"] = -4
    upsert = only_upsert(shopify_change(sample, "products/update"))
    assert upsert.variants[0].stock == 0 and upsert.variants[0].tracked
    assert upsert.product.stock == 20 + 30 + 40


def test_without_inventory_management_at_all_a_variant_is_counted() -> None:
    """API 2024-07 and later leave the field out of product webhooks: counted, cautiously."""
    sample = shopify_product_sample()
    for variant in sample["variants"]:
        del variant["inventory_management"]
        variant["inventory_quantity"] = 0
    upsert = only_upsert(shopify_change(sample, "products/update"))
    assert upsert.product.stock == 0 and not upsert.product.in_stock


def test_the_lowest_variant_price_is_the_cards_price() -> None:
    sample = shopify_product_sample()
    sample["variants"][2]["price"] = "149.50"
    assert only_upsert(shopify_change(sample, "products/update")).product.price == Decimal("149.50")


def test_the_inventory_item_of_each_variant_is_kept() -> None:
    sample = shopify_product_sample()
    for n, variant in enumerate(sample["variants"]):
        variant["inventory_item_id"] = 4000 + n
    upsert = only_upsert(shopify_change(sample, "products/update"))
    assert [v.inventory_item_id for v in upsert.variants] == ["4000", "4001", "4002", "4003"]


def test_a_shopify_delete_names_the_product_to_unpublish() -> None:
    change = shopify_change({"id": 632910392}, "products/delete")
    assert change is not None and change.removed == ("632910392",) and change.upserted == ()


def test_an_inventory_level_update_is_one_level() -> None:
    body = json.loads((FIXTURES / "shopify" / "inventory_level.json").read_bytes())
    level = body["inventory_level"]
    change = shopify_change(level, "inventory_levels/update")
    assert change is not None
    (stored,) = change.levels
    assert stored.inventory_item_id == str(level["inventory_item_id"])
    assert stored.location_id == str(level["location_id"])
    assert stored.available == level["available"] == 6
    assert stored.updated_at == datetime.fromisoformat(level["updated_at"])


def test_a_level_with_no_count_is_skipped_with_its_reason() -> None:
    change = shopify_change(
        {"inventory_item_id": 1, "location_id": 2, "available": None}, "inventory_levels/update"
    )
    assert change is not None and change.levels == ()
    assert "no available count" in change.skipped[0].reason


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("id"), r"^id is missing"),
        (lambda p: p["variants"][1].update(price="about 200"), r"variants\[1\]\.price is not a"),
        (lambda p: p.pop("handle"), r"^handle is missing"),
        (lambda p: p.update(variants=[]), r"^variants is missing"),
        (
            lambda p: p["variants"][0].update(inventory_quantity="lots"),
            r"variants\[0\]\.inventory_quantity is not a number",
        ),
        (lambda p: p.update(tags=7), r"^tags is not text"),
    ],
)
def test_a_malformed_shopify_product_names_the_field(mutate: Any, message: str) -> None:
    sample = shopify_product_sample()
    mutate(sample)
    with pytest.raises(MalformedPayloadError, match=message) as refused:
        shopify_change(sample, "products/update")
    assert refused.value.status == 422


def test_a_product_with_no_price_above_zero_is_skipped_not_refused() -> None:
    sample = shopify_product_sample()
    for variant in sample["variants"]:
        variant["price"] = "0.00"
    change = shopify_change(sample, "products/update")
    assert change is not None and change.upserted == ()
    assert change.skipped[0].product_id == str(sample["id"])
    assert "price" in change.skipped[0].reason


def test_shopify_accepts_catalogue_topics_on_the_request_path_and_parse_ignores_them() -> None:
    adapter = shopify.adapter()
    the_delivery = shopify.delivery(shopify_product_sample(), "products/update")
    accepted = adapter.accept(the_delivery)
    assert accepted.ignored is None and accepted.topic == "products/update"
    parsed = adapter.parse(the_delivery)
    assert parsed.events == ()
    assert parsed.ignored == "topic products/update is a catalogue change for Aftercare"


@pytest.mark.parametrize(
    ("topic", "body", "missing"),
    [
        ("products/update", {"title": "no id", "variants": []}, "id"),
        ("products/create", {"id": 1, "title": "no variants"}, "variants"),
        ("products/delete", {}, "id"),
        ("inventory_levels/update", {"inventory_item_id": 1, "available": 3}, "location_id"),
    ],
)
def test_shopify_refuses_a_catalogue_delivery_without_its_identifying_fields(
    topic: str, body: dict[str, Any], missing: str
) -> None:
    with pytest.raises(MalformedPayloadError, match=f"missing {missing}") as refused:
        shopify.adapter().accept(shopify.delivery(body, topic))
    assert refused.value.status == 422


def test_an_order_topic_is_no_catalogue_change() -> None:
    assert shopify_change(shopify.sample_bytes("orders_paid"), "orders/paid") is None
    assert woo_change(woo.sample_bytes("orders__01_create_an_order"), "order.created") is None


def test_an_unknown_topic_stays_ignored_and_is_no_catalogue_change() -> None:
    body = b'{"id": 841564295, "title": "Summer"}'
    accepted = shopify.adapter().accept(shopify.delivery(body, "collections/update"))
    assert accepted.ignored == "topic collections/update is not used by Aftercare"
    assert shopify_change(body, "collections/update") is None


# --- WooCommerce ------------------------------------------------------------------------------


def test_a_woocommerce_simple_product_becomes_a_card() -> None:
    sample = woo_sample("products__01_create_a_product")
    upsert = only_upsert(woo_change(sample, "product.created"))
    product = upsert.product
    assert product.product_id == str(sample["id"])
    assert product.title == sample["name"]
    assert product.price == Decimal(sample["price"])
    assert product.currency == STORE.default_currency
    assert product.url == sample["permalink"]
    assert product.image_url == sample["images"][0]["src"]
    assert product.tags == tuple(c["name"] for c in sample["categories"])
    assert product.sku == str(sample["id"])  # the sample has no SKU
    # manage_stock false, in stock: not counted, always sellable.
    assert sample["manage_stock"] is False and product.stock is None and product.in_stock
    assert product.published


def test_a_woocommerce_update_brings_the_new_price() -> None:
    created = woo_sample("products__01_create_a_product")
    updated = woo_sample("products__05_update_a_product")
    assert created["price"] != updated["price"]
    assert only_upsert(woo_change(updated, "product.updated")).product.price == Decimal(
        updated["price"]
    )


def test_a_variable_product_without_a_price_is_skipped_with_its_reason() -> None:
    sample = woo_sample("products__02_create_a_product")
    assert sample["type"] == "variable" and sample["price"] == ""
    change = woo_change(sample, "product.created")
    assert change is not None and change.upserted == ()
    (skipped,) = change.skipped
    assert skipped.product_id == str(sample["id"]) and "no price" in skipped.reason


@pytest.mark.parametrize(
    ("changes", "stock"),
    [
        ({"manage_stock": True, "stock_quantity": 7}, 7),
        ({"manage_stock": True, "stock_quantity": -2, "stock_status": "onbackorder"}, 0),
        ({"manage_stock": False, "stock_status": "outofstock"}, 0),
        ({"manage_stock": False, "stock_status": "onbackorder"}, 0),
        ({"manage_stock": False, "stock_status": "instock"}, None),
    ],
)
def test_woocommerce_stock(changes: dict[str, Any], stock: int | None) -> None:
    sample = woo_sample("products__01_create_a_product") | changes
    assert only_upsert(woo_change(sample, "product.updated")).product.stock == stock


@pytest.mark.parametrize(
    ("changes", "published"),
    [
        ({"status": "draft"}, False),
        ({"status": "private"}, False),
        ({"status": "pending"}, False),
        ({"catalog_visibility": "hidden"}, False),
        ({"catalog_visibility": "search"}, True),
    ],
)
def test_woocommerce_visibility(changes: dict[str, Any], published: bool) -> None:
    sample = woo_sample("products__01_create_a_product") | changes
    assert only_upsert(woo_change(sample, "product.updated")).product.published is published


def test_woocommerce_names_are_unescaped_and_tags_follow_categories() -> None:
    sample = woo_sample("products__01_create_a_product") | {
        "name": "Ship Your Idea &ndash; Black",
        "tags": [{"id": 3, "name": "Gifts &amp; more", "slug": "gifts"}],
    }
    product = only_upsert(woo_change(sample, "product.updated")).product
    assert product.title == "Ship Your Idea – Black"
    assert product.tags == ("Clothing", "T-shirts", "Gifts & more")


def test_a_woocommerce_delete_names_the_product() -> None:
    change = woo_change({"id": 794}, "product.deleted")
    assert change is not None and change.removed == ("794",)


def test_a_woocommerce_variation_is_skipped_for_its_parent() -> None:
    sample = woo_sample("products__01_create_a_product") | {"type": "variation", "parent_id": 799}
    change = woo_change(sample, "product.updated")
    assert change is not None and change.upserted == ()
    assert "variation of product 799" in change.skipped[0].reason


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("id"), r"^id is missing"),
        (lambda p: p.update(price="21,99"), r"^price is not a number"),
        (lambda p: p.pop("permalink"), r"^permalink is missing"),
        (lambda p: p.update(permalink="http://example.com/p/"), r"url: Value error"),
        (lambda p: p.update(stock_quantity="many", manage_stock=True), "stock_quantity"),
    ],
)
def test_a_malformed_woocommerce_product_names_the_field(mutate: Any, message: str) -> None:
    sample = copy.deepcopy(woo_sample("products__01_create_a_product"))
    mutate(sample)
    with pytest.raises(MalformedPayloadError, match=message):
        woo_change(sample, "product.updated")


def test_woocommerce_accepts_product_topics_and_parse_ignores_them() -> None:
    adapter = woo.adapter()
    the_delivery = woo.delivery(woo_sample("products__01_create_a_product"), "product.updated")
    accepted = adapter.accept(the_delivery)
    assert accepted.ignored is None and accepted.delivery_id.startswith("product:794:")
    parsed = adapter.parse(the_delivery)
    assert parsed.events == ()
    assert parsed.ignored == "topic product.updated is a catalogue change for Aftercare"
    with pytest.raises(MalformedPayloadError, match="missing id"):
        adapter.accept(woo.delivery({"name": "no id"}, "product.created"))


def test_a_stock_change_in_the_same_second_is_no_retry_of_the_last_delivery() -> None:
    sample = woo_sample("products__01_create_a_product") | {"manage_stock": True}
    first = woo.adapter().accept(woo.delivery(sample | {"stock_quantity": 5}, "product.updated"))
    sold = woo.adapter().accept(woo.delivery(sample | {"stock_quantity": 4}, "product.updated"))
    again = woo.adapter().accept(woo.delivery(sample | {"stock_quantity": 5}, "product.updated"))
    assert first.delivery_id != sold.delivery_id
    assert first.delivery_id == again.delivery_id  # a retry is still a retry


# --- the drain's question ---------------------------------------------------------------------


def test_the_drain_asks_the_adapter_of_the_deliverys_store() -> None:
    adapters: dict[str, Any] = {
        "shopify": shopify.adapter(),
        "woocommerce": woo.adapter(),
        "generic": GenericAdapter(GenericOptions()),
    }
    assert isinstance(adapters["shopify"], CatalogueTopics)
    assert isinstance(adapters["woocommerce"], CatalogueTopics)
    assert not isinstance(adapters["generic"], CatalogueTopics)
    the_delivery = shopify.delivery({"id": 5}, "products/delete")
    change = catalogue_change_of(adapters, "shopify", the_delivery)
    assert change is not None and change.removed == ("5",)
    assert catalogue_change_of(adapters, "generic", the_delivery) is None
    assert catalogue_change_of(adapters, "nobody", the_delivery) is None


# --- the change itself ------------------------------------------------------------------------


def test_a_products_stock_is_always_its_tracked_variants_sum() -> None:
    product = shopify_product(shopify_product_sample(), STORE)
    assert isinstance(product, ProductUpsert)
    with pytest.raises(ValueError, match="sum of its tracked variants"):
        ProductUpsert(
            product=product.product.model_copy(update={"stock": 3}), variants=product.variants
        )
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        VariantStock(variant_id="v", stock=-1)


def test_an_imported_product_names_its_place_in_the_file() -> None:
    sample = woo_sample("products__01_create_a_product") | {"price": "x"}
    with pytest.raises(MalformedPayloadError, match=r"^\[3\]\.price is not a number"):
        woo_product(sample, STORE, "[3]")
    assert isinstance(
        woo_product(woo_sample("products__02_create_a_product"), STORE, "[0]"), Skipped
    )
