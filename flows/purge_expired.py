"""The ``purge_expired`` flow: raw webhook bodies and rendered emails past their retention.

A thin wrapper around ``aftercare.storage.retention.purge_expired``: what is kept (rows,
statuses, idempotency keys) and what is emptied is decided there. ``prefect.yaml`` runs it
daily with a Prefect server; ``aftercare serve`` starts it once a day itself (its local API
runs no scheduler).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger

from aftercare.settings import Settings
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.retention import purge_expired


@flow(name="purge-expired", log_prints=False)
def purge_expired_flow(retention_days: int | None = None) -> dict[str, int]:
    """Empty what is older than the retention period (``AFTERCARE_RETENTION_DAYS``)."""
    settings = Settings()
    days = retention_days or settings.retention_days
    purged = purge_expired(
        session_factory(engine_for(settings.database_url)),
        datetime.now(UTC),
        timedelta(days=days),
    )
    get_run_logger().info(
        "purged %d delivery bodies and %d rendered emails older than %d days",
        purged.deliveries,
        purged.emails,
        days,
    )
    return asdict(purged)
