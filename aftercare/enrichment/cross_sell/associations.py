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
read at render time with a dict lookup: no query per email. Orders placed after a build are
folded in as they arrive (``with_baskets``): the pairs they add count like any other, the
same-customer signal waits for the next full build (it needs the customer's history).
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, NamedTuple

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


class Neighbour(NamedTuple):
    """A tuple, not a dataclass: a rebuild makes hundreds of thousands of them."""

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
        ranked = self._ranked_sellers
        return ranked if limit is None else ranked[:limit]

    @property
    def _ranked_sellers(self) -> tuple[str, ...]:
        # Computed once per model (it is frozen); every email reads it.
        cached = self.__dict__.get("_sellers")
        if cached is None:
            ranked = sorted(self.baskets_with.items(), key=lambda item: (-item[1], item[0]))
            cached = tuple(product for product, _ in ranked)
            object.__setattr__(self, "_sellers", cached)
        return cached

    def with_baskets(self, orders: Iterable[Iterable[str]]) -> AssociationModel:
        """This model with more orders counted; only the lists they touch are copied.

        A pair already kept gains one order together; a new pair enters with the evidence
        of this one order. (Its earlier evidence, if it had fallen below the kept
        neighbours, comes back at the next full build.)
        """
        neighbours = dict(self.neighbours)
        counts = dict(self.baskets_with)
        total = self.baskets
        touched: dict[str, dict[str, Neighbour]] = {}
        for basket in orders:
            products = _distinct(basket)
            if not products:
                continue
            total += 1
            for product in products:
                counts[product] = counts.get(product, 0) + 1
            for a, b in combinations(products, 2):
                for source, target in ((a, b), (b, a)):
                    found = touched.get(source)
                    if found is None:
                        found = touched[source] = {
                            n.product_id: n for n in neighbours.get(source, ())
                        }
                    old = found.get(target)
                    found[target] = Neighbour(
                        target,
                        (old.score if old else 0.0) + 1.0,
                        (old.together if old else 0) + 1,
                    )
        if total == self.baskets:
            return self
        prior = self.tuning.prior
        for source, found in touched.items():
            # Re-rank with the popularity prior of the new counts.
            rescored = [
                Neighbour(
                    n.product_id,
                    n.score
                    - prior * self.baskets_with.get(n.product_id, 0) / max(self.baskets, 1)
                    + prior * counts.get(n.product_id, 0) / total,
                    n.together,
                )
                for n in found.values()
            ]
            neighbours[source] = tuple(
                sorted(rescored, key=lambda n: (-n.score, n.product_id))[
                    : self.tuning.neighbours_kept
                ]
            )
        return AssociationModel(
            neighbours=neighbours, baskets_with=counts, baskets=total, tuning=self.tuning
        )

    def to_json(self) -> bytes:
        """The model as compact JSON, for the database (``storage/cross_sell_models.py``)."""
        data: dict[str, Any] = {
            "version": 1,
            "tuning": asdict(self.tuning),
            "baskets": self.baskets,
            "baskets_with": self.baskets_with,
            "neighbours": {
                a: [[n.product_id, round(n.score, 6), n.together] for n in found]
                for a, found in self.neighbours.items()
            },
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> AssociationModel:
        data = json.loads(raw)
        if data.get("version") != 1:
            raise ValueError(f"unknown cross-sell model version {data.get('version')!r}")
        return cls(
            neighbours={
                a: tuple(Neighbour(b, float(score), int(both)) for b, score, both in found)
                for a, found in data["neighbours"].items()
            },
            baskets_with={k: int(v) for k, v in data["baskets_with"].items()},
            baskets=int(data["baskets"]),
            tuning=AssociationTuning(**data["tuning"]),
        )


def build_associations(
    orders: Iterable[tuple[str | None, Iterable[str]]],
    tuning: AssociationTuning | None = None,
) -> AssociationModel:
    """The model for ``orders``: (customer key or ``None``, the order's product ids).

    Products are numbered as they come and each pair is counted as one integer, not a
    tuple of two strings: a million order lines make millions of pairs, and this keeps
    their counts in a third of the memory, counted faster.
    """
    tuning = tuning or AssociationTuning()
    number: dict[str, int] = {}
    together: Counter[int] = Counter()
    counts: Counter[int] = Counter()
    bought: dict[str, dict[int, None]] = {}  # per customer, the products they bought
    total = 0
    for customer, basket in orders:
        products = sorted({number.setdefault(p, len(number)) for p in _distinct(basket)})
        if not products:
            continue
        total += 1
        counts.update(products)
        together.update(map(_pair, combinations(products, 2)))  # each pair once, a < b
        if customer is not None:
            bought.setdefault(customer, {}).update(dict.fromkeys(products))
    names = list(number)
    same_customer: Counter[int] = Counter()
    for held in bought.values():
        if len(held) > 1:
            # A customer of more products than the cap: the first by id count.
            first = sorted(held, key=names.__getitem__)[:MAX_CUSTOMER_PRODUCTS]
            same_customer.update(map(_pair, combinations(sorted(first), 2)))
    return AssociationModel(
        neighbours=_ranked_neighbours(together, same_customer, counts, total, tuning, names),
        baskets_with={names[i]: n for i, n in counts.items()},
        baskets=total,
        tuning=tuning,
    )


_PAIR_SHIFT = 32  # product numbers below 2**32: a pair (a, b) is a << 32 | b


def _pair(pair: tuple[int, int]) -> int:
    return pair[0] << _PAIR_SHIFT | pair[1]


def _distinct(basket: Iterable[str | None]) -> list[str]:
    """A basket's products, each once, sorted; a line without a product id (a custom item,
    gift wrapping, a tip) is no product."""
    return sorted({product for product in basket if product})[:MAX_BASKET_PRODUCTS]


def _ranked_neighbours(
    together: Counter[int],
    same_customer: Counter[int],
    counts: Counter[int],
    total: int,
    tuning: AssociationTuning,
    names: list[str],
) -> dict[str, tuple[Neighbour, ...]]:
    weight, prior = tuning.customer_weight, tuning.prior / max(total, 1)
    popularity = {product: prior * n for product, n in counts.items()}
    # (-score, product name, together) tuples: they sort in C, best first, ties by name.
    candidates: defaultdict[int, list[tuple[float, str, int]]] = defaultdict(list)
    least, low_bits = tuning.min_evidence, (1 << _PAIR_SHIFT) - 1
    keep = tuning.neighbours_kept
    # A product's list is cut to its best ``keep`` whenever it grows past this: the best
    # of all its pairs are the best of the best so far and the rest, and memory stays
    # bounded by the products, not by the pairs (millions, for a million order lines).
    prune_at = 8 * keep

    def add(source: int, candidate: tuple[float, str, int]) -> None:
        found = candidates[source]
        found.append(candidate)
        if len(found) > prune_at:
            found[:] = heapq.nsmallest(keep, found)

    for pair, both in together.items():
        customers = same_customer.get(pair, 0)
        if both + customers < least:
            continue
        evidence = both + weight * customers
        a, b = pair >> _PAIR_SHIFT, pair & low_bits
        add(a, (-(evidence + popularity[b]), names[b], both))
        add(b, (-(evidence + popularity[a]), names[a], both))
    for pair, customers in same_customer.items():
        if customers < least or pair in together:
            continue
        evidence = weight * customers
        a, b = pair >> _PAIR_SHIFT, pair & low_bits
        add(a, (-(evidence + popularity[b]), names[b], 0))
        add(b, (-(evidence + popularity[a]), names[a], 0))
    return {
        names[source]: tuple(
            Neighbour(target, -negative, both)
            for negative, target, both in (
                heapq.nsmallest(keep, found) if len(found) > keep else sorted(found)
            )
        )
        for source, found in candidates.items()
    }
