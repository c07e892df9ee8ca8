"""The drain: claimed inbox events become outbox emails, which go to the transport.

Plain Python, called in batches by the Prefect flow ``flows/drain_inbox.py`` and directly by
tests. ``pipeline`` is what a drain works with; ``prepare`` turns events into outbox rows;
``send`` hands them to the transport; ``recovery`` settles what a crash left half-sent;
``loop`` runs the steps until nothing is due. The database, not Prefect's run history,
records what arrived and what was sent.
"""

from aftercare.drain.loop import DrainSteps, drain, has_due_work
from aftercare.drain.pipeline import Pipeline, build_pipeline, receive_event, renderer_for
from aftercare.drain.prepare import claim_events, prepare_emails
from aftercare.drain.recovery import resolve_interrupted_sends
from aftercare.drain.reports import DrainReport, PrepareReport, SendReport
from aftercare.drain.send import send_due_emails

__all__ = [
    "DrainReport",
    "DrainSteps",
    "Pipeline",
    "PrepareReport",
    "SendReport",
    "build_pipeline",
    "claim_events",
    "drain",
    "has_due_work",
    "prepare_emails",
    "receive_event",
    "renderer_for",
    "resolve_interrupted_sends",
    "send_due_emails",
]
