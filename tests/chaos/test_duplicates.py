"""Every paid order delivered five times at once, as a store's retries and a proxy's
replays can: exactly one confirmation each, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, drain
from aftercare.storage.schema import InboxEventRow, OutboxEmailRow, OutboxStatus
from tests.chaos.harness import shopify_headers, shopify_order

ORDERS = 50
COPIES = 5


def test_fifty_orders_each_delivered_five_times_at_once_confirm_once_each(
    receiver_url: str, chaos_pipeline: Pipeline, engine: Engine
) -> None:
    deliveries = [
        (shopify_order(n), shopify_headers(shopify_order(n), f"evt-{n}"))
        for n in range(ORDERS)
        for _ in range(COPIES)
    ]
    with httpx.Client(base_url=receiver_url, timeout=10) as client:

        def post(delivery: tuple[bytes, dict[str, str]]) -> int:
            body, headers = delivery
            return client.post("/webhooks/shopify", content=body, headers=headers).status_code

        with ThreadPoolExecutor(COPIES * 2) as pool:
            answers = list(pool.map(post, deliveries))
    assert answers.count(200) == ORDERS * COPIES  # a duplicate is answered 200 too
    drain(chaos_pipeline)
    with Session(engine) as s:
        stored = s.scalars(select(InboxEventRow.source_event_id)).all()
        emails = s.scalars(select(OutboxEmailRow)).all()
    assert sorted(stored) == sorted(f"evt-{n}" for n in range(ORDERS))
    confirmations = [e for e in emails if e.kind == "order_confirmation"]
    assert len(confirmations) == ORDERS == len({e.idempotency_key for e in confirmations})
    assert {e.status for e in confirmations} == {OutboxStatus.SENT}
    assert len(list(chaos_pipeline.settings.outbox_dir.glob("*.eml"))) == ORDERS
