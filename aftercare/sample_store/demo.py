"""The demo: the bundled Fern & Field store and its story of events, through the real pipeline.

Loading is idempotent (products and past orders are upserted, events deduplicated by their
fixed ids), so running the demo twice sends nothing new: the same promise the pipeline
makes for a store's duplicate webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aftercare.order_state import OrderState
from aftercare.sample_store import SOURCE, SampleStore
from aftercare.storage import inbox
from aftercare.storage.catalogue_records import save_products
from aftercare.storage.order_records import load_order_state, save_order_state
from aftercare.storage.schema import InboxEventRow, OutboxEmailRow


@dataclass(frozen=True)
class DemoLoad:
    products: int
    past_orders: int
    new_events: int
    duplicate_events: int


def install_sample_store(
    sessions: sessionmaker[Session], sample: SampleStore, now: datetime
) -> DemoLoad:
    """Write the catalogue and order history, then put the story's events in the inbox."""
    customers = {c.external_id: c for c in sample.customers}
    with sessions.begin() as session:
        products = save_products(session, sample.products)
        history = 0
        for order in sample.past_orders:
            if load_order_state(session, SOURCE, order.external_id) is not None:
                continue
            owner = customers[sample.past_order_customer_ids[order.external_id]]
            state = OrderState(
                source=SOURCE, order=order, customer=owner, updated_at=order.placed_at
            )
            save_order_state(session, state, now)
            history += 1
        results = [inbox.enqueue_event(session, event, now) for event in sample.events]
    new = sum(1 for r in results if not r.duplicate)
    return DemoLoad(products, history, new, len(results) - new)


@dataclass(frozen=True)
class DemoEmail:
    kind: str
    recipient: str
    subject: str
    status: str
    location: str | None
    created_at: datetime


def demo_emails(sessions: sessionmaker[Session]) -> list[DemoEmail]:
    """Every email the demo's events produced, oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(OutboxEmailRow)
            .join(InboxEventRow, OutboxEmailRow.inbox_event_id == InboxEventRow.id)
            .where(InboxEventRow.source == SOURCE)
            .order_by(OutboxEmailRow.id)
        ).scalars()
        return [
            DemoEmail(
                r.kind, r.recipient, r.subject, r.status, r.transport_message_id, r.created_at
            )
            for r in rows
        ]
