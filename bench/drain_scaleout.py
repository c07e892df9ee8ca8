"""Drain throughput: stored Shopify deliveries → rendered, sent emails, per drainer count.

    python bench/drain_scaleout.py [--orders 1500] [--drainers 1 2 3]

The inbox is filled with distinct signed ``orders/create`` deliveries exactly as the
receiver stores them, then N drainer processes (``aftercare.drain.drain``, no Prefect:
this measures the domain work the flow's tasks wrap) empty it into a `.eml` outbox.
Baseline, same run: one drainer. Drainers render outside any lock and write over the order
revision they read; claims keep them off each other's events (PostgreSQL: ``FOR UPDATE
SKIP LOCKED``; SQLite: one atomic statement under its write lock).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pipeline_e2e import SECRET, headers_for, order_body  # noqa: E402

from aftercare.receiver import InboxWriter, delivery_row  # noqa: E402
from aftercare.settings import ShopifyOptions, StoreFacts  # noqa: E402
from aftercare.storage.database import make_engine  # noqa: E402
from aftercare.storage.schema_migrations import upgrade  # noqa: E402
from aftercare.stores import Delivery  # noqa: E402
from aftercare.stores.shopify import ShopifyAdapter  # noqa: E402

POSTGRES_ADMIN = os.environ.get(
    "AFTERCARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

DRAINER = """
import sys
sys.path.insert(0, {root!r})
from aftercare.drain import build_pipeline, drain
from aftercare.settings import Settings
settings = Settings(database_url={url!r}, outbox_dir={outbox!r}, _env_file=None,
                    shopify={{"webhook_secret": {secret!r}, "confirm_on": "orders/create"}})
drain(build_pipeline(settings))
"""


def fill(url: str, orders: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    writer = InboxWriter(engine)
    now = datetime.now(UTC)
    shopify = ShopifyAdapter(ShopifyOptions(), StoreFacts())
    futures = []
    for i in range(orders):
        body = order_body(i)
        headers = {k.lower(): v for k, v in headers_for(body, i, "drain").items()}
        row = delivery_row(
            shopify, f"drain-{i}", Delivery(headers, body, now), topic="orders/create"
        )
        futures.append(writer.submit(row))
    for future in futures:
        future.result()
    writer.close()
    engine.dispose()


def run(url: str, drainers: int, outbox: Path) -> tuple[int, float]:
    code = DRAINER.format(root=str(ROOT), url=url, outbox=str(outbox), secret=SECRET)
    start = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(drainers)]
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError("a drainer failed")
    seconds = time.perf_counter() - start
    engine = create_engine(url)
    with engine.connect() as conn:
        sent = conn.execute(text("SELECT count(*) FROM outbox_emails WHERE status = 'sent'"))
        count = int(sent.scalar_one())
    engine.dispose()
    return count, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--drainers", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    args.drainers = sorted({1, *args.drainers})  # one drainer is the baseline
    work = Path(tempfile.mkdtemp(prefix="aftercare-drain-"))
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    rows = []
    try:
        for drainers in args.drainers:
            url = f"sqlite:///{work / f'sqlite-{drainers}.db'}"
            fill(url, args.orders)
            rows.append(("SQLite (WAL)", drainers, *run(url, drainers, work / f"out-{drainers}")))
        for drainers in args.drainers:
            name = f"aftercare_drain_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            try:
                fill(url, args.orders)
                rows.append(("PostgreSQL", drainers, *run(url, drainers, work / f"out-{name}")))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline = {db: sent / seconds for db, n, sent, seconds in rows if n == 1}
    print(
        f"\n{args.orders} stored Shopify orders/create deliveries → confirmation emails "
        f"(.eml outbox), {os.cpu_count()} cores; seconds include the drainers' start-up\n"
    )
    print("| database | drainers | emails sent | seconds | emails/s | × one drainer |")
    print("|---|---:|---:|---:|---:|---:|")
    for db, drainers, sent, seconds in rows:
        rate = sent / seconds
        print(
            f"| {db} | {drainers} | {sent} | {seconds:.1f} | {rate:.0f} | "
            f"{rate / baseline[db]:.2f} |"
        )


if __name__ == "__main__":
    main()
