"""The recipe, in plain Python: merge the order, decide the emails, render them into the
outbox, hand them to the transport, record the outcome.

Prefect flows call these functions in batches (``flows/drain_inbox.py``); tests call them
directly. Each event is processed in its own transaction, so one bad event never holds up
the others, and the email rows are written in the transaction that marks the event
processed: either both happen or neither does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from functools import cache
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from aftercare.carrier_delays import carrier_delay_notice
from aftercare.delivery_promise import promise_for
from aftercare.email_context import build_context
from aftercare.email_kinds import CARRIER_TROUBLE, EmailKind, PlannedEmail, plan_emails
from aftercare.errors import (
    AftercareError,
    DeliveryUnknownError,
    OrderNotYetKnownError,
    PermanentSendError,
    TransientSendError,
)
from aftercare.events import EventKind, OrderEvent
from aftercare.logging_setup import scrub_personal_data
from aftercare.mime import build_mime, new_message_id
from aftercare.order_state import OrderState, merge_event
from aftercare.rendering import EmailRenderer
from aftercare.settings import Settings
from aftercare.storage import inbox, outbox
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.order_records import load_order_state, save_customer, save_order_state
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


def _process_one(
    pipeline: Pipeline, session: Session, claimed: inbox.ClaimedEvent
) -> tuple[int, int]:
    """Process every event of one inbox row inside ``session``; (written, already there)."""
    now = pipeline.clock()
    events = events_of(pipeline, claimed)
    if isinstance(events, str):
        inbox.mark_ignored(session, claimed.inbox_id, reason=events, now=now)
        return 0, 0
    written = existing = 0
    for event in events:
        new, old = _process_event(pipeline, session, event, claimed.inbox_id, now)
        written, existing = written + new, existing + old
    inbox.mark_processed(
        session, claimed.inbox_id, now, kind="+".join(e.kind.value for e in events)[:40]
    )
    return written, existing


def _process_event(
    pipeline: Pipeline, session: Session, event: OrderEvent, inbox_id: int, now: datetime
) -> tuple[int, int]:
    """Merge one event into its order, then write the emails it calls for."""
    state: OrderState | None = None
    if event.kind is EventKind.CUSTOMER_CREATED:
        assert event.customer is not None
        save_customer(session, event.source, event.customer, now)
    else:
        assert event.order_id is not None
        stored = load_order_state(session, event.source, event.order_id, lock=True)
        state = merge_event(stored, event)
        assert state is not None
        state = _with_promise(state, pipeline.settings)
        save_order_state(session, state, now)
        update = event.shipment_update
        if update is not None and update.status in CARRIER_TROUBLE:
            notice = carrier_delay_notice(update, state, pipeline.settings.store, now)
            event = event.model_copy(update={"delay": notice})
    written = existing = 0
    for planned in plan_emails(event):
        if outbox.key_exists(session, planned.idempotency_key):
            existing += 1
            continue
        email = _compose(pipeline, planned, event, state, inbox_id, now)
        if outbox.add_email(session, email, now) is None:
            existing += 1
        else:
            written += 1
    return written, existing


# Events prepared per transaction. PostgreSQL: one commit (a WAL flush) per group instead of
# per event. SQLite: every transaction holds the one write lock, and the webhook receiver
# needs it to acknowledge deliveries, so commit after each event.
EVENTS_PER_COMMIT = {"postgresql": 25, "sqlite": 1}


def prepare_emails(pipeline: Pipeline, claimed_events: list[inbox.ClaimedEvent]) -> PrepareReport:
    """Turn claimed inbox events into outbox rows; failures retry with backoff, then ``dead``.

    Each event runs in its own savepoint, so one bad event rolls back alone and is recorded
    (invalid, retrying or dead) in the same transaction as its neighbours' emails.
    """
    report = PrepareReport()
    dialect = pipeline.sessions.kw["bind"].dialect.name
    group = EVENTS_PER_COMMIT.get(dialect, 1)
    for start in range(0, len(claimed_events), group):
        with pipeline.sessions.begin() as session:
            for claimed in claimed_events[start : start + group]:
                _prepare_one(pipeline, session, claimed, report)
    return report


def _forget_rolled_back_rows(session: Session) -> None:
    """Rows cached by a rolled-back savepoint may no longer exist (see order_records)."""
    session.info.pop("order_rows", None)


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


def _prepare_one(
    pipeline: Pipeline, session: Session, claimed: inbox.ClaimedEvent, report: PrepareReport
) -> None:
    settings = pipeline.settings
    try:
        with session.begin_nested():
            written, existing = _process_one(pipeline, session, claimed)
    except (ValidationError, MalformedPayloadError) as exc:
        _forget_rolled_back_rows(session)
        # The payload will never become valid by waiting: keep it for an operator.
        message = f"invalid event payload: {describe_error(exc)}"
        inbox.mark_invalid(session, claimed.inbox_id, error=message, now=pipeline.clock())
        report.invalid += 1
        report.errors.append(message)
        log.warning("event invalid", extra={"inbox_id": claimed.inbox_id})
        return
    except Exception as exc:  # noqa: BLE001 - every failure must end visibly, never silently
        _forget_rolled_back_rows(session)
        now = pipeline.clock()
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
            exc_info=not expected,
        )
        return
    report.processed += 1
    report.emails_written += written
    report.already_in_outbox += existing


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
    """Hand due outbox emails to the transport and record each outcome as it happens."""
    settings = pipeline.settings
    report = SendReport()
    claimed_at = pipeline.clock()
    with pipeline.sessions.begin() as session:
        claimed = outbox.claim_due_emails(
            session, limit=limit or settings.drain_batch_size, now=claimed_at
        )
    report.claimed = len(claimed)
    renew_after = timedelta(seconds=settings.claim_timeout_seconds / 2)
    for email in claimed:
        if pipeline.clock() - claimed_at > renew_after:
            # A slow batch must not outlive its claim: another drainer would take the rest
            # for interrupted sends. Renew it, or leave an email that was taken meanwhile.
            previous, claimed_at = claimed_at, pipeline.clock()
            with pipeline.sessions.begin() as session:
                if not outbox.renew_claim(session, email.outbox_id, previous, claimed_at):
                    continue
        _send_one(pipeline, email, report)
    return report


def _send_one(pipeline: Pipeline, email: outbox.ClaimedEmail, report: SendReport) -> None:
    settings, transport = pipeline.settings, pipeline.transport
    where = {"outbox_id": email.outbox_id, "kind": email.kind, "attempts": email.attempts}
    try:
        transport_id = transport.send(_outgoing(email))
    except PermanentSendError as exc:
        with pipeline.sessions.begin() as session:
            outbox.mark_failed(session, email.outbox_id, transport=transport.name, error=str(exc))
        report.failed += 1
        log.warning("email rejected", extra=where)
        return
    except DeliveryUnknownError as exc:
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
        return
    except Exception as exc:  # noqa: BLE001 - transient, or a bug: retry, never strand it
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
            exc_info=not expected,
        )
        return
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
