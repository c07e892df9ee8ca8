"""The inbox: every event that arrived, stored before it is acknowledged, processed once.

Several drainers may run at once on PostgreSQL: a claim is one ``UPDATE … WHERE id IN
(SELECT … FOR UPDATE SKIP LOCKED)`` so two drainers never take the same event and never
wait for each other. On SQLite the single-statement claim is atomic too (it takes the one
write lock).
A claim not finished within the timeout (a crashed worker) becomes claimable again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Update, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from aftercare.events import OrderEvent
from aftercare.storage.insert_if_absent import insert_if_absent
from aftercare.storage.schema import InboxEventRow, InboxStatus


@dataclass(frozen=True)
class RawDelivery:
    """A webhook delivery as it arrived, kept beside the event for inspection and replay."""

    topic: str | None
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Enqueued:
    inbox_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class ClaimedEvent:
    inbox_id: int
    attempts: int
    source: str
    payload: dict[str, Any]
    received_at: datetime
    # A webhook delivery as it arrived, for rows the drain has not parsed yet.
    raw_body: bytes | None = None
    raw_headers: dict[str, str] | None = None


def enqueue_event(
    session: Session, event: OrderEvent, now: datetime, raw: RawDelivery | None = None
) -> Enqueued:
    """Store ``event`` unless an event with the same (source, source event id) is stored."""
    table = InboxEventRow.__table__
    new_id = insert_if_absent(
        session,
        table,  # type: ignore[arg-type]
        {
            "source": event.source,
            "source_event_id": event.source_event_id,
            "kind": event.kind.value,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "payload": event.model_dump(mode="json"),
            "status": InboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "topic": raw.topic if raw else None,
            "raw_body": raw.body if raw else None,
            "raw_headers": raw.headers if raw else None,
        },
        ["source", "source_event_id"],
    )
    return Enqueued(inbox_id=new_id, duplicate=new_id is None)


def record_unprocessable(
    session: Session,
    *,
    source: str,
    delivery_id: str,
    raw: RawDelivery,
    status: InboxStatus,
    reason: str,
    now: datetime,
) -> Enqueued:
    """Keep a delivery that produced no event: ``ignored`` (a topic Aftercare does not use)
    or ``invalid`` (malformed; an operator can fix and replay it)."""
    new_id = insert_if_absent(
        session,
        InboxEventRow.__table__,  # type: ignore[arg-type]
        {
            "source": source,
            "source_event_id": delivery_id,
            "kind": status.value,
            "occurred_at": now,
            "received_at": now,
            "payload": {},
            "status": status.value,
            "attempts": 0,
            "last_error": reason[:4000],
            "next_attempt_at": now,
            "processed_at": now,
            "topic": raw.topic,
            "raw_body": raw.body,
            "raw_headers": raw.headers,
        },
        ["source", "source_event_id"],
    )
    return Enqueued(inbox_id=new_id, duplicate=new_id is None)


def _due(now: datetime, claim_timeout: timedelta):  # noqa: ANN202 - a SQL expression
    return or_(
        and_(InboxEventRow.status == InboxStatus.PENDING, InboxEventRow.next_attempt_at <= now),
        and_(
            InboxEventRow.status == InboxStatus.PROCESSING,
            InboxEventRow.claimed_at < now - claim_timeout,
        ),
    )


def any_due(session: Session, *, now: datetime, claim_timeout: timedelta) -> bool:
    return (
        session.scalar(select(InboxEventRow.id).where(_due(now, claim_timeout)).limit(1))
        is not None
    )


def oldest_due_since(
    session: Session, *, now: datetime, claim_timeout: timedelta
) -> datetime | None:
    """Since when the longest-waiting due event has been due; ``None`` when none is.

    A pending event is due from its ``next_attempt_at``; a claim that outlived the timeout
    (its drainer died) is due again from the moment it expired.
    """
    pending = session.scalar(
        select(func.min(InboxEventRow.next_attempt_at)).where(
            InboxEventRow.status == InboxStatus.PENDING, InboxEventRow.next_attempt_at <= now
        )
    )
    stale_claim = session.scalar(
        select(func.min(InboxEventRow.claimed_at)).where(
            InboxEventRow.status == InboxStatus.PROCESSING,
            InboxEventRow.claimed_at < now - claim_timeout,
        )
    )
    candidates = [pending, stale_claim + claim_timeout if stale_claim is not None else None]
    # ``min`` keeps the column's type, so both come back as aware UTC datetimes.
    return min((c for c in candidates if c is not None), default=None)


def release_claims(session: Session, *, now: datetime) -> int:
    """Every claimed event due again now; how many. For when no drainer can be alive."""
    result = session.execute(
        update(InboxEventRow)
        .where(InboxEventRow.status == InboxStatus.PROCESSING)
        .values(status=InboxStatus.PENDING, claimed_at=None, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def claim_events(
    session: Session, *, limit: int, now: datetime, claim_timeout: timedelta
) -> list[ClaimedEvent]:
    """Take up to ``limit`` due events, oldest first, and mark them ``processing``."""
    candidates = (
        select(InboxEventRow.id)
        .where(_due(now, claim_timeout))
        .order_by(InboxEventRow.occurred_at, InboxEventRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(InboxEventRow)
        .where(InboxEventRow.id.in_(candidates.scalar_subquery()))
        .values(
            status=InboxStatus.PROCESSING,
            claimed_at=now,
            attempts=InboxEventRow.attempts + 1,
        )
        .returning(
            InboxEventRow.id,
            InboxEventRow.attempts,
            InboxEventRow.source,
            InboxEventRow.payload,
            InboxEventRow.occurred_at,
            InboxEventRow.received_at,
            InboxEventRow.raw_body,
            InboxEventRow.raw_headers,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.connection().execute(stmt).all()
    # RETURNING does not promise an order; process in the order events happened.
    rows.sort(key=lambda r: (r.occurred_at, r.id))
    return [
        ClaimedEvent(
            inbox_id=r.id,
            attempts=r.attempts,
            source=r.source,
            payload=r.payload,
            received_at=r.received_at,
            raw_body=r.raw_body,
            raw_headers=r.raw_headers,
        )
        for r in rows
    ]


@cache
def _mark_processed_many() -> Update:
    return (
        update(InboxEventRow)
        .where(InboxEventRow.id == bindparam("row_id"))
        .values(
            status=InboxStatus.PROCESSED,
            processed_at=bindparam("now"),
            last_error=None,
            claimed_at=None,
            kind=bindparam("row_kind"),
        )
    )


def mark_processed_many(session: Session, kinds: Mapping[int, str], now: datetime) -> None:
    """Mark many rows processed at once; ``kinds``: each row's id and the events it held."""
    if not kinds:
        return
    session.connection().execute(
        _mark_processed_many(),
        [{"row_id": i, "row_kind": kind, "now": now} for i, kind in kinds.items()],
    )


def mark_ignored(session: Session, inbox_id: int, *, reason: str, now: datetime) -> None:
    """A delivery that turned out to need no email and no state change (kept, with why)."""
    session.connection().execute(
        update(InboxEventRow)
        .where(InboxEventRow.id == inbox_id)
        .values(
            status=InboxStatus.IGNORED,
            kind=InboxStatus.IGNORED.value,
            last_error=reason[:4000],
            processed_at=now,
            claimed_at=None,
        )
    )


def mark_for_retry(
    session: Session, inbox_id: int, *, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Back to ``pending`` until ``retry_at``; ``dead`` (kept, listed) when ``retry_at`` is None."""
    values: dict[str, Any] = {"last_error": error[:4000], "claimed_at": None}
    if retry_at is None:
        values.update(status=InboxStatus.DEAD, processed_at=now)
    else:
        values.update(status=InboxStatus.PENDING, next_attempt_at=retry_at)
    session.connection().execute(
        update(InboxEventRow).where(InboxEventRow.id == inbox_id).values(**values)
    )


def mark_invalid(session: Session, inbox_id: int, *, error: str, now: datetime) -> None:
    """A payload that can never be processed as is: kept for an operator to fix and replay."""
    session.connection().execute(
        update(InboxEventRow)
        .where(InboxEventRow.id == inbox_id)
        .values(
            status=InboxStatus.INVALID, last_error=error[:4000], processed_at=now, claimed_at=None
        )
    )


def get(session: Session, inbox_id: int) -> InboxEventRow | None:
    return session.get(InboxEventRow, inbox_id)


def retry_now(session: Session, inbox_id: int, now: datetime) -> bool:
    """An operator's decision to process a ``dead`` event again from the start."""
    result = session.connection().execute(
        update(InboxEventRow)
        .where(InboxEventRow.id == inbox_id, InboxEventRow.status == InboxStatus.DEAD)
        .values(status=InboxStatus.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
    )
    return result.rowcount == 1


def requeue_invalid(
    session: Session,
    inbox_id: int,
    now: datetime,
    *,
    raw_body: bytes | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Process an ``invalid`` row again, with a corrected body or payload if one is given."""
    values: dict[str, Any] = {
        "status": InboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_at": None,
        "processed_at": None,
    }
    if raw_body is not None:
        values["raw_body"] = raw_body
    if payload is not None:
        values["payload"] = payload
    session.connection().execute(
        update(InboxEventRow).where(InboxEventRow.id == inbox_id).values(**values)
    )


def count_by_status(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = (
        session.connection()
        .execute(select(InboxEventRow.status, func.count()).group_by(InboxEventRow.status))
        .all()
    )
    return {status: count for status, count in rows}
