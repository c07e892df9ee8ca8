"""The products one email offers: bought with the order's items, in stock, in its price range.

Ranked candidates come from the association model (``associations``) for each ordered
item in turn, then the best sellers sharing a tag (the store's category) with the order,
then the best sellers overall. Whatever the source, a product is only offered when the
catalogue says it is published and in stock above the store's threshold *now*, is not in
the order, was not bought by this customer recently, and is priced within a band around
the order's items (a €4 sticker under a €900 order, or a sofa under a mug, sells nothing).
Each offer keeps why it was chosen, for the email's record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from itertools import chain
from typing import NamedTuple

from pydantic import BaseModel, Field

from aftercare.catalogue import Product
from aftercare.enrichment.cross_sell.associations import AssociationModel


class Shown(StrEnum):
    """What an email kind's cross-sell block offers."""

    BOUGHT_WITH = "bought_with"  # what goes with the order, then its category's best sellers
    BEST_SELLERS = "best_sellers"  # the store's best sellers (a welcome has no order yet)
    NONE = "none"


class ShownPerKind(BaseModel):
    """Per email kind (``AFTERCARE_CROSS_SELL__SHOW__WELCOME=none``). An apology for a
    delay or a refund is no moment to sell, so those show nothing unless the store says."""

    welcome: Shown = Shown.BEST_SELLERS
    order_confirmation: Shown = Shown.BOUGHT_WITH
    order_shipped: Shown = Shown.BOUGHT_WITH
    order_delayed: Shown = Shown.NONE
    order_refunded: Shown = Shown.NONE
    order_delivered: Shown = Shown.BOUGHT_WITH

    def of(self, kind: str) -> Shown:
        return getattr(self, kind, Shown.NONE)


class CrossSellRules(BaseModel):
    """The store's cross-sell settings (``AFTERCARE_CROSS_SELL__...``)."""

    cards: int = Field(default=3, ge=0, le=10)
    min_stock: int = Field(default=1, ge=1)  # offer only products with at least this many
    # Price band, relative to the dearest item ordered.
    min_price_ratio: Decimal = Field(default=Decimal("0.1"), ge=0)
    max_price_ratio: Decimal = Field(default=Decimal("1.5"), gt=0)
    show: ShownPerKind = Field(default_factory=ShownPerKind)
    # A product this customer bought in the last this many days is not offered again (a
    # year: most things a store sells are not bought twice a year; a store selling coffee
    # or refills sets it to a few weeks).
    recent_days: int = Field(default=365, ge=0, le=3650)
    # "Only 3 left" under a card when its stock, at render time, is this or fewer; 0: never.
    urgency_below: int = Field(default=0, ge=0, le=1000)
    # Added to every card's link, e.g. {"utm_source": "aftercare", "utm_medium": "email"};
    # "{kind}" in a value becomes the email kind (utm_campaign=order_shipped).
    utm: dict[str, str] = Field(default_factory=dict)


class Source(StrEnum):
    BOUGHT_WITH = "bought_with"
    CATEGORY_BEST_SELLER = "category_best_seller"
    BEST_SELLER = "best_seller"


class Offer(NamedTuple):
    """A tuple, not a dataclass: every email makes a few (a frozen dataclass costs a
    microsecond to build, a tenth of choosing the cards)."""

    product: Product
    source: Source
    because_of: str | None = None  # the ordered product (or the shared tag) it came from
    score: float = 0.0
    together: int = 0  # orders that held both (bought with)

    def why(self, because_of_title: str | None = None) -> str:
        """One line for the email's record and ``aftercare explain``; the ordered product
        is named by its title too, when given."""
        if self.source is Source.BOUGHT_WITH:
            named = (
                f"{because_of_title} ({self.because_of})" if because_of_title else self.because_of
            )
            return (
                f"bought with {named}: in {self.together} orders together (score {self.score:.3f})"
            )
        if self.source is Source.CATEGORY_BEST_SELLER:
            return f"a best seller tagged {self.because_of!r}"
        return "a best seller"


@dataclass(frozen=True)
class Basket:
    """What the recommendation needs of the order and its customer.

    ``currency`` is the order's: a card shows a price the customer can compare, so only
    products priced in it are offered. ``dearest`` is the order's dearest unit price, the
    centre of the price band (the catalogue's own prices when it is not given).
    """

    product_ids: Sequence[str]  # in the order's line order
    recently_bought: Collection[str] = ()
    currency: str | None = None
    dearest: Decimal | None = None


# A candidate before it is accepted: what the checks read first (product id, price as a
# float, currency), then the product, its source, what it came from, score, together.
_Candidate = tuple[str, float, str, Product, Source, str | None, float, int]


def _candidate(
    product: Product, source: Source, because_of: str | None = None, score: float = 0.0, n: int = 0
) -> _Candidate:
    return (product.product_id, float(product.price), product.currency, product, source,
            because_of, score, n)  # fmt: skip


@dataclass(frozen=True)
class Shelf:
    """The catalogue as emails offer from it, arranged once per model, catalogue and stock
    threshold (a drain arranges it again only when one changes), so no email sorts, scans
    or re-checks the catalogue: only what is published and in stock is on it.

    ``ranked``: best sellers first, then the products no basket held yet (a new store, a
    new line) by id; ``by_tag``: the best sellers carrying each tag, in order; each
    product's partners are looked up once, on first use. Per email only the checks that
    depend on the order run (not in it, not bought recently, same currency, price band).
    """

    catalogue: Mapping[str, Product]
    model: AssociationModel
    min_stock: int
    ranked: tuple[_Candidate, ...]
    by_tag: Mapping[str, tuple[_Candidate, ...]]
    _partners: dict[str, tuple[_Candidate, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def arrange(
        cls, model: AssociationModel, catalogue: Mapping[str, Product], min_stock: int = 1
    ) -> Shelf:
        def available(product: Product) -> bool:
            return product.published and (product.stock is None or product.stock >= min_stock)

        sold = [catalogue[p] for p in model.best_sellers() if p in catalogue]
        seen = {p.product_id for p in sold}
        unsold = [p for key, p in sorted(catalogue.items()) if key not in seen]
        by_tag: dict[str, list[_Candidate]] = {}
        for product in filter(available, sold):
            for tag in product.tags:
                by_tag.setdefault(tag, []).append(
                    _candidate(product, Source.CATEGORY_BEST_SELLER, tag)
                )
        return cls(
            catalogue=catalogue,
            model=model,
            min_stock=min_stock,
            ranked=tuple(
                _candidate(p, Source.BEST_SELLER) for p in (*sold, *unsold) if available(p)
            ),
            by_tag={tag: tuple(found) for tag, found in by_tag.items()},
        )

    def partners(self, product_id: str) -> tuple[_Candidate, ...]:
        """What is bought with ``product_id``, on the shelf, best first."""
        found = self._partners.get(product_id)
        if found is None:
            products, least = self.catalogue, self.min_stock
            found = tuple(
                _candidate(product, Source.BOUGHT_WITH, product_id, score, together)
                for target, score, together in self.model.bought_with(product_id)
                if (product := products.get(target)) is not None
                and product.published
                and (product.stock is None or product.stock >= least)
            )
            self._partners[product_id] = found
        return found


def recommend(
    basket: Basket,
    model: AssociationModel,
    catalogue: Mapping[str, Product] | Shelf,
    rules: CrossSellRules | None = None,
    shown: Shown = Shown.BOUGHT_WITH,
) -> tuple[Offer, ...]:
    """At most ``rules.cards`` offers for ``basket``, best first, never one product twice.

    ``catalogue`` is best given as a ``Shelf`` arranged once for many emails (one arranged
    for another model or stock threshold is arranged again here).
    """
    rules = rules or CrossSellRules()
    if rules.cards == 0 or shown is Shown.NONE:
        return ()
    if (
        isinstance(catalogue, Shelf)
        and catalogue.model is model
        and catalogue.min_stock == rules.min_stock
    ):
        shelf = catalogue
    else:
        products = catalogue.catalogue if isinstance(catalogue, Shelf) else catalogue
        shelf = Shelf.arrange(model, products, rules.min_stock)
    products = shelf.catalogue
    ordered = [products[p] for p in basket.product_ids if p in products]
    excluded = set(basket.product_ids)
    excluded.update(basket.recently_bought)
    band = _price_band(basket, ordered, rules)
    # A price the customer cannot compare with what they paid is no offer.
    currency = basket.currency or (ordered[0].currency if ordered else None)
    low, high = (float(band[0]), float(band[1])) if band is not None else (0.0, float("inf"))
    offers: list[Offer] = []
    cards = rules.cards

    def take(candidates: Iterator[_Candidate]) -> bool:
        """Offer the next acceptable candidate; whether there was one. The checks read
        the candidate's first fields only: this runs for every email."""
        for product_id, price, priced_in, product, source, because_of, score, n in candidates:
            if (
                product_id in excluded
                or price < low
                or price > high
                or (currency is not None and priced_in != currency)
            ):
                continue
            excluded.add(product_id)
            offers.append(Offer(product, source, because_of, score, n))
            return True
        return False

    fallbacks: list[tuple[_Candidate, ...]] = []
    if shown is Shown.BOUGHT_WITH:
        # Round-robin over the ordered items, each giving its best partner that fits in
        # turn, so a three-item order is not all about the first.
        turns = [iter(shelf.partners(p)) for p in dict.fromkeys(basket.product_ids)]
        while turns and len(offers) < cards:
            turns = [turn for turn in turns if len(offers) < cards and take(turn)]
        fallbacks = [
            shelf.by_tag.get(tag, ())
            for tag in dict.fromkeys(tag for item in ordered for tag in item.tags)
        ]
    remaining = chain(*fallbacks, shelf.ranked)
    while len(offers) < cards and take(remaining):
        pass
    return tuple(offers)


def _price_band(
    basket: Basket, ordered: Sequence[Product], rules: CrossSellRules
) -> tuple[Decimal, Decimal] | None:
    dearest = basket.dearest
    if dearest is None and ordered:
        dearest = max(item.price for item in ordered)
    if dearest is None:
        return None
    return dearest * rules.min_price_ratio, dearest * rules.max_price_ratio
