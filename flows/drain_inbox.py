"""The ``drain_inbox`` flow: claim stored events in batches, render their emails, send them.

One flow run drains many events; the database records what arrived and what was sent, so
a run can crash or be cancelled at any point and the next run carries on. Each step is a
task around a plain ``aftercare.drain.pipeline`` function; retries of individual emails are
scheduled in the outbox (``next_attempt_at``), not as Prefect task retries, so a slow
retry never holds the batch up.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from aftercare import drain as steps
from aftercare.settings import Settings
from aftercare.storage.inbox import ClaimedEvent


@task(name="resolve-interrupted-sends", cache_policy=NO_CACHE)
def resolve_interrupted_sends(pipeline: steps.Pipeline) -> int:
    return steps.resolve_interrupted_sends(pipeline)


@task(name="claim-events", cache_policy=NO_CACHE)
def claim_events(pipeline: steps.Pipeline) -> list[ClaimedEvent]:
    return steps.claim_events(pipeline)


@task(name="prepare-emails", cache_policy=NO_CACHE)
def prepare_emails(pipeline: steps.Pipeline, claimed: list[ClaimedEvent]) -> steps.PrepareReport:
    return steps.prepare_emails(pipeline, claimed)


@task(name="send-emails", cache_policy=NO_CACHE)
def send_emails(pipeline: steps.Pipeline) -> steps.SendReport:
    return steps.send_due_emails(pipeline)


# ``quote`` keeps Prefect from walking the pipeline and the event payloads to look for
# futures: they hold none, and walking a batch of 200 orders costs more than the step.
TASK_STEPS = steps.DrainSteps(
    resolve=lambda p: resolve_interrupted_sends(quote(p)),
    claim=lambda p: claim_events(quote(p)),
    prepare=lambda p, claimed: prepare_emails(quote(p), quote(claimed)),
    send=lambda p: send_emails(quote(p)),
)


@flow(name="drain-inbox", log_prints=False)
def drain_inbox(max_batches: int | None = None, idle_seconds: float = 0.0) -> dict[str, Any]:
    """Process every due inbox event and outbox email; returns the counts.

    ``idle_seconds``: keep polling that long after the inbox runs dry (deployments use a few
    seconds so a stream of webhooks keeps one drain busy rather than starting many).
    """
    settings = Settings()
    report = steps.drain(
        steps.build_pipeline(settings),
        max_batches=max_batches,
        steps=TASK_STEPS,
        idle_seconds=idle_seconds,
    )
    summary = asdict(report)
    summary["prepare"].pop("errors", None)
    get_run_logger().info(
        "drained %d events in %d batches: %d emails written, %d sent, %d retrying, %d failed, "
        "%d dead",
        report.events,
        report.batches,
        report.prepare.emails_written,
        report.send.sent,
        report.send.retried + report.prepare.retried,
        report.send.failed,
        report.send.dead + report.prepare.dead,
    )
    return summary
