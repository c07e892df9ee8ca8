"""The record of delay notices: at most one per order and stage, whoever raises it.

The scan (``drain/delay_scan.py``) and the drain (a store's or a carrier's delay event,
``drain/prepare.py``) both go through ``record_notice``: the unique (order, stage) row
decides, in the database, which of two notices raised at the same moment is the one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aftercare.enrichment.delay_stages import DelayStage
from aftercare.order_state import OrderState
from aftercare.storage.schema import (
    DelayCouponRow,
    DelayNoticeRow,
    InboxEventRow,
    OutboxEmailRow,
    OutboxStatus,
)

# The ``source_event_id`` prefix of the events the scan queues.
SCAN_SOURCE_PREFIX = "delay-scan"


def record_notice(
    session: Session,
    order_id: int,
    stage: DelayStage,
    why: str,
    inbox_event_id: int | None,
    now: datetime,
    round_: int = 1,
) -> int | None:
    """The new notice's id, or ``None`` when this round of the stage was told already."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(DelayNoticeRow)
        .values(
            order_id=order_id,
            stage=stage.value,
            round=round_,
            why=why[:400],
            inbox_event_id=inbox_event_id,
            raised_at=now,
        )
        .on_conflict_do_nothing(index_elements=["order_id", "stage", "round"])
        .returning(DelayNoticeRow.id)
    )
    return session.execute(statement).scalar()


def attach_event(session: Session, notice_id: int, inbox_event_id: int | None) -> None:
    session.execute(
        update(DelayNoticeRow)
        .where(DelayNoticeRow.id == notice_id)
        .values(inbox_event_id=inbox_event_id)
    )


def told_by_scan(session: Session, order_id: int, stage: DelayStage) -> bool:
    """Whether the stage's notice is one the scan raised."""
    event_id = session.scalar(
        select(InboxEventRow.source_event_id)
        .join(DelayNoticeRow, DelayNoticeRow.inbox_event_id == InboxEventRow.id)
        .where(
            DelayNoticeRow.order_id == order_id,
            DelayNoticeRow.stage == stage.value,
            DelayNoticeRow.round == 1,
        )
    )
    return event_id is not None and event_id.startswith(f"{SCAN_SOURCE_PREFIX}:")


def notified_stages(session: Session, order_ids: list[int]) -> dict[int, dict[DelayStage, int]]:
    """The notices raised so far for each order, per stage."""
    told: dict[int, dict[DelayStage, int]] = {}
    for order_id, stage, rounds in session.execute(
        select(DelayNoticeRow.order_id, DelayNoticeRow.stage, func.max(DelayNoticeRow.round))
        .where(DelayNoticeRow.order_id.in_(order_ids))
        .group_by(DelayNoticeRow.order_id, DelayNoticeRow.stage)
    ):
        told.setdefault(order_id, {})[DelayStage(stage)] = rounds
    return told


def give_coupon(
    session: Session, codes: tuple[str, ...], notice_id: int, now: datetime
) -> str | None:
    """A code from the store's pool for this notice, never one given before; ``None`` when
    the pool is empty or used up. New codes in the setting join the pool."""
    if not codes:
        return None
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(
        insert(DelayCouponRow)
        .values([{"code": code} for code in dict.fromkeys(codes)])
        .on_conflict_do_nothing(index_elements=["code"])
    )
    free = (
        select(DelayCouponRow.id)
        .where(DelayCouponRow.notice_id.is_(None))
        .order_by(DelayCouponRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    coupon_id = session.scalar(free)
    if coupon_id is None:
        return None
    return session.scalar(
        update(DelayCouponRow)
        .where(DelayCouponRow.id == coupon_id, DelayCouponRow.notice_id.is_(None))
        .values(notice_id=notice_id, given_at=now)
        .returning(DelayCouponRow.code)
    )


def withdraw_waiting_notices(session: Session, state: OrderState) -> int:
    """Scan notices still waiting for the customer's morning that the order has since
    overtaken (cancelled, refunded, shipped before a before-shipping notice went out, or
    delivered): recorded as not sent, with the reason. How many."""
    order = state.order
    refunded = sum((r.amount for r in state.refunds), start=0)
    ended = order.cancelled_at is not None or (
        bool(state.refunds) and refunded >= order.costs.total
    )
    shipped = bool(state.fulfilments)
    delivered = shipped and all(f.status == "delivered" for f in state.fulfilments)
    prefix = f"{SCAN_SOURCE_PREFIX}:{order.external_id}:"
    waiting = session.execute(
        select(OutboxEmailRow.id, InboxEventRow.source_event_id)
        .join(InboxEventRow, InboxEventRow.id == OutboxEmailRow.inbox_event_id)
        .where(
            OutboxEmailRow.kind == "order_delayed",
            OutboxEmailRow.status == OutboxStatus.PENDING,
            InboxEventRow.source == state.source,
            InboxEventRow.source_event_id.startswith(prefix, autoescape=True),
        )
    ).all()
    withdrawn = 0
    for outbox_id, event_id in waiting:
        stage = event_id[len(prefix) :].split(":", 1)[0]
        if ended:
            reason = "the order was cancelled or refunded before the notice went out"
        elif stage == DelayStage.BEFORE_SHIPPING.value and shipped:
            reason = "the order shipped before the notice went out"
        elif stage == DelayStage.IN_TRANSIT.value and delivered:
            reason = "the parcel was delivered before the notice went out"
        else:
            continue
        session.execute(
            update(OutboxEmailRow)
            .where(OutboxEmailRow.id == outbox_id, OutboxEmailRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SKIPPED, last_error=f"not sent: {reason}")
        )
        withdrawn += 1
    return withdrawn
