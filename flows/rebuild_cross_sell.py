"""The ``rebuild_cross_sell`` flow: learn which products go together from every order.

A thin wrapper around ``aftercare.learning.cross_sell_model.rebuild_cross_sell``.
``prefect.yaml`` runs it nightly; drains fold the day's new orders into the model they hold
meanwhile, so the rebuild is what brings back the customers' own histories (bought in
different orders) and pairs that had dropped out of the kept neighbours.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from aftercare.learning.cross_sell_model import rebuild_cross_sell
from aftercare.settings import Settings
from aftercare.storage.database import engine_for


@flow(name="rebuild-cross-sell", log_prints=False)
def rebuild_cross_sell_flow() -> dict[str, Any]:
    """Rebuild from the stored order history; the model's size and the time it took."""
    settings = Settings()
    report = rebuild_cross_sell(engine_for(settings.database_url), datetime.now(UTC))
    get_run_logger().info(
        "cross-sell model %d: %d orders, %d products, %.1f s",
        report.model_id,
        report.baskets,
        report.products,
        report.seconds,
    )
    return asdict(report)
