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

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from aftercare.catalogue import Product
from aftercare.enrichment.cross_sell.associations import AssociationModel


class CrossSellRules(BaseModel):
    """The store's cross-sell settings (``AFTERCARE_CROSS_SELL__...``)."""

    cards: int = Field(default=3, ge=0, le=10)
    min_stock: int = Field(default=1, ge=1)  # offer only products with at least this many
    # Price band, relative to the dearest item ordered.
    min_price_ratio: Decimal = Field(default=Decimal("0.1"), ge=0)
    max_price_ratio: Decimal = Field(default=Decimal("1.5"), gt=0)


class Source(StrEnum):
    BOUGHT_WITH = "bought_with"
    CATEGORY_BEST_SELLER = "category_best_seller"
    BEST_SELLER = "best_seller"


@dataclass(frozen=True)
class Offer:
    product: Product
    source: Source
    because_of: str | None = None  # the ordered product (or the shared tag) it came from
    score: float = 0.0

    def why(self) -> str:
        """One line for the email's record and ``aftercare explain``."""
        if self.source is Source.BOUGHT_WITH:
            return f"often bought with {self.because_of} (score {self.score:.3f})"
        if self.source is Source.CATEGORY_BEST_SELLER:
            return f"a best seller tagged {self.because_of!r}"
        return "a best seller"


@dataclass(frozen=True)
class Basket:
    """What the recommendation needs of the order and its customer."""

    product_ids: Sequence[str]  # in the order's line order
    recently_bought: Collection[str] = ()


def recommend(
    basket: Basket,
    model: AssociationModel,
    catalogue: Mapping[str, Product],
    rules: CrossSellRules | None = None,
) -> tuple[Offer, ...]:
    """At most ``rules.cards`` offers for ``basket``, best first, never one product twice."""
    rules = rules or CrossSellRules()
    if rules.cards == 0:
        return ()
    ordered = [catalogue[p] for p in basket.product_ids if p in catalogue]
    excluded = set(basket.product_ids) | set(basket.recently_bought)
    band = _price_band(ordered, rules)
    offers: list[Offer] = []
    for offer in _candidates(basket, model, catalogue, ordered):
        product = offer.product
        if product.product_id in excluded or not _offerable(product, rules, band, ordered):
            continue
        excluded.add(product.product_id)
        offers.append(offer)
        if len(offers) == rules.cards:
            break
    return tuple(offers)


def _candidates(
    basket: Basket,
    model: AssociationModel,
    catalogue: Mapping[str, Product],
    ordered: Sequence[Product],
) -> Iterator[Offer]:
    """Every candidate in preference order; the caller filters and stops at K."""
    # Round-robin over the ordered items, so a three-item order is not all about the first.
    lists = [(p, model.bought_with(p)) for p in dict.fromkeys(basket.product_ids)]
    for rank in range(max((len(n) for _, n in lists), default=0)):
        for source, neighbours in lists:
            if rank < len(neighbours):
                n = neighbours[rank]
                product = catalogue.get(n.product_id)
                if product is not None:
                    yield Offer(product, Source.BOUGHT_WITH, source, n.score)
    best = [catalogue[p] for p in model.best_sellers() if p in catalogue]
    tags = list(dict.fromkeys(tag for item in ordered for tag in item.tags))
    for tag in tags:
        for product in best:
            if tag in product.tags:
                yield Offer(product, Source.CATEGORY_BEST_SELLER, tag)
    for product in _also_unsold(best, catalogue):
        yield Offer(product, Source.BEST_SELLER)


def _also_unsold(best: Sequence[Product], catalogue: Mapping[str, Product]) -> Iterable[Product]:
    """The best sellers, then the products no basket held yet (a new store, a new line)."""
    yield from best
    seen = {p.product_id for p in best}
    yield from (p for key, p in sorted(catalogue.items()) if key not in seen)


def _price_band(
    ordered: Sequence[Product], rules: CrossSellRules
) -> tuple[Decimal, Decimal] | None:
    if not ordered:
        return None
    dearest = max(item.price for item in ordered)
    return dearest * rules.min_price_ratio, dearest * rules.max_price_ratio


def _offerable(
    product: Product,
    rules: CrossSellRules,
    band: tuple[Decimal, Decimal] | None,
    ordered: Sequence[Product],
) -> bool:
    if not product.published:
        return False
    if product.stock is not None and product.stock < rules.min_stock:
        return False
    if ordered and product.currency != ordered[0].currency:
        return False  # a price the customer cannot compare; the store sells in one currency
    return band is None or band[0] <= product.price <= band[1]
