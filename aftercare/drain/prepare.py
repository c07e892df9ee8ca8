"""Claimed inbox events to outbox emails, in groups: merge, decide, compose, write.

Events are prepared in groups, with one read and one write of the orders they touch; one
bad event never holds up the others (it is recorded alone), and the email rows are written
in the transaction that marks their event processed: both happen or neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session

from aftercare.catalogue_changes import CatalogueChange
from aftercare.drain.backoff import backoff
from aftercare.drain.catalogue_changes import catalogue_change_of
from aftercare.drain.delay_notices import (
    SCAN_SOURCE_PREFIX,
    record_notice,
    told_by_scan,
    withdraw_waiting_notices,
)
from aftercare.drain.pipeline import Pipeline
from aftercare.drain.privacy_requests import answer, privacy_request_of
from aftercare.drain.reports import PrepareReport, add_counts
from aftercare.emails import CARRIER_TROUBLE, EmailKind, PlannedEmail, compose_email, plan_emails
from aftercare.emails.compose import RATING_KINDS, skipped_explanation, stale_reason
from aftercare.emails.cross_sell_block import CrossSellInputs
from aftercare.enrichment.carrier_delays import carrier_delay_notice
from aftercare.enrichment.delay_stages import DelayStage, next_check
from aftercare.enrichment.promises import promise_of
from aftercare.enrichment.send_window import customer_zone, next_in_window, zone_of
from aftercare.errors import AftercareError, OrderNotYetKnownError
from aftercare.events import Customer, EventKind, OrderEvent, PrivacyRequest
from aftercare.order_state import OrderState, merge_event
from aftercare.privacy import describe_error, is_erased_address
from aftercare.storage import inbox, outbox
from aftercare.storage.catalogue_records import apply_catalogue_change
from aftercare.storage.database import read_only
from aftercare.storage.order_records import (
    OrderKey,
    customer_key,
    orders_before,
    read_orders,
    save_customers,
    save_order_states,
)
from aftercare.storage.schema import OrderRow, OutboxEmailRow, OutboxStatus
from aftercare.stores import Delivery, MalformedPayloadError

log = logging.getLogger(__name__)


# Events prepared per group: one read and one write of all the orders they touch, and one
# commit (on PostgreSQL a WAL flush). Rendering happens between the read and the write,
# outside any lock; the write is short.
EVENTS_PER_COMMIT = {"postgresql": 100, "sqlite": 50}


def claim_events(pipeline: Pipeline, limit: int | None = None) -> list[inbox.ClaimedEvent]:
    settings = pipeline.settings
    with pipeline.sessions.begin() as session:
        return inbox.claim_events(
            session,
            limit=limit or settings.drain_batch_size,
            now=pipeline.clock(),
            claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        )


def events_of(pipeline: Pipeline, claimed: inbox.ClaimedEvent) -> tuple[OrderEvent, ...] | str:
    """The events an inbox row holds, or why a stored delivery is ignored.

    Webhook deliveries are stored raw (the receiver answers before parsing) and normalized
    here by their store's adapter; other rows hold one normalized event. Raises
    ``ValidationError`` or ``MalformedPayloadError`` when the row can never be processed as is.
    """
    if claimed.raw_body is None or claimed.payload:
        return (OrderEvent.model_validate(claimed.payload),)
    adapter = pipeline.adapters.get(claimed.source)
    if adapter is None:
        raise AftercareError(f"no store adapter for source {claimed.source!r} is configured")
    parsed = adapter.parse(
        Delivery(
            headers=claimed.raw_headers or {},
            body=claimed.raw_body,
            received_at=claimed.received_at,
        )
    )
    return parsed.ignored if parsed.ignored is not None else parsed.events


@dataclass
class _RowWork:
    """One claimed inbox row on its way through a group: its events, or why not."""

    claimed: inbox.ClaimedEvent
    events: tuple[OrderEvent, ...] = ()
    ignored: str | None = None
    error: Exception | None = None
    # Each event with the order state after it, once merged.
    merged: list[tuple[OrderEvent, OrderState | None]] = field(default_factory=list)
    customers: list[tuple[str, Customer]] = field(default_factory=list)
    # A privacy request (erase or report personal data): answered when the group is written.
    privacy: PrivacyRequest | None = None


def _merge_row(
    pipeline: Pipeline, row: _RowWork, states: dict[OrderKey, OrderState], now: datetime
) -> dict[OrderKey, OrderState]:
    """Merge one row's events into copies of the states; the states they changed."""
    changed: dict[OrderKey, OrderState] = {}
    for event in row.events:
        state: OrderState | None = None
        if event.kind is EventKind.CUSTOMER_CREATED:
            assert event.customer is not None
            row.customers.append((event.source, event.customer))
        else:
            assert event.order_id is not None
            key = (event.source, event.order_id)
            stored = changed[key] if key in changed else states.get(key)
            merged = merge_event(stored, event)
            assert merged is not None
            state = changed[key] = _with_promise(merged, pipeline, now)
            update = event.shipment_update
            if update is not None and update.status in CARRIER_TROUBLE:
                notice = carrier_delay_notice(update, state, pipeline.settings.store, now)
                event = event.model_copy(update={"delay": notice})
        row.merged.append((event, state))
    return changed


@dataclass
class _GroupPlan:
    """A group of inbox rows merged and rendered, ready to be written in one go."""

    rows: list[_RowWork]
    now: datetime
    changed: dict[OrderKey, OrderState] = field(default_factory=dict)
    # The revision of each stored order as read: the write goes through only over these.
    revisions: dict[OrderKey, int] = field(default_factory=dict)
    emails: list[outbox.NewOutboxEmail] = field(default_factory=list)
    already_in_outbox: int = 0
    # Delay emails a webhook or carrier report calls for, by idempotency key: the order and
    # the stage they tell about (``_give_way_to_the_scan``).
    delay_stages: dict[str, tuple[OrderKey, DelayStage, date | None]] = field(default_factory=dict)


def _plan_group(
    pipeline: Pipeline, connection: Connection, claimed_events: list[inbox.ClaimedEvent]
) -> _GroupPlan:
    """Parse, merge and render a group of inbox rows, reading through ``connection``.

    Writes nothing: the drain reads in a transaction of its own (on SQLite it holds no
    lock, so the webhook receiver keeps storing deliveries while emails render). A row
    whose payload or merge fails is marked for recording alone; anything else raises.
    """
    plan = _GroupPlan(rows=[], now=pipeline.clock())
    for claimed in claimed_events:
        row = _RowWork(claimed)
        try:
            row.privacy = _privacy_request(pipeline, claimed)
            events = events_of(pipeline, claimed) if row.privacy is None else ()
        except Exception as exc:  # noqa: BLE001 - recorded for this row when written
            row.error = exc
        else:
            if isinstance(events, str):
                row.ignored = events
            else:
                row.events = events
        plan.rows.append(row)

    wanted = {
        (e.source, e.order_id)
        for row in plan.rows
        for e in row.events
        if e.kind is not EventKind.CUSTOMER_CREATED and e.order_id is not None
    }
    stored = read_orders(connection, wanted)
    plan.revisions = stored.revisions
    states = dict(stored.states)
    for row in plan.rows:
        if not row.events:
            continue
        try:
            merged = _merge_row(pipeline, row, states, plan.now)
        except Exception as exc:  # noqa: BLE001 - recorded for this row when written
            row.error, row.merged, row.customers = exc, [], []
            continue
        states.update(merged)
        plan.changed.update(merged)

    planned = [
        (row, event, state, email)
        for row in plan.rows
        if row.error is None
        for event, state in row.merged
        for email in plan_emails(event)
    ]
    taken = outbox.existing_keys(connection, {p[3].idempotency_key for p in planned})
    earlier = (
        _orders_before(connection, planned, states, stored.states)
        if pipeline.faq is not None
        else {}
    )
    offers = (
        pipeline.cross_sell.inputs_for(connection, _customers_of(planned), plan.now)
        if pipeline.cross_sell is not None and planned
        else None
    )
    rated = _orders_asked_for_a_rating(connection, planned)
    for row, event, state, email in planned:
        if email.idempotency_key in taken:
            plan.already_in_outbox += 1
            continue
        taken.add(email.idempotency_key)
        # Whether it still holds is judged on the order as it is after the whole group (a
        # shipment and its delivery scan can arrive together, or a backlog be drained late).
        latest = states.get((event.source, event.order_id), state) if state else None
        reason = stale_reason(email, event, latest, plan.now) or _erased(event, latest)
        if reason is not None:
            plan.emails.append(_skipped(pipeline, email, event, latest, row.claimed, reason))
            continue
        before = earlier.get((state.source, state.order.external_id)) if state else None
        order = (event.source, event.order_id)
        plan.emails.append(
            _compose(
                pipeline,
                email,
                event,
                state,
                row.claimed.inbox_id,
                plan.now,
                before,
                offers,
                order in rated,  # an earlier email of the order asked for a rating
            )
        )
        if plan.emails[-1].explanation.get("asked_rating"):
            rated.add(order)
        if email.kind in IN_DAYTIME_KINDS:
            plan.emails[-1] = replace(
                plan.emails[-1], not_before=_in_daytime(pipeline, event, latest, plan.now)
            )
        if (
            email.kind is EmailKind.ORDER_DELAYED
            and latest is not None
            and not event.source_event_id.startswith(SCAN_SOURCE_PREFIX)
        ):
            stage = DelayStage.IN_TRANSIT if latest.fulfilments else DelayStage.BEFORE_SHIPPING
            new_date = event.delay.new_estimated_delivery if event.delay else None
            plan.delay_stages[email.idempotency_key] = (
                (event.source, event.order_id),
                stage,
                new_date,
            )
    return plan


# News the customer is not waiting for at this moment, sent in their daytime
# (``Settings.send_window``): a welcome (a store may import its customers at night) and
# every delay notice, the scan's, a carrier's or the store's own webhook's (the moment the
# store noticed is not the customer's morning). Confirmations, shipping, delivery and
# refund emails answer what the customer did or waits for, and go at once.
IN_DAYTIME_KINDS = frozenset({EmailKind.WELCOME, EmailKind.ORDER_DELAYED})


def _in_daytime(
    pipeline: Pipeline, event: OrderEvent, state: OrderState | None, now: datetime
) -> datetime:
    """``now``, or the next start of the send window in the customer's time zone."""
    store_zone = pipeline.settings.store.time_zone
    if state is not None:
        zone = customer_zone(state, store_zone)
    else:
        customer = event.customer
        zone = zone_of(customer, customer.locality if customer else None, store_zone)
    window = pipeline.settings.send_window
    return next_in_window(now, zone, window.start, window.end)


def _give_way_to_the_scan(session: Session, plan: _GroupPlan, pipeline: Pipeline) -> None:
    """One delay notice per stage, whoever raises it: a webhook's or carrier's delay email
    for a stage the scan already told the customer about is recorded, not sent; one that
    comes first is recorded as the stage's notice, so the scan does not raise another.
    (Two webhooks keep their own rule: a new date is news.)"""
    if not plan.delay_stages:
        return
    for index, email in enumerate(plan.emails):
        found = plan.delay_stages.get(email.idempotency_key)
        if found is None or email.status is not OutboxStatus.PENDING:
            continue
        (source, external_id), stage, new_date = found
        order_id = session.scalar(
            select(OrderRow.id).where(
                OrderRow.source == source, OrderRow.external_id == external_id
            )
        )
        if order_id is None:
            continue
        raised = record_notice(
            session,
            order_id,
            stage,
            "told by the store or the carrier",
            email.inbox_event_id,
            plan.now,
        )
        if raised and new_date is not None:
            # The date the store or carrier gave is the promise now, as a scan's would be:
            # a follow-up comes only once it has passed too.
            promised = {"promised_deliver_by": new_date}
            if stage is DelayStage.BEFORE_SHIPPING:
                promised["promised_ship_by"] = new_date
            session.execute(update(OrderRow).where(OrderRow.id == order_id).values(**promised))
        if raised or not told_by_scan(session, order_id, stage):
            continue
        plan.emails[index] = replace(
            email,
            subject="",
            message_id="",
            mime=b"",
            status=OutboxStatus.SKIPPED,
            explanation={
                **email.explanation,
                "notes": [
                    *email.explanation.get("notes", []),
                    f"not sent: the delay scan already told the customer ({stage.value})",
                ],
            },
        )


def _orders_asked_for_a_rating(connection: Connection, planned: list) -> set[tuple[str, str]]:
    """The group's orders an earlier email already asked "how did we do?" (one query)."""
    orders = {
        (event.source, event.order_id)
        for _, event, _, email in planned
        if email.kind.value in RATING_KINDS and event.order_id is not None
    }
    if not orders:
        return set()
    prefixes = {f"{source}:order:{order_id}:": (source, order_id) for source, order_id in orders}
    rows = connection.execute(
        select(OutboxEmailRow.idempotency_key, OutboxEmailRow.explanation).where(
            OutboxEmailRow.kind.in_(RATING_KINDS),
            or_(
                *(
                    OutboxEmailRow.idempotency_key.startswith(prefix, autoescape=True)
                    for prefix in prefixes
                )
            ),
        )
    )
    asked: set[tuple[str, str]] = set()
    for key, explanation in rows:
        if (explanation or {}).get("asked_rating"):
            prefix = next(p for p in prefixes if key.startswith(p))
            asked.add(prefixes[prefix])
    return asked


def _customers_of(planned: list) -> list[tuple[str, Customer]]:
    """The customer of each planned email, with the source their key belongs to."""
    found: dict[tuple[str, str], tuple[str, Customer]] = {}
    for _, event, state, _ in planned:
        customer = state.customer if state is not None else event.customer
        if customer is not None:
            found.setdefault((event.source, str(customer.email)), (event.source, customer))
    return list(found.values())


def _orders_before(
    connection: Connection,
    planned: list,
    states: dict[OrderKey, OrderState],
    stored: dict[OrderKey, OrderState],
) -> dict[OrderKey, int]:
    """How many orders each planned email's customer placed before its order, counting the
    stored ones and those new in this group (the FAQ's ``first_order``)."""
    if not planned:
        return {}
    orders = {
        (state.source, customer_key(state.customer), state.order.external_id, state.order.placed_at)
        for _, _, state, _ in planned
        if state is not None
    }
    counts = orders_before(connection, orders)
    fresh = [s for key, s in states.items() if key not in stored]
    for source, key, external_id, placed_at in orders:
        counts[(source, external_id)] = counts.get((source, external_id), 0) + sum(
            1
            for other in fresh
            if other.source == source
            and customer_key(other.customer) == key
            and other.order.external_id != external_id
            and other.order.placed_at < placed_at
        )
    return counts


def _privacy_request(pipeline: Pipeline, claimed: inbox.ClaimedEvent) -> PrivacyRequest | None:
    """The privacy request a stored webhook delivery makes (``drain/privacy_requests.py``)."""
    if claimed.raw_body is None or claimed.payload:
        return None
    delivery = Delivery(
        headers=claimed.raw_headers or {}, body=claimed.raw_body, received_at=claimed.received_at
    )
    return privacy_request_of(pipeline.adapters, claimed.source, delivery)


def _erased(event: OrderEvent, state: OrderState | None) -> str | None:
    """An order whose customer was erased on request gets no more email (a new parcel of it)."""
    customer = state.customer if state is not None else event.customer
    if customer is not None and is_erased_address(str(customer.email)):
        return "the customer's personal data was erased on request"
    return None


def _with_promise(state: OrderState, pipeline: Pipeline, now: datetime) -> OrderState:
    """The state with its promise stored, so later emails repeat what the first one said.

    Counted from the order's time, or from ``now`` for an order first seen after its
    ship-by date had passed (``promise_of``): the stored promise is the one the
    confirmation shows.
    """
    settings = pipeline.settings
    if state.promised_ship_by is None:
        promise = promise_of(state, settings.store, now)
        state = replace(
            state, promised_ship_by=promise.ship_by, promised_deliver_by=promise.deliver_by
        )
    # When the delay scan should look again, as the order now stands (the scan itself
    # skips the stages it already told the customer about).
    return replace(state, delay_check_at=next_check(state, settings.delays, settings.store))


def _compose(
    pipeline: Pipeline,
    planned: PlannedEmail,
    event: OrderEvent,
    state: OrderState | None,
    inbox_id: int,
    now: datetime,
    orders_before: int | None = None,
    offers: CrossSellInputs | None = None,
    rating_asked_before: bool = False,
) -> outbox.NewOutboxEmail:
    email = compose_email(
        planned,
        event,
        state,
        pipeline.settings.store,
        pipeline.renderer,
        now,
        faq=pipeline.faq,
        orders_before=orders_before,
        cross_sell=offers,
        actions=pipeline.actions,
        rating_asked_before=rating_asked_before,
    )
    return outbox.NewOutboxEmail(
        idempotency_key=planned.idempotency_key,
        inbox_event_id=inbox_id,
        kind=planned.kind.value,
        recipient=email.recipient,
        sender=email.sender,
        subject=email.subject,
        message_id=email.message_id,
        mime=email.mime,
        explanation=email.explanation.as_record(),
    )


def _skipped(
    pipeline: Pipeline,
    planned: PlannedEmail,
    event: OrderEvent,
    state: OrderState | None,
    claimed: inbox.ClaimedEvent,
    reason: str,
) -> outbox.NewOutboxEmail:
    """The record of an email the event called for but that no longer holds: its key is
    taken (a retry of the event never sends it) and the reason is kept, nothing is sent."""
    explanation = skipped_explanation(event, reason)
    log.info("email not sent: stale", extra={"kind": planned.kind.value, "reason": reason})
    store = pipeline.settings.store
    customer = state.customer if state is not None else event.customer
    return outbox.NewOutboxEmail(
        idempotency_key=planned.idempotency_key,
        inbox_event_id=claimed.inbox_id,
        kind=planned.kind.value,
        recipient=str(customer.email) if customer is not None else "",
        sender=str(store.from_address),
        subject="",
        message_id="",
        mime=b"",
        explanation=explanation.as_record(),
        status=OutboxStatus.SKIPPED,
    )


def _write_group(pipeline: Pipeline, session: Session, plan: _GroupPlan) -> PrepareReport:
    """Write a planned group: customers, orders, emails and each row's outcome.

    Raises ``OrderChangedMeanwhileError`` when an order changed since the plan read it.
    """
    report = PrepareReport(already_in_outbox=plan.already_in_outbox)
    connection, now = session.connection(), plan.now
    customers = (c for row in plan.rows if row.error is None for c in row.customers)
    save_customers(connection, customers, now)
    save_order_states(connection, list(plan.changed.values()), now, read=plan.revisions)
    for state in plan.changed.values():
        withdraw_waiting_notices(session, state)
    _give_way_to_the_scan(session, plan, pipeline)
    new_keys = outbox.add_emails(session, plan.emails, now)
    report.emails_written += len(new_keys)
    report.already_in_outbox += len(plan.emails) - len(new_keys)
    processed: dict[int, str] = {}
    for row in plan.rows:
        if row.error is not None:
            _record_failure(pipeline, session, row.claimed, row.error, report)
        elif row.privacy is not None:
            # After the group's emails are written, so an erasure covers those too.
            answer(
                session,
                pipeline.adapters,
                row.privacy,
                now=now,
                reports_dir=pipeline.settings.outbox_dir / "data_requests",
                own_inbox_id=row.claimed.inbox_id,
            )
            processed[row.claimed.inbox_id] = row.privacy.kind.value
            report.processed += 1
        elif row.ignored is not None:
            inbox.mark_ignored(session, row.claimed.inbox_id, reason=row.ignored, now=now)
            report.processed += 1
        else:
            kinds = "+".join(e.kind.value for e in row.events)[:40]
            processed[row.claimed.inbox_id] = kinds
            report.processed += 1
    inbox.mark_processed_many(session, processed, now)
    return report


def prepare_emails(pipeline: Pipeline, claimed_events: list[inbox.ClaimedEvent]) -> PrepareReport:
    """Turn claimed inbox events into outbox rows; failures retry with backoff, then ``dead``.

    Events are prepared in groups (``_plan_group``, then ``_write_group``). When something
    other than one row's own payload fails — rendering, the write, an order changed by
    another drainer meanwhile — the group is prepared again one row at a time, each read,
    rendered and written in its own savepoint, so one bad event rolls back alone and is
    recorded (invalid, retrying or dead) in the same transaction as its neighbours' emails.
    """
    report = PrepareReport()
    engine = pipeline.sessions.kw["bind"]
    group = EVENTS_PER_COMMIT.get(engine.dialect.name, 1)
    for start in range(0, len(claimed_events), group):
        chunk = _apply_catalogue_changes(pipeline, claimed_events[start : start + group], report)
        if not chunk:
            continue
        plan: _GroupPlan | None = None
        try:
            with read_only(engine) as connection:
                plan = _plan_group(pipeline, connection, chunk)
        except Exception:  # noqa: BLE001 - prepared row by row below, where it is recorded
            log.info("event group failed, preparing its events one at a time")
        with pipeline.sessions.begin() as session:
            part: PrepareReport | None = None
            if plan is not None:
                try:
                    with session.begin_nested():
                        part = _write_group(pipeline, session, plan)
                except Exception:  # noqa: BLE001 - prepared row by row below
                    log.info("event group not written, preparing its events one at a time")
            if part is None:
                part = PrepareReport()
                for claimed in chunk:
                    _prepare_alone(pipeline, session, claimed, part)
        add_counts(report, part)
    return report


def _apply_catalogue_changes(
    pipeline: Pipeline, chunk: list[inbox.ClaimedEvent], report: PrepareReport
) -> list[inbox.ClaimedEvent]:
    """Write the group's product and stock webhooks first; the rows left to prepare.

    In a short transaction of their own, before the group's emails are rendered: the
    catalogue's revision moves, the cross-sell source reloads the changed products, and
    every email of this group already offers from the catalogue as it now stands (an item
    sold out meanwhile is not shown). The revision row's lock is held only this long.
    """
    changes: list[tuple[inbox.ClaimedEvent, CatalogueChange | Exception]] = []
    rest: list[inbox.ClaimedEvent] = []
    for claimed in chunk:
        try:
            change = _catalogue_change(pipeline, claimed)
        except Exception as exc:  # noqa: BLE001 - recorded for this row below
            changes.append((claimed, exc))
            continue
        if change is None:
            rest.append(claimed)
        else:
            changes.append((claimed, change))
    if not changes:
        return chunk
    now = pipeline.clock()
    with pipeline.sessions.begin() as session:
        for claimed, change in changes:
            if isinstance(change, Exception):
                _record_failure(pipeline, session, claimed, change, report)
                continue
            try:
                with session.begin_nested():
                    written = apply_catalogue_change(session, change, now)
                    inbox.mark_processed_many(session, {claimed.inbox_id: "catalogue_change"}, now)
            except Exception as exc:  # noqa: BLE001 - every failure must end visibly
                _record_failure(pipeline, session, claimed, exc, report)
                continue
            report.processed += 1
            log.info(
                "catalogue changed",
                extra={
                    "inbox_id": claimed.inbox_id,
                    "revision": written.revision,
                    "change": written.describe(),
                },
            )
    return rest


def _catalogue_change(pipeline: Pipeline, claimed: inbox.ClaimedEvent) -> CatalogueChange | None:
    """The catalogue change a stored webhook delivery makes (``drain/catalogue_changes.py``)."""
    if claimed.raw_body is None or claimed.payload:
        return None
    delivery = Delivery(
        headers=claimed.raw_headers or {}, body=claimed.raw_body, received_at=claimed.received_at
    )
    return catalogue_change_of(pipeline.adapters, claimed.source, delivery)


def _prepare_alone(
    pipeline: Pipeline, session: Session, claimed: inbox.ClaimedEvent, report: PrepareReport
) -> None:
    try:
        with session.begin_nested():
            plan = _plan_group(pipeline, session.connection(), [claimed])
            part = _write_group(pipeline, session, plan)
    except Exception as exc:  # noqa: BLE001 - every failure must end visibly, never silently
        _record_failure(pipeline, session, claimed, exc, report)
        return
    add_counts(report, part)


def _record_failure(
    pipeline: Pipeline,
    session: Session,
    claimed: inbox.ClaimedEvent,
    exc: Exception,
    report: PrepareReport,
) -> None:
    """Record why a row was not processed: ``invalid`` for a payload that will never become
    valid by waiting, otherwise retried with backoff (``dead`` once attempts are used up)."""
    settings = pipeline.settings
    now = pipeline.clock()
    if isinstance(exc, ValidationError | MalformedPayloadError):
        message = f"invalid event payload: {describe_error(exc)}"
        inbox.mark_invalid(session, claimed.inbox_id, error=message, now=now)
        report.invalid += 1
        report.errors.append(message)
        log.warning("event invalid", extra={"inbox_id": claimed.inbox_id})
        return
    message = describe_error(exc)
    retry_at = backoff(settings, claimed.attempts, now, settings.max_processing_attempts)
    inbox.mark_for_retry(session, claimed.inbox_id, error=message, retry_at=retry_at, now=now)
    if retry_at is None:
        report.dead += 1
    else:
        report.retried += 1
    report.errors.append(message)
    expected = isinstance(exc, AftercareError)
    log.log(
        logging.WARNING if expected else logging.ERROR,
        "event processing failed",
        extra={
            "inbox_id": claimed.inbox_id,
            "error_type": type(exc).__name__,
            "attempts": claimed.attempts,
            "dead": retry_at is None,
            "waiting_for_order": isinstance(exc, OrderNotYetKnownError),
        },
        exc_info=(type(exc), exc, exc.__traceback__) if not expected else None,
    )
