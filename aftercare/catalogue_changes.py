"""What a store says about its catalogue, in one shape whoever said it.

A product webhook (Shopify ``products/*``, WooCommerce ``product.*``), a stock report
(Shopify ``inventory_levels/update``) and an imported file all become one
``CatalogueChange``: products upserted with their variants, products removed, inventory
levels set, and what was left out and why. ``storage/catalogue_records.apply_catalogue_change``
writes it; nothing that writes it knows which store spoke.

A product's stock is the sum of its tracked variants' stock, and ``None`` when the store
counts none of them (always sellable): ``ProductUpsert.of`` computes it, so the two cannot
disagree. A product that comes without variants (a CSV row, a WooCommerce simple product)
is its own single variant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aftercare.catalogue import Product
from aftercare.events import ShortText


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class VariantStock(_Frozen):
    """One variant (a size, a colour) and what the store holds of it.

    ``inventory_item_id`` is Shopify's: its ``inventory_levels/update`` names the item, not
    the variant. ``tracked`` False: the store does not count it (``stock`` is then ignored).
    """

    variant_id: ShortText
    inventory_item_id: ShortText | None = None
    stock: int = Field(ge=0)
    tracked: bool = True


def stock_of(variants: Iterable[VariantStock]) -> int | None:
    """The product's stock: its tracked variants' sum, ``None`` when none is tracked."""
    tracked = [v.stock for v in variants if v.tracked]
    return sum(tracked) if tracked else None


class ProductUpsert(_Frozen):
    """A product as the store now describes it, with all its variants.

    ``updated_at``: when the store last changed it (the payload's own time), so that stock
    levels reported after it are not overwritten by it; None for a file import, which is the
    operator's word for now.
    """

    product: Product
    variants: tuple[VariantStock, ...] = Field(min_length=1)
    updated_at: datetime | None = None

    @model_validator(mode="after")
    def _stock_is_the_variants_sum(self) -> Self:
        if self.product.stock != stock_of(self.variants):
            raise ValueError("the product's stock is not the sum of its tracked variants")
        ids = [v.variant_id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("a variant id appears twice")
        return self

    @classmethod
    def of(
        cls,
        product: Product,
        variants: Iterable[VariantStock],
        updated_at: datetime | None = None,
    ) -> ProductUpsert:
        """The upsert with the product's stock set from its variants."""
        variants = tuple(variants)
        return cls(
            product=product.model_copy(update={"stock": stock_of(variants)}),
            variants=variants,
            updated_at=updated_at,
        )

    @classmethod
    def single(cls, product: Product, updated_at: datetime | None = None) -> ProductUpsert:
        """A product without variants of its own: one variant, keyed by the product id."""
        variant = VariantStock(
            variant_id=product.product_id,
            stock=product.stock or 0,
            tracked=product.stock is not None,
        )
        return cls(product=product, variants=(variant,), updated_at=updated_at)


class InventoryLevelSet(_Frozen):
    """How many of one inventory item one location has available now (Shopify).

    ``available`` may be negative: Shopify lets a store oversell. It is stored as sent and
    counts as nothing on the shelf.
    """

    inventory_item_id: ShortText
    location_id: ShortText
    available: int
    updated_at: datetime | None = None


class Skipped(_Frozen):
    """Something the store sent that the catalogue cannot take, and why (for the operator).

    A skipped product already in the catalogue is unpublished: what the store describes now
    cannot be offered (no price, say), and the old description must not be offered instead.
    """

    subject: ShortText  # "product 799"
    reason: ShortText
    product_id: ShortText | None = None


class CatalogueChange(_Frozen):
    """One store's news about its catalogue; an empty change is a valid one (nothing to do)."""

    source: ShortText
    upserted: tuple[ProductUpsert, ...] = ()
    # Deleted at the store: kept (old orders name them), unpublished, stock 0.
    removed: tuple[ShortText, ...] = ()
    levels: tuple[InventoryLevelSet, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    @model_validator(mode="after")
    def _one_word_per_product(self) -> Self:
        ids = [u.product.product_id for u in self.upserted]
        if len(set(ids)) != len(ids):
            raise ValueError("a product is upserted twice in one change")
        return self

    @property
    def empty(self) -> bool:
        return not (self.upserted or self.removed or self.levels or self.skipped)

    def describe(self) -> str:
        """One line for the inbox record: ``2 products, 1 removed, 1 stock level, 1 skipped``."""
        parts = [
            f"{len(self.upserted)} product(s)" if self.upserted else "",
            f"{len(self.removed)} removed" if self.removed else "",
            f"{len(self.levels)} stock level(s)" if self.levels else "",
            f"{len(self.skipped)} skipped ({self.skipped[0].reason})" if self.skipped else "",
        ]
        return ", ".join(p for p in parts if p) or "nothing"
