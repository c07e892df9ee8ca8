"""When a failed step is tried again: the same schedule for events and for emails."""

from __future__ import annotations

from datetime import datetime, timedelta

from aftercare.settings import Settings

MAX_BACKOFF = timedelta(hours=1)


def backoff(settings: Settings, attempts: int, now: datetime, limit: int) -> datetime | None:
    """When to try again after ``attempts`` tries; ``None`` once ``limit`` is used up.

    Exponential (30 s, 1 min, 2 min, …) up to an hour: long enough for an order webhook
    that overtook its shipment to arrive, or for SES throttling to pass.
    """
    if attempts >= limit:
        return None
    delay = timedelta(seconds=settings.retry_base_seconds * 2 ** max(attempts - 1, 0))
    return now + min(delay, MAX_BACKOFF)
