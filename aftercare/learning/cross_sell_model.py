"""One cross-sell rebuild: count every stored order's products, store the model.

Run on a schedule (``flows/rebuild_cross_sell.py``, nightly in ``prefect.yaml``) and by
``aftercare cross-sell rebuild``. Between rebuilds a drain folds new orders into the model
it holds, so a rebuild is what brings back the same-customer signal and the pairs that had
fallen out of the kept neighbours; it never blocks sending (it reads, then writes one row).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from aftercare.enrichment.cross_sell.associations import AssociationTuning, build_associations
from aftercare.storage.cross_sell_models import newest_order_id, order_baskets, save_model
from aftercare.storage.database import read_only


@dataclass(frozen=True)
class RebuildReport:
    model_id: int
    baskets: int
    products: int
    orders_through: int
    seconds: float


def rebuild_cross_sell(
    engine: Engine, now: datetime, tuning: AssociationTuning | None = None
) -> RebuildReport:
    """Learn the model from every order stored now and make it the one drains use."""
    started = time.perf_counter()
    with read_only(engine) as connection:
        # Orders stored while the history is read are left for the drains to fold in.
        through = newest_order_id(connection)
        baskets = (
            (customer, products)
            for order_id, customer, products in order_baskets(connection)
            if order_id <= through
        )
        model = build_associations(baskets, tuning)
    with engine.begin() as connection:
        model_id = save_model(connection, model, through, now)
    return RebuildReport(
        model_id=model_id,
        baskets=model.baskets,
        products=len(model.baskets_with),
        orders_through=through,
        seconds=time.perf_counter() - started,
    )
