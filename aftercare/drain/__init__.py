"""The drain: claimed inbox events become outbox emails, which go to the transport.

Plain Python, called in batches by the Prefect flow ``flows/drain_inbox.py`` and directly by
tests. The database, not Prefect's run history, records what arrived and what was sent.
"""

from aftercare.drain.pipeline import (
    DrainReport,
    DrainSteps,
    Pipeline,
    PrepareReport,
    SendReport,
    build_pipeline,
    claim_events,
    drain,
    prepare_emails,
    receive_event,
    resolve_interrupted_sends,
    send_due_emails,
)

__all__ = [
    "DrainReport",
    "DrainSteps",
    "Pipeline",
    "PrepareReport",
    "SendReport",
    "build_pipeline",
    "claim_events",
    "drain",
    "prepare_emails",
    "receive_event",
    "resolve_interrupted_sends",
    "send_due_emails",
]
