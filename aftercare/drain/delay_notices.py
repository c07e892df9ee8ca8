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
from aftercare.storage.schema import DelayCouponRow, DelayNoticeRow, InboxEventRow

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
