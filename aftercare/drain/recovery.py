"""After a crash: emails a stopped worker left half-sent, settled without a second copy."""

from __future__ import annotations

from datetime import timedelta

from aftercare.drain.pipeline import Pipeline
from aftercare.drain.send import outgoing
from aftercare.storage import outbox


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
    return len(stuck)
