"""The delay scan: tell customers their order is late before they have to ask.

Reads only the orders whose ``delay_check_at`` has come (an index), decides for each
whether it is late and at which stage (``enrichment/delay_stages.py``), and for each late
order not yet told at that stage records the notice and queues an ``order_delayed`` event
in the inbox, in one transaction; the drain then writes and sends the email like any
other. The notice's row is unique per (order, stage): two scans at once, or a scan
overlapping a retry of itself, raise one notice, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aftercare.drain.delay_notices import (
    SCAN_SOURCE_PREFIX,
    attach_event,
    give_coupon,
    notified_stages,
    record_notice,
)
from aftercare.drain.pipeline import Pipeline
from aftercare.enrichment.delay_stages import DelayStage, LateOrder, late_order, next_check
from aftercare.enrichment.promises import add_business_days, promise_for
from aftercare.events import DelayNotice, EventKind, OrderEvent
from aftercare.order_state import OrderState
from aftercare.settings import Settings
from aftercare.storage import inbox
from aftercare.storage.order_records import load_order_states
from aftercare.storage.schema import OrderRow

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Found:
    """One late order, as the scan reports it (no customer data: the order number)."""

    order_number: str
    stage: str
    why: str
    new_estimated_delivery: str
    notified: bool  # False: told before at this stage, or a dry run


@dataclass
class ScanReport:
    looked_at: int = 0
    late: list[Found] = field(default_factory=list)

    @property
    def notices(self) -> int:
        return sum(1 for f in self.late if f.notified)


def delay_notice(
    state: OrderState, late: LateOrder, settings: Settings, now: datetime
) -> DelayNotice:
    """The notice: the honest reason for the stage, the new date, what the store does."""
    store, rules = settings.store, settings.delays
    destination = state.order.shipping_address
    country = destination.country_code if destination else None
    if late.stage is DelayStage.BEFORE_SHIPPING:
        return DelayNotice(
            reason=rules.reason_before_shipping,
            new_estimated_delivery=promise_for(now, store, country).deliver_by,
            what_we_will_do=rules.promise_before_shipping,
        )
    today = now.astimezone(ZoneInfo(store.time_zone)).date()
    base = max(filter(None, (state.promised_deliver_by, today)))
    return DelayNotice(
        reason=rules.reason_in_transit,
        new_estimated_delivery=add_business_days(
            base, store.carrier_delay_extra_days, store.ships_from_country
        ),
        what_we_will_do=store.carrier_delay_promise,
    )


def scan_for_delays(
    pipeline: Pipeline,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Raise a notice for every order late at a stage it was not told about; the report.

    ``dry_run``: decide and report, write nothing. ``progress`` is called with the number
    of orders looked at after each batch (the CLI's progress bar).
    """
    now = now or pipeline.clock()
    report = ScanReport()
    after_id = 0
    while True:
        with pipeline.sessions.begin() as session:
            batch = _due_batch(session, now, after_id, dry_run)
            if not batch:
                return report
            after_id = batch[-1][0]
            _scan_batch(pipeline, session, batch, now, dry_run, report)
        if progress is not None:
            progress(report.looked_at)


def count_due(pipeline: Pipeline, now: datetime) -> int:
    from sqlalchemy import func

    with pipeline.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(OrderRow).where(OrderRow.delay_check_at <= now)
            )
            or 0
        )


def _due_batch(
    session: Session, now: datetime, after_id: int, dry_run: bool
) -> list[tuple[int, str, str]]:
    """The next orders whose check time has come, by id (the index on ``delay_check_at``
    finds them; PostgreSQL skips orders another scan holds)."""
    query = (
        select(OrderRow.id, OrderRow.source, OrderRow.external_id)
        .where(OrderRow.delay_check_at <= now, OrderRow.id > after_id)
        .order_by(OrderRow.id)
        .limit(BATCH)
    )
    if not dry_run:
        query = query.with_for_update(skip_locked=True, of=OrderRow)
    return [(row.id, row.source, row.external_id) for row in session.execute(query)]


def _scan_batch(
    pipeline: Pipeline,
    session: Session,
    batch: list[tuple[int, str, str]],
    now: datetime,
    dry_run: bool,
    report: ScanReport,
) -> None:
    settings = pipeline.settings
    ids = {(source, external_id): row_id for row_id, source, external_id in batch}
    states = load_order_states(session.connection(), list(ids))
    told = notified_stages(session, list(ids.values()))
    for key, row_id in ids.items():
        report.looked_at += 1
        state = states.get(key)
        if state is None:
            continue
        notified = dict(told.get(row_id, {}))
        late = late_order(state, now, settings.delays, settings.store, notified)
        promised: dict[str, object] = {}
        if late is not None:
            notice = delay_notice(state, late, settings, now)
            round_ = notified.get(late.stage, 0) + 1
            raised = not dry_run and _raise(
                session, row_id, state, late, notice, now, round_, settings
            )
            if raised:
                # What the customer was told last is the promise from now on: a notice in
                # transit counts from the new date, not the one already broken.
                promised = {"promised_deliver_by": notice.new_estimated_delivery}
                if late.stage is DelayStage.BEFORE_SHIPPING:
                    country = (
                        state.order.shipping_address.country_code
                        if state.order.shipping_address
                        else None
                    )
                    promised["promised_ship_by"] = promise_for(now, settings.store, country).ship_by
                state = replace(state, **promised)  # type: ignore[arg-type]
            report.late.append(
                Found(
                    state.order.number,
                    late.stage.value,
                    late.why,
                    notice.new_estimated_delivery.isoformat(),
                    raised,
                )
            )
            if raised or dry_run:
                notified[late.stage] = notified.get(late.stage, 0) + 1
        if not dry_run:
            check = next_check(state, settings.delays, settings.store, notified)
            session.execute(
                update(OrderRow)
                .where(OrderRow.id == row_id)
                .values(delay_check_at=check, **promised)
            )


def _raise(
    session: Session,
    order_row_id: int,
    state: OrderState,
    late: LateOrder,
    notice: DelayNotice,
    now: datetime,
    round_: int,
    settings: Settings,
) -> bool:
    """Record the notice and queue its event; ``False`` when one was raised already."""
    notice_id = record_notice(session, order_row_id, late.stage, late.why, None, now, round_)
    if notice_id is None:
        return False
    rules = settings.delays
    code = give_coupon(session, rules.coupon_codes, notice_id, now)
    if code is not None:
        notice = notice.model_copy(
            update={"coupon_code": code, "coupon_description": rules.coupon_description}
        )
    event = OrderEvent(
        kind=EventKind.ORDER_DELAYED,
        source=state.source,
        source_event_id=(
            f"{SCAN_SOURCE_PREFIX}:{state.order.external_id}:{late.stage.value}:{round_}"
        ),
        occurred_at=now,
        order_id=state.order.external_id,
        delay=notice,
    )
    attach_event(session, notice_id, inbox.enqueue_event(session, event, now).inbox_id)
    log.info(
        "delay notice raised",
        extra={"order": state.order.external_id, "stage": late.stage.value},
    )
    return True
