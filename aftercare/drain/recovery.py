"""After a crash: emails a stopped worker left half-sent, settled without a second copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aftercare.drain.pipeline import Pipeline
from aftercare.drain.send import outgoing
from aftercare.storage import inbox, outbox


@dataclass(frozen=True)
class Recovered:
    events_released: int  # claimed by a drain that died: due again now
    sends_settled: int  # left in ``sending``: asked of the transport, then settled


def recover_after_crash(pipeline: Pipeline) -> Recovered:
    """Make everything a dead drain held due again, at once rather than after the claim
    timeout, so a restarted ``aftercare serve`` sends within seconds.

    Only for a caller that knows no drain is running against this database (``aftercare
    serve`` on the embedded default, under its single-instance lock): a live drainer's
    claims would be taken from it. Taking them is still safe, only wasteful (the outbox's
    idempotency keys keep each email to one copy), but not something to do on a schedule.
    """
    now = pipeline.clock()
    with pipeline.sessions.begin() as session:
        released = inbox.release_claims(session, now=now)
    return Recovered(released, resolve_interrupted_sends(pipeline, older_than=timedelta(0)))


def resolve_interrupted_sends(pipeline: Pipeline, older_than: timedelta | None = None) -> int:
    """Settle emails a crashed worker left in ``sending``; how many were settled.

    A claim older than ``older_than`` (default: the claim timeout) belongs to a worker that
    died. Resending blindly could deliver a second copy, so the transport is asked first;
    SES cannot tell, and then the row fails with a message that says what to check.
    """
    settings = pipeline.settings
    if older_than is None:
        older_than = timedelta(seconds=settings.claim_timeout_seconds)
    with pipeline.sessions.begin() as session:
        # Never handed over: nothing can have gone out, send them again.
        released = outbox.release_unhanded(session, now=pipeline.clock(), claim_timeout=older_than)
        stuck = outbox.interrupted_sends(session, now=pipeline.clock(), claim_timeout=older_than)
    for email in stuck:
        verdict = pipeline.transport.already_sent(outgoing(email))
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
    return released + len(stuck)
