"""WooCommerce's product webhooks as one ``CatalogueChange``.

A product webhook's body is the REST product (``GET /wp-json/wc/v3/products/{id}``); a
``product.deleted`` one is ``{"id": …}`` only (``WC_Webhook::build_payload``), and it fires
when the product goes to the trash, which ``product.restored`` undoes with the whole
product again. ``product.created`` and ``product.updated`` also fire for a variation of a
variable product (its own REST resource, ``type: variation``); a variation is not a card of
its own, and its parent is saved, with its stock status brought up to date, when it
changes, so a variation's webhook is skipped with that reason.

How a WooCommerce product becomes a cross-sell card:

- **Offered** only when ``status`` is ``publish`` (not ``draft``, ``pending``, ``private``
  or ``future``) and ``catalog_visibility`` is not ``hidden``.
- **Price**: ``price``, the price the shop charges now (the sale price during a sale),
  in the shop's currency (``settings.store.default_currency``: the payload names none). An
  empty price (a variable or grouped product without priced children, a product with no
  price yet) or zero cannot be offered: the product is skipped, with that reason.
- **Stock**: with ``manage_stock``, ``stock_quantity`` (below zero on backorder: 0).
  Without it the store does not count: untracked, always sellable, unless ``stock_status``
  says ``outofstock``, or ``onbackorder`` (sold now, shipped later: a recommendation should
  ship now), which count as 0.
- **Link** ``permalink``; **picture** the first of ``images`` (an http one is dropped);
  **tags** the names of ``categories`` then ``tags``; **title** ``name``, which WooCommerce
  stores HTML-escaped (``Ship Your Idea &ndash; Black``), decoded once; **SKU** ``sku``,
  else the product id.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from aftercare.catalogue import Product
from aftercare.catalogue_changes import CatalogueChange, ProductUpsert, Skipped, VariantStock
from aftercare.settings import StoreFacts
from aftercare.stores import MalformedPayloadError
from aftercare.stores.payload_fields import PayloadFields
from aftercare.validation_errors import field_problems

SOURCE = "woocommerce"

# What the request path checks before answering 200 (``WooCommerceAdapter.accept``).
CATALOGUE_TOPICS: dict[str, tuple[str, ...]] = {
    "product.created": ("id",),
    "product.updated": ("id",),
    "product.restored": ("id",),
    "product.deleted": ("id",),
}

_NOT_ON_THE_SHELF = frozenset({"outofstock", "onbackorder"})


def catalogue_change(topic: str, payload: Any, store: StoreFacts) -> CatalogueChange:
    """The change one of ``CATALOGUE_TOPICS`` makes; ``MalformedPayloadError`` names the
    field when the body is not what the topic promises."""
    if topic == "product.deleted":
        return CatalogueChange(source=SOURCE, removed=(PayloadFields(payload, "").ident("id"),))
    if topic not in CATALOGUE_TOPICS:
        raise ValueError(f"{topic} is not a catalogue topic")  # the adapter asks only for these
    outcome = product_upsert(payload, store)
    if isinstance(outcome, Skipped):
        return CatalogueChange(source=SOURCE, skipped=(outcome,))
    return CatalogueChange(source=SOURCE, upserted=(outcome,))


def product_upsert(data: Any, store: StoreFacts, path: str = "") -> ProductUpsert | Skipped:
    """One WooCommerce REST product as the catalogue keeps it, or why it cannot be offered.
    ``path`` prefixes field names in errors (``[3]`` in an imported file)."""
    product = PayloadFields(data, path)
    product_id = product.ident("id")
    subject = f"product {product_id}"
    if product.text("type") == "variation":
        parent = product.text("parent_id") or "?"
        return Skipped(
            subject=subject,
            reason=f"a variation of product {parent}: its parent carries the card and stock",
        )
    price = product.decimal("price")
    if price is None or price <= 0:
        return Skipped(
            subject=subject,
            reason="no price (a variable or grouped product without priced options, or a "
            "price not set yet), so there is nothing to offer",
            product_id=product_id,
        )
    permalink = product.text("permalink")
    if permalink is None:
        raise MalformedPayloadError(f"{product.at('permalink')} is missing")
    name = product.text("name")
    if name is None:
        raise MalformedPayloadError(f"{product.at('name')} is missing")
    fields = {
        "product_id": product_id,
        "sku": product.text("sku") or product_id,
        "title": html.unescape(name),
        "price": price,
        "currency": store.default_currency,
        "stock": None,
        "url": permalink,
        "image_url": _picture(product),
        "tags": _tags(product),
        "published": product.text("status") == "publish"
        and product.text("catalog_visibility") != "hidden",
    }
    try:
        return ProductUpsert.of(
            Product.model_validate(fields), [_stock(product)], updated_at=_modified(product)
        )
    except ValidationError as exc:
        where = f"{path} (product {product_id})" if path else subject
        raise MalformedPayloadError(
            f"{where} does not make a catalogue product: {field_problems(exc)}"
        ) from None


def _stock(product: PayloadFields) -> VariantStock:
    """One variant, keyed by the product id: the parent's body carries no variation stock."""
    product_id = product.ident("id")
    if product.raw("manage_stock") is True:
        quantity = product.integer("stock_quantity") if product.raw("stock_quantity") else 0
        return VariantStock(variant_id=product_id, stock=max(quantity, 0))
    if product.text("stock_status") in _NOT_ON_THE_SHELF:
        return VariantStock(variant_id=product_id, stock=0)
    return VariantStock(variant_id=product_id, stock=0, tracked=False)


def _picture(product: PayloadFields) -> str | None:
    images = product.children("images")
    src = images[0].text("src") if images else None
    if src is None:
        return None
    parts = urlsplit(src)
    return src if parts.scheme == "https" and parts.hostname else None


def _tags(product: PayloadFields) -> tuple[str, ...]:
    names = [
        html.unescape(name)
        for key in ("categories", "tags")
        for term in product.children(key)
        if (name := term.text("name"))
    ]
    return tuple(dict.fromkeys(names))


def _modified(product: PayloadFields) -> datetime | None:
    """``date_modified_gmt``: ISO 8601 in UTC without an offset (the field without ``_gmt``
    is in the site's time zone, which the payload does not name)."""
    value = product.text("date_modified_gmt")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayloadError(
            f"{product.at('date_modified_gmt')} is not an ISO 8601 date and time"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
