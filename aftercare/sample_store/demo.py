"""The demo: the bundled Fern & Field store and its story of events, through the real pipeline.

Loading is idempotent (products and past orders are upserted, events deduplicated by their
fixed ids), so running the demo twice sends nothing new: the same promise the pipeline
makes for a store's duplicate webhooks.

Beside the story, the demo installs five months of order history (``history.py``) and
writes a support-ticket export over it (``tickets.py``), so ``aftercare faq learn`` has
something true to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aftercare.enrichment.delay_stages import DelayRules, next_check
from aftercare.enrichment.promises import promise_for
from aftercare.events import EventKind
from aftercare.order_state import OrderState
from aftercare.sample_store import SOURCE, SampleStore
from aftercare.sample_store.history import demo_history, history_order_ids
from aftercare.sample_store.tickets import demo_tickets, write_tickets_csv
from aftercare.settings import StoreFacts
from aftercare.storage import inbox
from aftercare.storage.catalogue_records import save_products
from aftercare.storage.order_records import (
    load_order_state,
    load_order_states,
    save_order_state,
    save_order_states,
)
from aftercare.storage.schema import InboxEventRow, OutboxEmailRow

TICKETS_FILE = "support_tickets.csv"


@dataclass(frozen=True)
class DemoLoad:
    products: int
    past_orders: int
    new_events: int
    duplicate_events: int
    history_orders: int  # orders of ``demo_history`` stored by this run (0 on a rerun)


def install_sample_store(
    sessions: sessionmaker[Session],
    sample: SampleStore,
    now: datetime,
    store: StoreFacts | None = None,
    delays: DelayRules | None = None,
) -> DemoLoad:
    """Write the catalogue and order history, then put the story's events in the inbox.

    With ``store`` and ``delays``, the story's orders are stored first as the store would
    have had them when they were placed, with the promise made then: Aftercare was
    connected all along, so an order placed eleven days ago and never shipped is late,
    and the delay scan tells its customer (instead of promising from today, as for an
    order first seen late).
    """
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
        added = _install_history(session, now)
        if store is not None and delays is not None:
            _install_story_orders(session, sample, now, store, delays)
        results = [inbox.enqueue_event(session, event, now) for event in sample.events]
    new = sum(1 for r in results if not r.duplicate)
    return DemoLoad(products, history, new, len(results) - new, added)


def queue_later_events(sessions: sessionmaker[Session], sample: SampleStore, now: datetime) -> int:
    """Put the events that come after the story's emails in the inbox; how many were new."""
    with sessions.begin() as session:
        results = [inbox.enqueue_event(session, event, now) for event in sample.later_events]
    return sum(1 for r in results if not r.duplicate)


def _install_story_orders(
    session: Session, sample: SampleStore, now: datetime, store: StoreFacts, delays: DelayRules
) -> None:
    for event in sample.events:
        order, customer = event.order, event.customer
        if event.kind is not EventKind.ORDER_PLACED or order is None or customer is None:
            continue
        if load_order_state(session, SOURCE, order.external_id) is not None:
            continue
        country = order.shipping_address.country_code if order.shipping_address else None
        promise = promise_for(order.placed_at, store, country)
        state = OrderState(
            source=SOURCE,
            order=order,
            customer=customer,
            promised_ship_by=promise.ship_by,
            promised_deliver_by=promise.deliver_by,
        )
        state = replace(state, delay_check_at=next_check(state, delays, store))
        save_order_state(session, state, now)


def _install_history(session: Session, now: datetime) -> int:
    """Store the orders of ``demo_history(now)`` that are not stored yet; how many were new.

    An order already stored is left as it is, like the past orders: a rerun on a later day
    must not move a parcel the first run shipped. One batch, not 400 round trips.
    """
    states = demo_history(now)
    connection = session.connection()
    stored = load_order_states(connection, [(SOURCE, s.order.external_id) for s in states])
    fresh = [s for s in states if (SOURCE, s.order.external_id) not in stored]
    save_order_states(connection, fresh, now)
    return len(fresh)


def stored_demo_history(sessions: sessionmaker[Session]) -> tuple[OrderState, ...]:
    """The demo history as the database holds it, oldest order first."""
    keys = [(SOURCE, order_id) for order_id in history_order_ids()]
    with sessions() as session:
        states = load_order_states(session.connection(), keys)
    return tuple(states[key] for key in keys if key in states)


def write_demo_tickets(sessions: sessionmaker[Session], folder: Path, now: datetime) -> Path:
    """Write ``support_tickets.csv`` into ``folder``: the tickets of the stored history up
    to ``now``, for ``aftercare faq learn support_tickets.csv``.

    Drawn over the history as stored rather than regenerated: the history is stored once,
    relative to the first run's "now", so a rerun a week later must write tickets about
    those same parcels and refunds, not about a history shifted by a week. The content is
    the same for the same stored history and ``now``.
    """
    return write_tickets_csv(
        demo_tickets(stored_demo_history(sessions), now), folder / TICKETS_FILE
    )


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
