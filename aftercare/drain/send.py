"""Due outbox emails to the transport, several at a time, each outcome recorded."""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from aftercare.drain.backoff import backoff
from aftercare.drain.pipeline import Pipeline
from aftercare.drain.reports import SendReport
from aftercare.errors import DeliveryUnknownError, PermanentSendError, TransientSendError
from aftercare.privacy import describe_error
from aftercare.storage import outbox
from aftercare.transports import OutgoingMessage

log = logging.getLogger(__name__)


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
                group = _hand_over(pipeline, group, claimed_at)
                if not group:
                    continue
                try:
                    outcomes = send_many([outgoing(e) for e in group])
                except Exception as exc:  # noqa: BLE001 - settled per email like any error
                    outcomes = [exc] * len(group)
                for email, outcome in zip(group, outcomes, strict=True):
                    _settle(pipeline, email, outcome, report, sent)
                continue
            wave = [
                waiting.pop()
                for _ in range(min(settings.send_concurrency - len(in_flight), len(waiting)))
            ]
            for email in _hand_over(pipeline, wave, claimed_at):
                in_flight[pool.submit(pipeline.transport.send, outgoing(email))] = email
            if not in_flight:
                continue
            # Wake for the renewal even while every send is still out: the emails waiting
            # their turn must not outlive their claim behind a slow transport.
            until_renewal = (claimed_at + renew_after - pipeline.clock()).total_seconds()
            done, _ = wait(
                in_flight,
                timeout=max(until_renewal, 0.05) if waiting else None,
                return_when=FIRST_COMPLETED,
            )
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


def outgoing(email: outbox.ClaimedEmail) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=email.idempotency_key,
        kind=email.kind,
        sender=email.sender,
        recipient=email.recipient,
        message_id=email.message_id,
        mime=email.mime,
    )


def _hand_over(
    pipeline: Pipeline, emails: list[outbox.ClaimedEmail], claimed_at: datetime
) -> list[outbox.ClaimedEmail]:
    """Record that these emails are about to reach the transport, before they do; the ones
    this drainer still holds, which alone it sends.

    After a crash, a claimed email that was never handed over is simply sent again; only one
    that was handed over may have gone out, and only for those must the transport be asked
    (and SES, which cannot tell, leaves them for a person). Without this, a crash with SES
    left a whole claimed batch failed "may or may not have gone out".
    """
    if not emails:
        return []
    with pipeline.sessions.begin() as session:
        ours = outbox.mark_handed(
            session,
            [e.outbox_id for e in emails],
            transport=pipeline.transport.name,
            claimed_at=claimed_at,
            now=pipeline.clock(),
        )
    if len(ours) < len(emails):
        log.warning(
            "another drain took %d email(s) of this batch while it waited; left to it",
            len(emails) - len(ours),
        )
    return [e for e in emails if e.outbox_id in ours]


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
