"""How the delay scan scales: finding the due orders among a million, and notices per second.

    .venv/bin/python bench/delay_scan.py [--orders 1000000] [--due 0.01] [--notices 2000]

On PostgreSQL (``AFTERCARE_TEST_POSTGRES_URL``, default the local server; a database is
created for the run and dropped after):

1. ``--orders`` orders (generated in SQL, ``generate_series``), ``--due`` of them with a
   ``delay_check_at`` in the past: the time to find every due order, the scan's own query
   (``delay_check_at <= now``, the index ``ix_orders_delay_check_at``), best of 5, with its
   ``EXPLAIN ANALYZE`` plan; baseline in the same run: the same query with index scans
   turned off (what it costs without the index: every order read).
2. ``--notices`` real late orders (saved through the pipeline's own storage): notices per
   second from the scan to the outbox (the scan raises the notices and queues their events,
   the drain renders them into the outbox).

Target (issue 19): finding the due orders among 1,000,000 with 1 % due in under 500 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from aftercare.drain import build_pipeline, drain  # noqa: E402
from aftercare.drain.delay_scan import scan_for_delays  # noqa: E402
from aftercare.sample_store import orders  # noqa: E402
from aftercare.settings import Settings  # noqa: E402
from aftercare.storage.database import engine_for, session_factory  # noqa: E402
from aftercare.storage.order_records import save_order_states  # noqa: E402
from aftercare.storage.schema_migrations import upgrade  # noqa: E402

ADMIN_URL = os.environ.get(
    "AFTERCARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET_MS = 500.0
NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)

DUE_QUERY = "SELECT id FROM orders WHERE delay_check_at <= :now ORDER BY id"


def fill(engine, count: int, due: float) -> None:  # noqa: ANN001
    """``count`` orders of 1,000 customers, ``due`` of them due, the rest later or never."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (source, customer_key, email, created_at)"
                " SELECT 'bench', 'c' || n, 'c' || n || '@example.com', :now"
                " FROM generate_series(1, 1000) AS n"
            ),
            {"now": NOW},
        )
        every = max(1, round(1 / due)) if due > 0 else 0
        conn.execute(
            text(
                "INSERT INTO orders (source, external_id, number, customer_id, currency,"
                " placed_at, subtotal, discounts, shipping, taxes, duties, total,"
                " taxes_included, duties_included, tax_lines, discount_codes,"
                " payment_due_later, revision, delay_check_at)"
                " SELECT 'bench', 'o' || n, '#' || n,"
                " (SELECT min(id) FROM customers) + n % 1000, 'EUR',"
                " :now - interval '1 day' * (n % 90), 10, 0, 0, 0, 0, 10, true, false,"
                " '[]', '[]', false, 0,"
                " CASE WHEN :every > 0 AND n % :every = 0 THEN :now - interval '1 hour'"
                "      WHEN n % 3 = 0 THEN NULL"
                "      ELSE :now + interval '1 day' * (1 + n % 20) END"
                " FROM generate_series(1, :count) AS n"
            ),
            {"now": NOW, "count": count, "every": every},
        )
        conn.execute(text("ANALYZE orders"))


def time_query(engine, repeat: int = 5, index: bool = True) -> tuple[float, int]:  # noqa: ANN001
    best, found = float("inf"), 0
    with engine.connect() as conn:
        if not index:
            conn.execute(text("SET enable_indexscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
        for _ in range(repeat):
            started = time.perf_counter()
            found = len(conn.execute(text(DUE_QUERY), {"now": NOW}).all())
            best = min(best, time.perf_counter() - started)
        conn.rollback()
    return best * 1000, found


def plan(engine) -> str:  # noqa: ANN001
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {DUE_QUERY}"), {"now": NOW}
        ).all()
    return "\n".join(row[0] for row in rows)


def notices_per_second(url: str, count: int, tmp: Path) -> tuple[float, float, int]:
    """Seconds for the scan and for the drain over ``count`` late orders; notices raised."""
    settings = Settings(_env_file=None, database_url=url, outbox_dir=tmp / "outbox")
    pipeline = build_pipeline(settings)
    sessions = session_factory(engine_for(url))
    placed_at = NOW - timedelta(days=14)
    states = []
    for n in range(count):
        customer = orders.customer(email=f"late{n}@example.com", external_id=f"late-c{n}")
        order = orders.order(external_id=f"late-{n}", number=f"#L{n}", placed_at=placed_at)
        state = orders.state_after(
            orders.placed(f"late-p{n}", at=placed_at, customer=customer, order=order)
        )
        states.append(
            replace(
                state,
                promised_ship_by=(placed_at + timedelta(days=3)).date(),
                promised_deliver_by=(placed_at + timedelta(days=6)).date(),
                delay_check_at=placed_at + timedelta(days=5),
            )
        )
    with sessions.begin() as session:
        for start in range(0, count, 500):
            save_order_states(session.connection(), states[start : start + 500], placed_at)
    pipeline = replace(pipeline, sessions=sessions, clock=lambda: NOW)
    started = time.perf_counter()
    report = scan_for_delays(pipeline)
    scanned = time.perf_counter() - started
    started = time.perf_counter()
    drain(pipeline, max_batches=None)
    drained = time.perf_counter() - started
    return scanned, drained, report.notices


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--due", type=float, default=0.01)
    parser.add_argument("--notices", type=int, default=2000)
    args = parser.parse_args(argv)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"aftercare_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = engine_for(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        fill(engine, args.orders, args.due)
        filled = time.perf_counter() - started
        with_index, found = time_query(engine)
        without, _ = time_query(engine, index=False)
        verdict = "met" if with_index <= TARGET_MS else "MISSED"
        print(
            f"{args.orders:,} orders in PostgreSQL ({filled:.0f} s to generate), "
            f"{found:,} due ({args.due:.0%})\n"
        )
        print(f"{'finding the due orders':<44} {'ms':>9}")
        print(f"{'the scan query, with its index':<44} {with_index:>9.1f}")
        print(f"{'baseline: the same query, index scans off':<44} {without:>9.1f}")
        print(f"target: under {TARGET_MS:.0f} ms: {verdict}\n")
        print("EXPLAIN (ANALYZE, BUFFERS) of the scan query:")
        print(plan(engine))
        with engine.begin() as conn:  # the generated orders have no lines to write about
            conn.execute(text("UPDATE orders SET delay_check_at = NULL WHERE source = 'bench'"))
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / name
        tmp.mkdir(parents=True, exist_ok=True)
        scanned, drained, raised = notices_per_second(url, args.notices, tmp)
        print(
            f"\n{raised:,} late orders: the scan raised their notices in {scanned:.1f} s "
            f"({raised / scanned:,.0f}/s), the drain wrote them to the outbox in "
            f"{drained:.1f} s ({raised / drained:,.0f}/s)"
        )
        return 0 if verdict == "met" else 1
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
