"""The ``learn_faq`` flow: re-learn from the store's newest support-ticket exports.

A helpdesk can drop a daily export into a folder or publish it at a URL
(``AFTERCARE_FAQ_TICKETS_SOURCE``); this flow reads it all, relates every ticket to the
email before it and replaces the learned rates, so tomorrow's emails rank by this week's
questions. Learning is idempotent: the rates are recounted from the whole export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from aftercare.drain.pipeline import faq_library_for
from aftercare.learning.run import learn_from_source
from aftercare.settings import Settings
from aftercare.storage.database import engine_for, session_factory


@flow(name="learn-faq", log_prints=False)
def learn_faq(source: str | None = None) -> dict[str, Any]:
    """Learn from ``source`` (default: the setting); the counts, or why nothing ran."""
    settings = Settings()
    source = source or settings.faq_tickets_source
    logger = get_run_logger()
    if not source:
        logger.info("no AFTERCARE_FAQ_TICKETS_SOURCE set: nothing to learn from")
        return {"learned": False}
    outcome = learn_from_source(
        source,
        session_factory(engine_for(settings.database_url)),
        faq_library_for(settings.faq_dir),
        settings.store,
        now=datetime.now(UTC),
    )
    report = outcome.report
    logger.info(
        "learned from %d tickets (%d rows left out): %d matched, %d after an email; %d rates",
        report.tickets,
        len(outcome.rejected),
        report.matched,
        report.linked,
        len(report.rates),
    )
    return {
        "learned": True,
        "tickets": report.tickets,
        "matched": report.matched,
        "linked": report.linked,
        "emails": report.emails,
        "rejected": len(outcome.rejected),
        "rates": len(report.rates),
    }
