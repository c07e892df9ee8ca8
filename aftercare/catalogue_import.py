"""Reading a catalogue file for ``aftercare catalog import FILE``, whatever shape it has.

The format is told from the content, not the file name:

- **JSON** — Shopify's products (``{"product": {…}}``, ``{"products": […]}`` or a list of
  products, as the Admin API returns them) or WooCommerce's (one REST product or a list):
  a Shopify product has ``variants``, a WooCommerce one a ``permalink``. Each is read by the
  same code as its webhook (``stores/shopify_products``, ``stores/woocommerce_products``).
- **CSV with Shopify's product-export header** (``Handle``, ``Title``, ``Variant SKU``,
  ``Variant Price``, ``Variant Inventory Qty``, ``Image Src``, ``Tags``, ``Status``,
  ``Published``, …): one product per ``Handle`` over its rows (the first names the product,
  the others add variants and pictures), stock the sum of its variants'. The export has no
  product ids, so the handle is the product id.
- **CSV with the simple header** ``product_id, sku, title, price, currency, stock, url,
  image_url, tags, published`` (only ``product_id``, ``title``, ``price`` and ``url`` are
  required; an empty ``stock`` means not counted, always available; ``tags`` is
  comma-separated inside its field; ``published`` is true/false, yes/no or 1/0, true when
  empty; ``currency`` is the store's when empty).

Nothing is half-imported: the whole file is read first and every problem (its line or
product, and the field) is listed in one ``CatalogueFileError``; only a file without one
becomes a ``CatalogueChange``, written in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aftercare.catalogue import Product
from aftercare.catalogue_changes import CatalogueChange, ProductUpsert, Skipped, VariantStock
from aftercare.errors import AftercareError
from aftercare.settings import StoreFacts
from aftercare.stores import MalformedPayloadError, shopify_products, woocommerce_products
from aftercare.validation_errors import field_problems

SIMPLE_COLUMNS = (
    "product_id",
    "sku",
    "title",
    "price",
    "currency",
    "stock",
    "url",
    "image_url",
    "tags",
    "published",
)
_SIMPLE_REQUIRED = ("product_id", "title", "price", "url")
_SHOPIFY_REQUIRED = ("Handle", "Variant Price")

_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n"})

# A problem found while reading: where (a line, a product) and what.
_Problems = list[str]


class CatalogueFileError(AftercareError):
    """The file cannot be imported; ``problems`` lists each, with its line or product and
    field. Nothing was written."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path, self.problems = path, tuple(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s), nothing imported:\n{listed}")


@dataclass(frozen=True)
class CatalogueFile:
    """What a file holds: its format (``csv``, ``shopify-csv``, ``shopify-json``,
    ``woocommerce-json``) and the change it makes."""

    path: Path
    format: str
    change: CatalogueChange

    @property
    def products(self) -> int:
        return len(self.change.upserted)


def read_catalogue_file(path: Path, store: StoreFacts) -> CatalogueFile:
    """The change ``path`` makes, or ``CatalogueFileError`` listing every problem."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise CatalogueFileError(path, [f"cannot be read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise CatalogueFileError(path, ["is not UTF-8 text (save it as UTF-8)"]) from None
    if not text.strip():
        raise CatalogueFileError(path, ["is empty"])
    if text.lstrip()[:1] in ("{", "["):
        kind, outcomes, problems = _read_json(text)
    else:
        kind, outcomes, problems = _read_csv(text, store)
    if kind == "shopify-json":
        outcomes, problems = _each(outcomes, problems, shopify_products.product_upsert, store)
    elif kind == "woocommerce-json":
        outcomes, problems = _each(outcomes, problems, woocommerce_products.product_upsert, store)
    upserts = [o for o in outcomes if isinstance(o, ProductUpsert)]
    problems += _duplicates(upserts)
    if problems:
        raise CatalogueFileError(path, problems)
    if not outcomes:
        raise CatalogueFileError(path, ["holds no products"])
    change = CatalogueChange(
        source=kind,
        upserted=tuple(upserts),
        skipped=tuple(o for o in outcomes if isinstance(o, Skipped)),
    )
    return CatalogueFile(path=path, format=kind, change=change)


# --- JSON -------------------------------------------------------------------------------------


def _read_json(text: str) -> tuple[str, list[Any], _Problems]:
    """The store the JSON is from and its products (as ``(path, object)``), unread."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        return "json", [], [f"is not valid JSON{where}"]
    if isinstance(data, dict) and "product" in data:
        items = [("product", data["product"])]
    elif isinstance(data, dict) and "products" in data:
        if not isinstance(data["products"], list):
            return "json", [], ["products is not a list"]
        items = [(f"products[{i}]", p) for i, p in enumerate(data["products"])]
    elif isinstance(data, list):
        items = [(f"[{i}]", p) for i, p in enumerate(data)]
    else:
        items = [("", data)]
    first = next((p for _, p in items if isinstance(p, dict)), None)
    if first is None:
        return "json", [], ["holds no product objects"]
    if "variants" in first or "handle" in first:
        return "shopify-json", items, []
    if "permalink" in first or "regular_price" in first:
        return "woocommerce-json", items, []
    return (
        "json",
        [],
        [
            "is neither Shopify product JSON (products with variants) nor WooCommerce "
            "product JSON (products with a permalink)"
        ],
    )


def _each(
    items: Iterable[tuple[str, Any]],
    problems: _Problems,
    read: Callable[[Any, StoreFacts, str], ProductUpsert | Skipped],
    store: StoreFacts,
) -> tuple[list[ProductUpsert | Skipped], _Problems]:
    outcomes: list[ProductUpsert | Skipped] = []
    for path, item in items:
        try:
            outcomes.append(read(item, store, path))
        except MalformedPayloadError as exc:
            problems.append(str(exc) if path else f"the product: {exc}")
    return outcomes, problems


# --- CSV --------------------------------------------------------------------------------------


def _read_csv(text: str, store: StoreFacts) -> tuple[str, list[Any], _Problems]:
    rows = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in rows.fieldnames or []]
    rows.fieldnames = header
    if "Handle" in header:
        missing = [c for c in _SHOPIFY_REQUIRED if c not in header]
        if missing:
            return "shopify-csv", [], [f"the header has no {', '.join(missing)} column"]
        outcomes, problems = _shopify_export(rows, store)
        return "shopify-csv", outcomes, problems
    missing = [c for c in _SIMPLE_REQUIRED if c not in header]
    if missing:
        return (
            "csv",
            [],
            [
                f"the header has no {', '.join(missing)} column; expected "
                f"{','.join(SIMPLE_COLUMNS)} or Shopify's product export"
            ],
        )
    outcomes: list[Any] = []
    problems: _Problems = []
    for row in rows:
        line = rows.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            outcomes.append(_simple_row(row, store))
        except _RowError as exc:
            name = (row.get("product_id") or "").strip()
            problems += [
                f"line {line}{f' (product {name})' if name else ''}: {p}" for p in exc.problems
            ]
    return "csv", outcomes, problems


class _RowError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def _simple_row(row: dict[str, Any], store: StoreFacts) -> ProductUpsert:
    problems: list[str] = []
    for column in _SIMPLE_REQUIRED:
        if not _cell(row, column):
            problems.append(f"{column} is missing")
    price = _decimal(_cell(row, "price"), "price", problems)
    stock_text = _cell(row, "stock")
    stock = _whole(stock_text, "stock", problems) if stock_text else None
    if stock is not None and stock < 0:
        problems.append(
            "stock is negative (write 0 for out of stock, leave it empty if not counted)"
        )
    published = _flag(_cell(row, "published"), "published", problems)
    if problems:
        raise _RowError(problems)
    fields = {
        "product_id": _cell(row, "product_id"),
        "sku": _cell(row, "sku") or _cell(row, "product_id"),
        "title": _cell(row, "title"),
        "price": price,
        "currency": (_cell(row, "currency") or store.default_currency).upper(),
        "stock": stock,
        "url": _cell(row, "url"),
        "image_url": _cell(row, "image_url") or None,
        "tags": _tags(_cell(row, "tags")),
        "published": published,
    }
    try:
        return ProductUpsert.single(Product.model_validate(fields))
    except ValidationError as exc:
        raise _RowError([field_problems(exc)]) from None


def _shopify_export(rows: csv.DictReader[str], store: StoreFacts) -> tuple[list[Any], _Problems]:
    """One product per ``Handle``: its rows in the order of the file."""
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    problems: _Problems = []
    for row in rows:
        handle = _cell(row, "Handle")
        if not handle:
            if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                problems.append(f"line {rows.line_num}: Handle is missing")
            continue
        groups.setdefault(handle, []).append((rows.line_num, row))
    outcomes: list[Any] = []
    for handle, lines in groups.items():
        try:
            outcomes.append(_shopify_product(handle, lines, store))
        except _RowError as exc:
            problems += [f"product {handle} (line {lines[0][0]}): {p}" for p in exc.problems]
    return outcomes, problems


def _shopify_product(
    handle: str, lines: list[tuple[int, dict[str, Any]]], store: StoreFacts
) -> ProductUpsert | Skipped:
    problems: list[str] = []
    first = lines[0][1]
    title = next((t for _, r in lines if (t := _cell(r, "Title"))), "")
    if not title:
        problems.append("Title is missing")
    variants, prices = [], []
    for line, row in lines:
        if not (_cell(row, "Variant Price") or _cell(row, "Variant SKU")):
            continue  # a row that only adds a picture
        where = f"line {line}: " if line != lines[0][0] else ""
        price = _decimal(_cell(row, "Variant Price"), f"{where}Variant Price", problems)
        if price is not None and price > 0:
            prices.append(price)
        quantity_text = _cell(row, "Variant Inventory Qty")
        tracker = _cell(row, "Variant Inventory Tracker")
        tracked = bool(tracker) if "Variant Inventory Tracker" in row else bool(quantity_text)
        quantity = (
            _whole(quantity_text, f"{where}Variant Inventory Qty", problems) if quantity_text else 0
        )
        variants.append(
            VariantStock(
                variant_id=_cell(row, "Variant SKU") or f"{handle}#{len(variants) + 1}",
                # Oversold (below zero) is nothing on the shelf, as in the webhooks.
                stock=max(quantity or 0, 0),
                tracked=tracked,
            )
        )
    status = _cell(first, "Status").lower() or "active"
    published = _flag(_cell(first, "Published"), "Published", problems)
    if not variants:
        problems.append("Variant Price is missing")
    if problems:
        raise _RowError(problems)
    if not prices:
        return Skipped(
            subject=f"product {handle}",
            reason="no variant has a price above zero, so there is nothing to offer",
            product_id=handle,
        )
    picture = next((p for _, r in lines if (p := _cell(r, "Image Src"))), None)
    kind = _cell(first, "Type")
    fields = {
        "product_id": handle,
        "sku": next(
            (v.variant_id for v in variants if not v.variant_id.startswith(handle + "#")), handle
        ),
        "title": title,
        "price": min(prices),
        "currency": store.default_currency,
        "stock": None,
        "url": f"{str(store.website_url).rstrip('/')}/products/{handle}",
        "image_url": shopify_products.https_picture(picture),
        "tags": tuple(dict.fromkeys(([kind] if kind else []) + list(_tags(_cell(first, "Tags"))))),
        "published": status == "active" and published,
    }
    try:
        return ProductUpsert.of(Product.model_validate(fields), variants)
    except ValidationError as exc:
        raise _RowError([field_problems(exc)]) from None


# --- cells ------------------------------------------------------------------------------------


def _decimal(text: str, column: str, problems: list[str]) -> Decimal | None:
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        problems.append(f"{column} is not a number (write 12.50, with a point)")
        return None
    return number


def _whole(text: str, column: str, problems: list[str]) -> int | None:
    number = _decimal(text, column, problems)
    if number is None:
        return None
    if number != number.to_integral_value():
        problems.append(f"{column} is not a whole number")
        return None
    return int(number)


def _flag(text: str, column: str, problems: list[str]) -> bool:
    if not text or text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    problems.append(f"{column} is neither true nor false")
    return True


def _tags(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def _duplicates(upserts: Sequence[ProductUpsert]) -> _Problems:
    seen: set[str] = set()
    problems = []
    for upsert in upserts:
        product_id = upsert.product.product_id
        if product_id in seen:
            problems.append(f"product {product_id} appears more than once")
        seen.add(product_id)
    return problems
