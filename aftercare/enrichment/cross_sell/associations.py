"""Which products are bought together: an item-to-item model learned from order history.

Three signals, added up per pair of products (a, b), then ranked for each ``a``:

    score(a -> b) = together(a, b) + customer_weight * same_customer(a, b)
                    + prior * baskets_with(b) / baskets

``together``: orders that held both; ``same_customer``: customers who bought both, in any
of their orders ("customers who bought this also bought", weaker, so weighted down); the
last term is a popularity prior that breaks the many ties between pairs seen once or twice
in favour of what sells, instead of alphabetically. On real baskets (Instacart,
``bench/crosssell_eval.py``) discounting popular products, as cosine or lift do, lost to
plain counts; this beat them at every K.

The model is plain data (dicts of tuples), built once by a flow from the order lines and
read at render time with a dict lookup: no query per email.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

# A basket (or a customer's history) with more distinct products than this (a wholesale
# order, a test import) says little about what goes together and costs its size squared:
# only its first products count.
MAX_BASKET_PRODUCTS = 40
MAX_CUSTOMER_PRODUCTS = 40


@dataclass(frozen=True)
class AssociationTuning:
    customer_weight: float = 0.3
    prior: float = 5.0
    min_evidence: int = 1  # orders plus customers a pair must share to be kept at all
    neighbours_kept: int = 30  # per product: enough for K cards after every exclusion


@dataclass(frozen=True)
class Neighbour:
    product_id: str
    score: float
    together: int  # orders that held both: for the email record's "why"


@dataclass(frozen=True)
class AssociationModel:
    """Each product's most associated products, best first, and every product's count."""

    neighbours: dict[str, tuple[Neighbour, ...]] = field(default_factory=dict)
    baskets_with: dict[str, int] = field(default_factory=dict)
    baskets: int = 0
    tuning: AssociationTuning = AssociationTuning()

    def bought_with(self, product_id: str) -> tuple[Neighbour, ...]:
        return self.neighbours.get(product_id, ())

    def best_sellers(self, limit: int | None = None) -> tuple[str, ...]:
        """Products by the number of baskets they were in, most first (ties: by id)."""
        ranked = sorted(self.baskets_with.items(), key=lambda item: (-item[1], item[0]))
        return tuple(product for product, _ in ranked[:limit])


def build_associations(
    orders: Iterable[tuple[str | None, Iterable[str]]],
    tuning: AssociationTuning | None = None,
) -> AssociationModel:
    """The model for ``orders``: (customer key or ``None``, the order's product ids)."""
    tuning = tuning or AssociationTuning()
    together: Counter[tuple[str, str]] = Counter()
    counts: Counter[str] = Counter()
    bought: dict[str, dict[str, None]] = {}  # per customer, products in first-bought order
    total = 0
    for customer, basket in orders:
        products = sorted(set(basket))[:MAX_BASKET_PRODUCTS]
        if not products:
            continue
        total += 1
        counts.update(products)
        together.update(combinations(products, 2))  # sorted: each pair once, (a, b) with a < b
        if customer is not None:
            bought.setdefault(customer, {}).update(dict.fromkeys(products))
    same_customer: Counter[tuple[str, str]] = Counter()
    for products in bought.values():
        if len(products) > 1:
            same_customer.update(combinations(sorted(products)[:MAX_CUSTOMER_PRODUCTS], 2))
    return AssociationModel(
        neighbours=_ranked_neighbours(together, same_customer, counts, total, tuning),
        baskets_with=dict(counts),
        baskets=total,
        tuning=tuning,
    )


def _ranked_neighbours(
    together: Counter[tuple[str, str]],
    same_customer: Counter[tuple[str, str]],
    counts: Counter[str],
    total: int,
    tuning: AssociationTuning,
) -> dict[str, tuple[Neighbour, ...]]:
    weight, prior = tuning.customer_weight, tuning.prior / max(total, 1)
    candidates: dict[str, list[Neighbour]] = {}
    for pair in together.keys() | same_customer.keys():
        both, customers = together.get(pair, 0), same_customer.get(pair, 0)
        if both + customers < tuning.min_evidence:
            continue
        evidence = both + weight * customers
        a, b = pair
        for source, target in ((a, b), (b, a)):
            score = evidence + prior * counts[target]
            candidates.setdefault(source, []).append(Neighbour(target, score, both))
    return {
        source: tuple(
            sorted(found, key=lambda n: (-n.score, n.product_id))[: tuning.neighbours_kept]
        )
        for source, found in candidates.items()
    }
