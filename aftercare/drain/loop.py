"""A drain: resolve what a crash left, then claim, prepare and send until nothing is due.

Batches, not one flow run per event: a Prefect flow run costs about a second, a batch of
200 events costs that second once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aftercare.drain.action_forwarding import ForwardReport, forward_due_actions
from aftercare.drain.backlog import work_is_due
from aftercare.drain.order_notes import NoteReport, add_due_order_notes, noting_sources
from aftercare.drain.pipeline import Pipeline
from aftercare.drain.prepare import claim_events, prepare_emails
from aftercare.drain.recovery import resolve_interrupted_sends
from aftercare.drain.reports import DrainReport, PrepareReport, SendReport, add_counts
from aftercare.drain.send import send_due_emails
from aftercare.storage import inbox

IDLE_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class DrainSteps:
    """The steps of a drain; the Prefect flow passes the same functions wrapped as tasks."""

    resolve: Callable[[Pipeline], int] = resolve_interrupted_sends
    claim: Callable[[Pipeline], list[inbox.ClaimedEvent]] = claim_events
    prepare: Callable[[Pipeline, list[inbox.ClaimedEvent]], PrepareReport] = prepare_emails
    send: Callable[[Pipeline], SendReport] = send_due_emails
    # Customers' answers told to the store (nothing unless it configured an endpoint).
    forward: Callable[[Pipeline], ForwardReport] = forward_due_actions
    # … and written on their orders (nothing unless store API credentials are set).
    note: Callable[[Pipeline], NoteReport] = add_due_order_notes


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
        forwarded = steps.forward(pipeline)
        noted = steps.note(pipeline)
        report.batches += 1
        report.events += len(claimed)
        add_counts(report.prepare, prepared)
        add_counts(report.send, sent)
        if claimed or sent.claimed or forwarded.sent or noted.noted:
            continue
        if not wait_for_work(pipeline, idle_seconds, sleep):
            break
    return report


def has_due_work(pipeline: Pipeline) -> bool:
    """Is an event or an email due now? One cheap query, for a drain waiting for work."""
    settings = pipeline.settings
    claim_timeout = timedelta(seconds=settings.claim_timeout_seconds)
    forwarding = settings.action_webhook_url is not None
    noting = noting_sources(settings)
    return work_is_due(pipeline.sessions, claim_timeout, pipeline.clock(), forwarding, noting)


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
