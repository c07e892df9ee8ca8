"""The recipe, in plain Python: merge the order, decide the emails, render them into the
outbox, hand them to the transport, record the outcome.

Prefect flows call these functions in batches (``flows/drain_inbox.py``); tests call them
directly. Events are prepared in groups, with one read and one write of the orders they
touch; one bad event never holds up the others (it is recorded alone), and the email rows
are written in the transaction that marks their event processed: both happen or neither.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from functools import cache
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from aftercare.emails.context import build_context
from aftercare.emails.kinds import CARRIER_TROUBLE, EmailKind, PlannedEmail, plan_emails
from aftercare.enrichment.carrier_delays import carrier_delay_notice
from aftercare.enrichment.promises import promise_for
from aftercare.errors import (
    AftercareError,
    DeliveryUnknownError,
    OrderNotYetKnownError,
    PermanentSendError,
    TransientSendError,
)
from aftercare.events import Customer, EventKind, OrderEvent
from aftercare.logging_setup import scrub_personal_data
from aftercare.order_state import OrderState, merge_event
from aftercare.rendering.mime import build_mime, new_message_id
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import Settings
from aftercare.storage import inbox, outbox
from aftercare.storage.database import engine_for, read_only, session_factory
from aftercare.storage.order_records import (
    OrderKey,
    read_orders,
    save_customers,
    save_order_states,
)
from aftercare.stores import Delivery, MalformedPayloadError, StoreAdapter
from aftercare.stores.registry import build_adapters
from aftercare.transports import OutgoingMessage, Transport, make_transport

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
IDLE_POLL_SECONDS = 0.25


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pipeline:
    """Everything processing needs, built once per drain."""

    settings: Settings
    sessions: sessionmaker[Session]
    renderer: EmailRenderer
    transport: Transport
    adapters: Mapping[str, StoreAdapter] = field(default_factory=dict)
    clock: Callable[[], datetime] = utc_now


@dataclass
class PrepareReport:
    processed: int = 0
    emails_written: int = 0
    already_in_outbox: int = 0
    retried: int = 0
    dead: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0


def backoff(settings: Settings, attempts: int, now: datetime, limit: int) -> datetime | None:
    """When to try again after ``attempts`` tries; ``None`` once ``limit`` is used up.

    Exponential (30 s, 1 min, 2 min, …) up to an hour: long enough for an order webhook
    that overtook its shipment to arrive, or for SES throttling to pass.
    """
    if attempts >= limit:
        return None
    delay = timedelta(seconds=settings.retry_base_seconds * 2 ** max(attempts - 1, 0))
    return now + min(delay, MAX_BACKOFF)


def receive_event(pipeline: Pipeline, event: OrderEvent) -> inbox.Enqueued:
    """Store an event in the inbox (once per source event id)."""
    with pipeline.sessions.begin() as session:
        result = inbox.enqueue_event(session, event, pipeline.clock())
    log.info(
        "event received",
        extra={"source": event.source, "kind": event.kind.value, "duplicate": result.duplicate},
    )
    return result


def _with_promise(state: OrderState, settings: Settings) -> OrderState:
    if state.promised_ship_by is not None:
        return state
    address = state.order.shipping_address
    promise = promise_for(
        state.order.placed_at, settings.store, address.country_code if address else None
    )
    return replace(state, promised_ship_by=promise.ship_by, promised_deliver_by=promise.deliver_by)


def _recipient_of(event: OrderEvent, state: OrderState | None) -> str:
    customer = state.customer if state is not None else event.customer
    assert customer is not None  # the event model guarantees it for customer events
    return str(customer.email)


def _compose(
    pipeline: Pipeline,
    planned: PlannedEmail,
    event: OrderEvent,
    state: OrderState | None,
    inbox_id: int,
    now: datetime,
) -> outbox.NewOutboxEmail:
    store = pipeline.settings.store
    renderer = pipeline.renderer
    context = build_context(
        planned.kind, event, state, store, now, template_locales=renderer.available_locales()
    )
    recipient = _recipient_of(event, state)
    # The context picked the template language (customer's locale, else the store default,
    # else English) and formats dates and money for the customer's region.
    rendered = renderer.render(planned.kind, context, context["locale"])
    sender = formataddr((store.name, str(store.from_address)))
    domain = str(store.from_address).rsplit("@", 1)[1]
    message_id = new_message_id(planned.idempotency_key, domain)
    mime = build_mime(
        rendered,
        sender=sender,
        recipient=recipient,
        reply_to=str(store.reply_to) if store.reply_to else None,
        message_id=message_id,
        headers={"X-Aftercare-Kind": planned.kind.value},
    )
    explanation = {
        "event": {"source": event.source, "id": event.source_event_id, "kind": event.kind.value},
        "likely_questions": [q.get("id") for q in context.get("likely_questions", [])],
        "tracking": (context.get("tracking") or {}).get("source"),
        "cross_sell": [p.get("product_id") for p in context.get("cross_sell", [])],
    }
    return outbox.NewOutboxEmail(
        idempotency_key=planned.idempotency_key,
        inbox_event_id=inbox_id,
        kind=planned.kind.value,
        recipient=recipient,
        sender=str(store.from_address),
        subject=rendered.subject,
        message_id=message_id,
        mime=mime,
        explanation=explanation,
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
            state = changed[key] = _with_promise(merged, pipeline.settings)
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
            events = events_of(pipeline, claimed)
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
    for row, event, state, email in planned:
        if email.idempotency_key in taken:
            plan.already_in_outbox += 1
            continue
        taken.add(email.idempotency_key)
        plan.emails.append(_compose(pipeline, email, event, state, row.claimed.inbox_id, plan.now))
    return plan


def _write_group(pipeline: Pipeline, session: Session, plan: _GroupPlan) -> PrepareReport:
    """Write a planned group: customers, orders, emails and each row's outcome.

    Raises ``OrderChangedMeanwhileError`` when an order changed since the plan read it.
    """
    report = PrepareReport(already_in_outbox=plan.already_in_outbox)
    connection, now = session.connection(), plan.now
    customers = (c for row in plan.rows if row.error is None for c in row.customers)
    save_customers(connection, customers, now)
    save_order_states(connection, list(plan.changed.values()), now, read=plan.revisions)
    new_keys = outbox.add_emails(session, plan.emails, now)
    report.emails_written += len(new_keys)
    report.already_in_outbox += len(plan.emails) - len(new_keys)
    processed: dict[int, str] = {}
    for row in plan.rows:
        if row.error is not None:
            _record_failure(pipeline, session, row.claimed, row.error, report)
        elif row.ignored is not None:
            inbox.mark_ignored(session, row.claimed.inbox_id, reason=row.ignored, now=now)
            report.processed += 1
        else:
            kinds = "+".join(e.kind.value for e in row.events)[:40]
            processed[row.claimed.inbox_id] = kinds
            report.processed += 1
    inbox.mark_processed_many(session, processed, now)
    return report


# Events prepared per group: one read and one write of all the orders they touch, and one
# commit (on PostgreSQL a WAL flush). Rendering happens between the read and the write,
# outside any lock; the write is short.
EVENTS_PER_COMMIT = {"postgresql": 100, "sqlite": 50}


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
        chunk = claimed_events[start : start + group]
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
        _add(report, part)
    return report


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
    _add(report, part)


def describe_error(exc: BaseException) -> str:
    """An error for the inbox/outbox record and the logs, without customer data.

    SQLAlchemy errors print their bound parameters (emails, addresses); the engines are
    built with ``hide_parameters``, and the driver's own message is kept short.
    """
    if isinstance(exc, ValidationError):
        # pydantic quotes the offending input (an address, an email); name the field only.
        text = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
    else:
        text = f"{type(exc).__name__}: {exc}"
    return scrub_personal_data(text.split("\n[SQL:", 1)[0])[:2000]


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


def claim_events(pipeline: Pipeline, limit: int | None = None) -> list[inbox.ClaimedEvent]:
    settings = pipeline.settings
    with pipeline.sessions.begin() as session:
        return inbox.claim_events(
            session,
            limit=limit or settings.drain_batch_size,
            now=pipeline.clock(),
            claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        )


def _outgoing(email: outbox.ClaimedEmail) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=email.idempotency_key,
        kind=email.kind,
        sender=email.sender,
        recipient=email.recipient,
        message_id=email.message_id,
        mime=email.mime,
    )


def send_due_emails(pipeline: Pipeline, limit: int | None = None) -> SendReport:
    """Hand due outbox emails to the transport and record each outcome.

    Up to ``send_concurrency`` emails are with the transport at once (SES answers in tens
    of milliseconds; the outbox folder's writes wait for the disk); outcomes are recorded
    by this thread as they come in.
    """
    settings = pipeline.settings
    report = SendReport()
    claimed_at = pipeline.clock()
    with pipeline.sessions.begin() as session:
        claimed = outbox.claim_due_emails(
            session, limit=limit or settings.drain_batch_size, now=claimed_at
        )
    report.claimed = len(claimed)
    if not claimed:
        return report
    renew_after = timedelta(seconds=settings.claim_timeout_seconds / 2)
    # A transport that can tell afterwards whether it took an email (the outbox folder) has
    # its sends recorded together; one that cannot (SES) has each recorded as it happens, so
    # a crash leaves as few emails as possible whose fate a person must check.
    sent: list[tuple[int, str]] | None = (
        [] if getattr(pipeline.transport, "confirms_sends", False) else None
    )
    waiting = list(reversed(claimed))
    in_flight: dict[Future[str], outbox.ClaimedEmail] = {}
    # A transport that takes many emails at once (the outbox folder: one wait for the disk
    # per group) gets them in groups; others get up to ``send_concurrency`` at a time.
    send_many = getattr(pipeline.transport, "send_many", None)
    with ThreadPoolExecutor(settings.send_concurrency, thread_name_prefix="send") as pool:
        while waiting or in_flight:
            if waiting and pipeline.clock() - claimed_at > renew_after:
                # A slow batch must not outlive its claim: another drainer would take the
                # rest for interrupted sends. Renew it, leaving emails taken meanwhile.
                previous, claimed_at = claimed_at, pipeline.clock()
                with pipeline.sessions.begin() as session:
                    if sent:
                        _record_sent(pipeline, session, sent)
                    ours = outbox.renew_claims(
                        session, [e.outbox_id for e in waiting], previous, claimed_at
                    )
                waiting = [e for e in waiting if e.outbox_id in ours]
            if send_many is not None:
                group = [waiting.pop() for _ in range(min(SEND_GROUP, len(waiting)))]
                try:
                    outcomes = send_many([_outgoing(e) for e in group])
                except Exception as exc:  # noqa: BLE001 - settled per email like any error
                    outcomes = [exc] * len(group)
                for email, outcome in zip(group, outcomes, strict=True):
                    _settle(pipeline, email, outcome, report, sent)
                continue
            while waiting and len(in_flight) < settings.send_concurrency:
                email = waiting.pop()
                in_flight[pool.submit(pipeline.transport.send, _outgoing(email))] = email
            if not in_flight:
                continue
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                exc = future.exception()
                outcome = future.result() if exc is None else exc
                _settle(pipeline, in_flight.pop(future), outcome, report, sent)
    if sent:
        with pipeline.sessions.begin() as session:
            _record_sent(pipeline, session, sent)
    return report


# Emails per ``send_many`` call: big enough to share one wait for the disk, small enough
# that a slow group does not hold the claim renewal up for long.
SEND_GROUP = 50


def _record_sent(pipeline: Pipeline, session: Session, sent: list[tuple[int, str]]) -> None:
    outbox.mark_sent_many(session, sent, transport=pipeline.transport.name, now=pipeline.clock())
    sent.clear()


def _settle(
    pipeline: Pipeline,
    email: outbox.ClaimedEmail,
    outcome: str | BaseException,
    report: SendReport,
    sent: list[tuple[int, str]] | None,
) -> None:
    """Record what the transport made of one email: its message id, or the error."""
    settings, transport = pipeline.settings, pipeline.transport
    where = {"outbox_id": email.outbox_id, "kind": email.kind, "attempts": email.attempts}
    exc = outcome if isinstance(outcome, BaseException) else None
    if isinstance(outcome, str):
        transport_id = outcome
        if sent is not None:
            sent.append((email.outbox_id, transport_id))
        else:
            with pipeline.sessions.begin() as session:
                outbox.mark_sent(
                    session,
                    email.outbox_id,
                    transport=transport.name,
                    transport_message_id=transport_id,
                    now=pipeline.clock(),
                )
        report.sent += 1
        log.info("email sent", extra={**where, "transport": transport.name})
    elif isinstance(exc, PermanentSendError):
        with pipeline.sessions.begin() as session:
            outbox.mark_failed(session, email.outbox_id, transport=transport.name, error=str(exc))
        report.failed += 1
        log.warning("email rejected", extra=where)
    elif isinstance(exc, DeliveryUnknownError):
        # Resending could deliver a second copy: fail visibly and let a person decide.
        with pipeline.sessions.begin() as session:
            outbox.mark_failed(
                session,
                email.outbox_id,
                transport=transport.name,
                error=f"{exc} Check the provider's sending log and run `aftercare outbox "
                f"retry {email.outbox_id}` if the customer did not get it.",
            )
        report.failed += 1
        log.warning("email outcome unknown", extra=where)
    elif isinstance(exc, Exception):  # transient, or a bug: retry, never strand it
        retry_at = backoff(settings, email.attempts, pipeline.clock(), settings.max_send_attempts)
        with pipeline.sessions.begin() as session:
            outbox.mark_retry(
                session,
                email.outbox_id,
                transport=transport.name,
                error=str(exc) if isinstance(exc, TransientSendError) else describe_error(exc),
                retry_at=retry_at,
            )
        if retry_at is None:
            report.dead += 1
        else:
            report.retried += 1
        expected = isinstance(exc, TransientSendError)
        log.log(
            logging.WARNING if expected else logging.ERROR,
            "email send failed, will retry" if retry_at else "email dead after retries",
            extra=where,
            exc_info=None if expected else (type(exc), exc, exc.__traceback__),
        )
    else:  # KeyboardInterrupt or SystemExit inside a send: stop, the claim expires
        raise exc


def resolve_interrupted_sends(pipeline: Pipeline) -> int:
    """Settle emails a crashed worker left in ``sending``; how many were settled.

    Resending blindly could deliver a second copy, so the transport is asked first; SES
    cannot tell, and then the row fails with a message that says what to check.
    """
    settings = pipeline.settings
    with pipeline.sessions.begin() as session:
        stuck = outbox.interrupted_sends(
            session,
            now=pipeline.clock(),
            claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        )
    for email in stuck:
        verdict = pipeline.transport.already_sent(_outgoing(email))
        with pipeline.sessions.begin() as session:
            if verdict is True:
                outbox.mark_sent(
                    session,
                    email.outbox_id,
                    transport=pipeline.transport.name,
                    transport_message_id=email.message_id,
                    now=pipeline.clock(),
                )
            elif verdict is False:
                outbox.mark_retry(
                    session,
                    email.outbox_id,
                    transport=pipeline.transport.name,
                    error="interrupted before the transport took it; resending",
                    retry_at=pipeline.clock(),
                )
            else:
                outbox.mark_failed(
                    session,
                    email.outbox_id,
                    transport=pipeline.transport.name,
                    error=(
                        "a worker stopped while handing this email to "
                        f"{pipeline.transport.name}; it may or may not have gone out. Check the "
                        "provider's sending log and run `aftercare outbox retry "
                        f"{email.outbox_id}` if the customer did not get it"
                    ),
                )
    return len(stuck)


@dataclass
class DrainReport:
    batches: int = 0
    events: int = 0
    interrupted_sends: int = 0
    prepare: PrepareReport = field(default_factory=PrepareReport)
    send: SendReport = field(default_factory=SendReport)


@dataclass(frozen=True)
class DrainSteps:
    """The steps of a drain; the Prefect flow passes the same functions wrapped as tasks."""

    resolve: Callable[[Pipeline], int] = resolve_interrupted_sends
    claim: Callable[[Pipeline], list[inbox.ClaimedEvent]] = claim_events
    prepare: Callable[[Pipeline, list[inbox.ClaimedEvent]], PrepareReport] = prepare_emails
    send: Callable[[Pipeline], SendReport] = send_due_emails


def drain(
    pipeline: Pipeline,
    max_batches: int | None = None,
    steps: DrainSteps = DrainSteps(),
    idle_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Claim events and send emails batch by batch until nothing is due.

    Batches, not one run per event: a Prefect flow run costs about a second, a batch of
    200 events costs that second once. With ``idle_seconds`` the drain waits that long for
    more work before it ends, so a steady stream of webhooks is served by one running drain
    instead of paying a run's start-up for every burst.
    """
    report = DrainReport(interrupted_sends=steps.resolve(pipeline))
    while max_batches is None or report.batches < max_batches:
        claimed = steps.claim(pipeline)
        prepared = steps.prepare(pipeline, claimed) if claimed else PrepareReport()
        sent = steps.send(pipeline)
        report.batches += 1
        report.events += len(claimed)
        _add(report.prepare, prepared)
        _add(report.send, sent)
        if claimed or sent.claimed:
            continue
        if not wait_for_work(pipeline, idle_seconds, sleep):
            break
    return report


def has_due_work(pipeline: Pipeline) -> bool:
    """Is an event or an email due now? One cheap query, for a drain waiting for work."""
    settings = pipeline.settings
    with pipeline.sessions() as session:
        return inbox.any_due(
            session,
            now=pipeline.clock(),
            claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        ) or outbox.any_due(session, now=pipeline.clock())


def wait_for_work(
    pipeline: Pipeline, seconds: float, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Poll up to ``seconds`` for due work; True as soon as there is some."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sleep(IDLE_POLL_SECONDS)
        if has_due_work(pipeline):
            return True
    return False


def build_pipeline(settings: Settings) -> Pipeline:
    """The pipeline for ``settings``: database, templates and transport, each built once."""
    return Pipeline(
        settings=settings,
        sessions=session_factory(engine_for(settings.database_url)),
        renderer=renderer_for(settings.templates_dir),
        transport=make_transport(settings),
        adapters=build_adapters(settings),
    )


@cache
def renderer_for(templates_dir: Path) -> EmailRenderer:
    """One renderer per template folder per process: compiled templates are reused."""
    return EmailRenderer(templates_dir)


# A served drain can run for hours; its report keeps the newest errors, not all of them
# (each is also on its inbox row, which is the record).
MAX_REPORTED_ERRORS = 50


def _add(total: PrepareReport | SendReport, part: PrepareReport | SendReport) -> None:
    for name, value in vars(part).items():
        current = getattr(total, name)
        combined = current + value
        setattr(total, name, combined[-MAX_REPORTED_ERRORS:] if name == "errors" else combined)


__all__ = [
    "DrainReport",
    "DrainSteps",
    "build_pipeline",
    "EmailKind",
    "Pipeline",
    "PrepareReport",
    "SendReport",
    "claim_events",
    "drain",
    "prepare_emails",
    "receive_event",
    "resolve_interrupted_sends",
    "send_due_emails",
]
