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
    # A product this customer bought in the last this many days is not offered again.
    recent_days: int = Field(default=180, ge=0, le=3650)
    # "Only 3 left" under a card when its stock, at render time, is this or fewer; 0: never.
    urgency_below: int = Field(default=0, ge=0, le=1000)
    # Added to every card's link, e.g. {"utm_source": "aftercare", "utm_medium": "email"};
    # "{kind}" in a value becomes the email kind (utm_campaign=order_shipped).
    utm: dict[str, str] = Field(default_factory=dict)


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
    together: int = 0  # orders that held both (bought with)

    def why(self, titles: Mapping[str, Product] | None = None) -> str:
        """One line for the email's record and ``aftercare explain``; with the catalogue,
        the ordered product is named by its title too."""
        if self.source is Source.BOUGHT_WITH:
            known = (titles or {}).get(self.because_of or "")
            named = f"{known.title} ({self.because_of})" if known else self.because_of
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


def recommend(
    basket: Basket,
    model: AssociationModel,
    catalogue: Mapping[str, Product],
    rules: CrossSellRules | None = None,
    shown: Shown = Shown.BOUGHT_WITH,
) -> tuple[Offer, ...]:
    """At most ``rules.cards`` offers for ``basket``, best first, never one product twice."""
    rules = rules or CrossSellRules()
    if rules.cards == 0 or shown is Shown.NONE:
        return ()
    ordered = [catalogue[p] for p in basket.product_ids if p in catalogue]
    excluded = set(basket.product_ids) | set(basket.recently_bought)
    band = _price_band(basket, ordered, rules)
    currency = basket.currency or (ordered[0].currency if ordered else None)
    offers: list[Offer] = []
    candidates = (
        _candidates(basket, model, catalogue, ordered)
        if shown is Shown.BOUGHT_WITH
        else _best_sellers(model, catalogue)
    )
    for offer in candidates:
        product = offer.product
        if product.product_id in excluded or not _offerable(product, rules, band, currency):
            continue
        excluded.add(product.product_id)
        offers.append(offer)
        if len(offers) == rules.cards:
            break
    return tuple(offers)


def _best_sellers(model: AssociationModel, catalogue: Mapping[str, Product]) -> Iterator[Offer]:
    best = [catalogue[p] for p in model.best_sellers() if p in catalogue]
    for product in _also_unsold(best, catalogue):
        yield Offer(product, Source.BEST_SELLER)


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
                    yield Offer(product, Source.BOUGHT_WITH, source, n.score, n.together)
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
    basket: Basket, ordered: Sequence[Product], rules: CrossSellRules
) -> tuple[Decimal, Decimal] | None:
    dearest = basket.dearest
    if dearest is None and ordered:
        dearest = max(item.price for item in ordered)
    if dearest is None:
        return None
    return dearest * rules.min_price_ratio, dearest * rules.max_price_ratio


def _offerable(
    product: Product,
    rules: CrossSellRules,
    band: tuple[Decimal, Decimal] | None,
    currency: str | None,
) -> bool:
    if not product.published:
        return False
    if product.stock is not None and product.stock < rules.min_stock:
        return False
    if currency is not None and product.currency != currency:
        return False  # a price the customer cannot compare with what they paid
    return band is None or band[0] <= product.price <= band[1]
