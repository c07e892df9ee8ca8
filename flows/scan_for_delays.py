"""The ``scan_for_delays`` flow: tell customers their order is late before they ask.

Every 15 minutes (``prefect.yaml``; ``aftercare serve`` starts it itself on the embedded
default) it raises a notice for each order late at a stage it was not told about, then
drains, so the notices go out with this run. ``drain/delay_scan.py`` holds the rules;
the database makes two runs at once raise one notice per stage.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from aftercare import drain as steps
from aftercare.drain import delay_scan
from aftercare.settings import Settings


@flow(name="scan-for-delays", log_prints=False)
def scan_for_delays(dry_run: bool = False) -> dict[str, Any]:
    """Scan for late orders; the counts (``dry_run``: decide and report, write nothing)."""
    pipeline = steps.build_pipeline(Settings())
    report = delay_scan.scan_for_delays(pipeline, dry_run=dry_run)
    logger = get_run_logger()
    logger.info(
        "looked at %d orders: %d late, %d notices raised",
        report.looked_at,
        len(report.late),
        report.notices,
    )
    sent = 0
    if report.notices and not dry_run:
        sent = steps.drain(pipeline).send.sent
    return {
        "looked_at": report.looked_at,
        "late": len(report.late),
        "notices": report.notices,
        "sent": sent,
    }
