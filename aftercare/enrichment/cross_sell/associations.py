"""Which products are bought together: an item-to-item model learned from order history.

Plain co-occurrence counts recommend the best sellers to everyone (the bag of coffee is in
every third basket, so it is "bought with" everything). Lift corrects for popularity but
trusts a single shared basket of two rare products as much as a thousand. The score here
does both, the usual way for item-to-item recommenders:

    score(a -> b) = c(a, b) / (n(a) ** alpha * n(b) ** (1 - alpha)) * c(a, b) / (c(a, b) + shrink)

``c(a, b)``: baskets holding both, ``n(x)``: baskets holding ``x``. With ``alpha = 0.5`` the
first factor is the cosine of the two products' basket vectors; a lower ``alpha``
penalises popular ``b`` harder. The second factor shrinks pairs seen only a few times
towards zero. ``bench/crosssell_eval.py`` compares it with plain counts and popularity.

The model is plain data (dicts of tuples), built once by a flow from the order lines and
read at render time with a dict lookup: no query per email.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

# A basket with more distinct products than this (a wholesale order, a test import) says
# little about what goes together and costs its size squared: only its first products
# count.
MAX_BASKET_PRODUCTS = 40


@dataclass(frozen=True)
class AssociationTuning:
    alpha: float = 0.5
    shrink: float = 3.0
    min_together: int = 2  # baskets a pair must share to be kept at all
    neighbours_kept: int = 30  # per product: enough for K cards after every exclusion


@dataclass(frozen=True)
class Neighbour:
    product_id: str
    score: float
    together: int  # baskets that held both: for the email record's "why"


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
    baskets: Iterable[Iterable[str]], tuning: AssociationTuning | None = None
) -> AssociationModel:
    """The model for ``baskets`` (each: the product ids of one order, repeats ignored)."""
    tuning = tuning or AssociationTuning()
    together: Counter[tuple[str, str]] = Counter()
    counts: Counter[str] = Counter()
    total = 0
    for basket in baskets:
        products = sorted(set(basket))[:MAX_BASKET_PRODUCTS]
        if not products:
            continue
        total += 1
        counts.update(products)
        together.update(combinations(products, 2))  # sorted: each pair once, (a, b) with a < b
    return AssociationModel(
        neighbours=_ranked_neighbours(together, counts, tuning),
        baskets_with=dict(counts),
        baskets=total,
        tuning=tuning,
    )


def _ranked_neighbours(
    together: Counter[tuple[str, str]], counts: Counter[str], tuning: AssociationTuning
) -> dict[str, tuple[Neighbour, ...]]:
    alpha, shrink = tuning.alpha, tuning.shrink
    candidates: dict[str, list[Neighbour]] = {}
    for (a, b), both in together.items():
        if both < tuning.min_together:
            continue
        confidence = both / (both + shrink)
        for source, target in ((a, b), (b, a)):
            score = both / (counts[source] ** alpha * counts[target] ** (1 - alpha)) * confidence
            candidates.setdefault(source, []).append(Neighbour(target, score, both))
    return {
        source: tuple(
            sorted(found, key=lambda n: (-n.score, n.product_id))[: tuning.neighbours_kept]
        )
        for source, found in candidates.items()
    }
