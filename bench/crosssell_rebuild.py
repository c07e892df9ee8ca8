"""How long does the cross-sell rebuild take on 1,000,000 order lines? (target: < 60 s)

    .venv/bin/python bench/crosssell_rebuild.py [--lines 1000000] [--database URL]

Writes a synthetic order history into a fresh database (SQLite file by default, or the
PostgreSQL URL given; its tables are dropped first): 10,000 products with a long-tailed
popularity, customers with one to several orders, one to eight lines per order. Then
measures, side by side in the same run:

- the floor: only reading the history (the same streamed query, rows counted);
- plain co-occurrence counting of every pair (the simplest model, no ranking, not stored);
- the rebuild: ``rebuild_cross_sell`` (read, count pairs and customers, rank, compress and
  store), what the nightly flow runs;
- and a drain's first read of the stored model (microseconds per lookup afterwards).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert  # noqa: E402

from aftercare.learning.cross_sell_model import rebuild_cross_sell  # noqa: E402
from aftercare.storage.cross_sell_models import load_newest_model, order_baskets  # noqa: E402
from aftercare.storage.database import engine_for, read_only  # noqa: E402
from aftercare.storage.schema import Base, CustomerRow, LineItemRow, OrderRow  # noqa: E402

PRODUCTS = 10_000
# tracemalloc slows allocation-heavy Python several times over: memory is measured in a
# separate run (--memory), never in the timed one.
TRACE = False
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _history(lines: int, seed: int = 11):  # noqa: ANN202 - (customers, orders, lines) rows
    rng = random.Random(seed)
    weights = [1 / (rank + 10) ** 0.9 for rank in range(PRODUCTS)]
    catalogue = [f"p{n}" for n in range(PRODUCTS)]
    customers, orders, items = [], [], []
    written = 0
    order_id = 0
    while written < lines:
        customer_id = len(customers) + 1
        customers.append(
            {
                "id": customer_id,
                "source": "bench",
                "customer_key": f"c{customer_id}",
                "email": f"c{customer_id}@example.com",
                "created_at": NOW,
            }
        )
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
            order_id += 1
            count = min(rng.randint(1, 8), lines - written)
            if count <= 0:
                break
            # A theme per order (neighbouring products) plus a popular pick or two.
            theme = rng.randrange(PRODUCTS)
            chosen = {catalogue[(theme + rng.randint(0, 20)) % PRODUCTS] for _ in range(count)}
            chosen |= set(rng.choices(catalogue, weights, k=max(0, count - len(chosen))))
            orders.append(
                {
                    "id": order_id,
                    "source": "bench",
                    "external_id": f"o{order_id}",
                    "number": f"#{order_id}",
                    "customer_id": customer_id,
                    "currency": "EUR",
                    "placed_at": NOW - timedelta(minutes=order_id),
                    "subtotal": Decimal(10),
                    "discounts": Decimal(0),
                    "shipping": Decimal(0),
                    "taxes": Decimal(0),
                    "duties": Decimal(0),
                    "total": Decimal(10),
                    "taxes_included": True,
                    "duties_included": False,
                    "tax_lines": [],
                    "discount_codes": [],
                }
            )
            for position, product in enumerate(sorted(chosen)):
                items.append(
                    {
                        "order_id": order_id,
                        "position": position,
                        "line_id": str(position),
                        "product_id": product,
                        "title": product,
                        "quantity": 1,
                        "unit_price": Decimal(10),
                        "total_discount": Decimal(0),
                        "requires_shipping": True,
                    }
                )
            written += len(chosen)
            if written >= lines:
                break
    return customers, orders, items


def _load(engine: Engine, lines: int) -> tuple[int, int]:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    customers, orders, items = _history(lines)
    with engine.begin() as connection:
        for table, rows in (
            (CustomerRow.__table__, customers),
            (OrderRow.__table__, orders),
            (LineItemRow.__table__, items),
        ):
            for start in range(0, len(rows), 50_000):
                connection.execute(insert(table), rows[start : start + 50_000])
    return len(orders), len(items)


def _timed(work):  # noqa: ANN001, ANN202
    if TRACE:
        tracemalloc.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    peak = float("nan")
    if TRACE:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database", help="a database URL (default: a temporary SQLite file)")
    parser.add_argument("--memory", action="store_true", help="peak memory, not time")
    args = parser.parse_args()
    global TRACE
    TRACE = args.memory
    folder = tempfile.mkdtemp(prefix="aftercare-bench-")
    url = args.database or f"sqlite:///{Path(folder) / 'history.db'}"
    engine = engine_for(url) if url.startswith("sqlite") else create_engine(url)
    started = time.perf_counter()
    order_count, line_count = _load(engine, args.lines)
    print(
        f"{line_count:,} order lines in {order_count:,} orders, {engine.dialect.name}"
        f" (written in {time.perf_counter() - started:.0f} s)\n"
    )

    def read_only_floor() -> int:
        with read_only(engine) as connection:
            return sum(len(products) for _, _, products in order_baskets(connection))

    def plain_counts() -> int:
        pairs: Counter[tuple[str, str]] = Counter()
        with read_only(engine) as connection:
            for _, _, products in order_baskets(connection):
                pairs.update(combinations(sorted(set(products)), 2))
        return len(pairs)

    def rebuild():  # noqa: ANN202
        return rebuild_cross_sell(engine, NOW)

    def first_read():  # noqa: ANN202
        with read_only(engine) as connection:
            return load_newest_model(connection)

    rows = []
    _, floor, floor_peak = _timed(read_only_floor)
    rows.append(("read the history only (floor)", floor, floor_peak, ""))
    pairs, counted, counted_peak = _timed(plain_counts)
    rows.append(("plain pair counts (baseline)", counted, counted_peak, f"{pairs:,} pairs"))
    report, built, built_peak = _timed(rebuild)
    rows.append(
        (
            "rebuild_cross_sell (ours)",
            built,
            built_peak,
            f"{report.products:,} products, {report.baskets:,} orders",
        )
    )
    stored, loaded, loaded_peak = _timed(first_read)
    rows.append(("a drain loads the stored model", loaded, loaded_peak, ""))
    model = stored.model
    probes = [f"p{n}" for n in range(0, PRODUCTS, 7)]
    started = time.perf_counter()
    for _ in range(100):
        for product in probes:
            model.bought_with(product)
    lookup = (time.perf_counter() - started) / (100 * len(probes))
    print(f"{'step':<34} {'seconds':>8} {'peak MiB':>9}  notes")
    for name, seconds, peak, notes in rows:
        print(f"{name:<34} {seconds:8.2f} {peak:9.0f}  {notes}")
    print(f"\none lookup in the loaded model: {lookup * 1e6:.2f} µs")
    verdict = "met" if built < 60 else "MISSED"
    print(f"target: rebuild under 60 s for {line_count:,} lines: {verdict} ({built:.1f} s)")


if __name__ == "__main__":
    main()
