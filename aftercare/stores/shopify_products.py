"""Shopify's product and stock webhooks as one ``CatalogueChange``.

The topics (https://shopify.dev/docs/api/webhooks, "products/*" and "inventory_levels/*"):

- ``products/create`` and ``products/update``: the whole product, with its variants (the
  REST ``Product`` resource). Shopify sends ``products/update`` whenever a variant's
  available quantity changes, an order's included, so it is also a stock report.
- ``products/delete``: ``{"id": …}`` only. The product stays in the catalogue (old orders
  name it), unpublished and out of stock.
- ``inventory_levels/update``: one inventory item's ``available`` count at one location.
  It names the inventory item, not the variant: a variant's ``inventory_item_id`` links
  them, and a level that arrives before its product is kept until the product does.

How a Shopify product becomes a cross-sell card:

- **Offered** only when ``status`` is ``active`` (not ``draft``, ``archived`` or
  ``unlisted``) and ``published_at`` is set (null: not on the online store). Payloads of
  old API versions have no ``status``: ``published_at`` alone decides.
- **Link**: the store's ``website_url`` + ``/products/<handle>``, the storefront's own
  product URL (a product has no URL field of its own).
- **Price**: the lowest variant price (the storefront's "from" price), in the shop's
  currency (``settings.store.default_currency``): product prices are stored in the
  shop's currency; Shopify Markets converts them at checkout.
- **Stock**: the sum over the tracked variants of ``inventory_quantity`` (which is
  Shopify's total over all locations). A variant is untracked, always sellable, when its
  ``inventory_management`` is null: the store does not count it. A variant with
  ``inventory_policy: continue`` ("continue selling when out of stock") is still counted:
  the policy lets a customer order it on backorder, but a recommendation should be
  something that ships now, so at 0 it is not offered. A negative quantity (oversold under
  that policy) is nothing on the shelf: 0, so it cannot cancel another variant's units.
  From API version 2024-07 product webhooks no longer carry ``inventory_management`` (the
  inventory item's ``tracked`` says it); without the field a variant counts as tracked at
  its ``inventory_quantity``, the cautious side: an untracked variant then reads 0 and is
  not offered, rather than an out-of-stock one being offered.
- **Picture**: ``image.src``, else the first of ``images``. Shopify's CDN serves every
  file over https too, so an old ``http://`` CDN link is upgraded; any other http picture
  is dropped (email clients warn about http), the product kept.
- **Tags**: ``product_type`` (Shopify's category) and the comma-separated ``tags``.
- **SKU**: the first variant's that has one, else the product id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from aftercare.catalogue import Product
from aftercare.catalogue_changes import (
    CatalogueChange,
    InventoryLevelSet,
    ProductUpsert,
    Skipped,
    VariantStock,
)
from aftercare.settings import StoreFacts
from aftercare.stores import MalformedPayloadError
from aftercare.stores.payload_fields import PayloadFields
from aftercare.validation_errors import field_problems

SOURCE = "shopify"

# What the request path checks before answering 200 (``ShopifyAdapter.accept``).
CATALOGUE_TOPICS: dict[str, tuple[str, ...]] = {
    "products/create": ("id", "variants"),
    "products/update": ("id", "variants"),
    "products/delete": ("id",),
    "inventory_levels/update": ("inventory_item_id", "location_id"),
}

# Hosts of Shopify's file CDN, which answer https for every http link they ever gave.
_CDN_HOSTS = ("shopify.com", "shopifycdn.com", "shopifycdn.net")


class _Fields(PayloadFields):
    def has(self, key: str) -> bool:
        return key in self._data

    def time(self, key: str) -> datetime | None:
        value = self._data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise MalformedPayloadError(f"{self.at(key)} is not a date and time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise MalformedPayloadError(
                f"{self.at(key)} is not an ISO 8601 date and time"
            ) from None
        if moment.tzinfo is None:
            raise MalformedPayloadError(f"{self.at(key)} has no UTC offset")
        return moment


def catalogue_change(topic: str, payload: Any, store: StoreFacts) -> CatalogueChange:
    """The change one of ``CATALOGUE_TOPICS`` makes; ``MalformedPayloadError`` names the
    field when the body is not what the topic promises."""
    body = _Fields(payload, "")
    if topic in ("products/create", "products/update"):
        outcome = product_upsert(payload, store)
        if isinstance(outcome, Skipped):
            return CatalogueChange(source=SOURCE, skipped=(outcome,))
        return CatalogueChange(source=SOURCE, upserted=(outcome,))
    if topic == "products/delete":
        return CatalogueChange(source=SOURCE, removed=(body.ident("id"),))
    if topic == "inventory_levels/update":
        return _level_change(body)
    raise ValueError(f"{topic} is not a catalogue topic")  # the adapter asks only for these


def product_upsert(data: Any, store: StoreFacts, path: str = "") -> ProductUpsert | Skipped:
    """One Shopify product (the REST ``Product`` object) as the catalogue keeps it, or why
    it cannot be offered at all. ``path`` prefixes field names in errors
    (``products[3]`` in an imported file)."""
    product = _Fields(data, path)
    product_id = product.ident("id")
    variants = product.children("variants")
    if not variants:
        raise MalformedPayloadError(f"{product.at('variants')} is missing")
    prices = [p for v in variants if (p := v.decimal("price")) is not None and p > 0]
    if not prices:
        return Skipped(
            subject=f"product {product_id}",
            reason="no variant has a price above zero, so there is nothing to offer",
            product_id=product_id,
        )
    stocks = [_variant_stock(v) for v in variants]
    handle = product.text("handle")
    if handle is None:
        raise MalformedPayloadError(f"{product.at('handle')} is missing")
    title = product.text("title")
    if title is None:
        raise MalformedPayloadError(f"{product.at('title')} is missing")
    status = product.text("status") or "active"
    fields = {
        "product_id": product_id,
        "sku": next((s for v in variants if (s := v.text("sku"))), product_id),
        "title": title,
        "price": min(prices),
        "currency": store.default_currency,
        "stock": None,
        "url": f"{str(store.website_url).rstrip('/')}/products/{handle}",
        "image_url": _picture(product),
        "tags": _tags(product),
        "published": status == "active" and product.time("published_at") is not None,
    }
    try:
        return ProductUpsert.of(
            Product.model_validate(fields), stocks, updated_at=product.time("updated_at")
        )
    except ValidationError as exc:
        where = f"{path} (product {product_id})" if path else f"product {product_id}"
        raise MalformedPayloadError(
            f"{where} does not make a catalogue product: {field_problems(exc)}"
        ) from None


def _variant_stock(variant: _Fields) -> VariantStock:
    # Absent (API 2024-07 and later): counted, see the module's docstring; null: untracked.
    tracked = not variant.has("inventory_management") or bool(variant.text("inventory_management"))
    quantity = variant.integer("inventory_quantity") if tracked else 0
    return VariantStock(
        variant_id=variant.ident("id"),
        inventory_item_id=variant.optional_ident("inventory_item_id"),
        stock=max(quantity, 0),
        tracked=tracked,
    )


def _picture(product: _Fields) -> str | None:
    image = product.child("image")
    images = product.children("images")
    src = (image.text("src") if image else None) or (images[0].text("src") if images else None)
    return https_picture(src)


def https_picture(src: str | None) -> str | None:
    """An https link to the picture: an http one on Shopify's CDN upgraded, any other
    http one dropped (email clients warn about http)."""
    if not src:
        return None
    parts = urlsplit(src)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and any(host == h or host.endswith("." + h) for h in _CDN_HOSTS):
        return urlunsplit(("https", *parts[1:]))
    return src if parts.scheme == "https" and host else None


def _tags(product: _Fields) -> tuple[str, ...]:
    """``product_type`` first, then ``tags`` ("a, b" in the REST payload; a list is taken too)."""
    raw = product.raw("tags")
    if raw is None:
        tags: list[str] = []
    elif isinstance(raw, str):
        tags = raw.split(",")
    elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        tags = list(raw)
    else:
        raise MalformedPayloadError(f"{product.at('tags')} is not text")
    kind = product.text("product_type")
    found = [t.strip() for t in ([kind] if kind else []) + tags if t.strip()]
    return tuple(dict.fromkeys(found))


def _level_change(level: _Fields) -> CatalogueChange:
    item, location = level.ident("inventory_item_id"), level.ident("location_id")
    if level.raw("available") is None:
        return CatalogueChange(
            source=SOURCE,
            skipped=(
                Skipped(
                    subject=f"inventory item {item} at location {location}",
                    reason="no available count: the item is not stocked or tracked there",
                ),
            ),
        )
    return CatalogueChange(
        source=SOURCE,
        levels=(
            InventoryLevelSet(
                inventory_item_id=item,
                location_id=location,
                available=level.integer("available"),
                updated_at=level.time("updated_at"),
            ),
        ),
    )
