"""The outbox: one row per logical email, unique on its idempotency key.

A row is written (``pending``) in the same transaction that marks its event processed,
then claimed (``sending``), handed to the transport and marked ``sent`` with the
transport's message id. A second attempt for the same key finds the row and sends nothing.
A row left in ``sending`` by a crash is the one case where nobody knows whether the
provider got it; ``resolve_interrupted_sends`` asks the transport when it can tell and
otherwise fails the row visibly rather than risk a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Select, Update, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aftercare.storage.insert_if_absent import insert_if_absent
from aftercare.storage.schema import OutboxEmailRow, OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewOutboxEmail:
    idempotency_key: str
    inbox_event_id: int | None
    kind: str
    recipient: str
    sender: str
    subject: str
    message_id: str
    mime: bytes
    explanation: dict[str, Any]
    status: OutboxStatus = OutboxStatus.PENDING
    # Not sent before this (a delay notice waits for the customer's daytime).
    not_before: datetime | None = None


@dataclass(frozen=True)
class ClaimedEmail:
    outbox_id: int
    idempotency_key: str
    kind: str
    recipient: str
    sender: str
    message_id: str
    mime: bytes
    attempts: int


def key_exists(session: Session, idempotency_key: str) -> bool:
    return (
        session.scalar(
            select(func.count()).where(OutboxEmailRow.idempotency_key == idempotency_key)
        )
        > 0
    )


@cache
def _existing_keys() -> Select[Any]:
    return select(OutboxEmailRow.idempotency_key).where(
        OutboxEmailRow.idempotency_key.in_(bindparam("keys", expanding=True))
    )


def existing_keys(connection: Connection, keys: Collection[str]) -> set[str]:
    """Which of these idempotency keys already have an email (one query for a batch)."""
    if not keys:
        return set()
    rows = connection.execute(_existing_keys(), {"keys": list(keys)})
    return {key for (key,) in rows}


def _row(email: NewOutboxEmail, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": email.idempotency_key,
        "inbox_event_id": email.inbox_event_id,
        "kind": email.kind,
        "recipient": email.recipient,
        "sender": email.sender,
        "subject": email.subject,
        "message_id": email.message_id,
        "mime": email.mime,
        "explanation": email.explanation,
        "status": email.status.value,
        "attempts": 0,
        "next_attempt_at": email.not_before or now,
        "created_at": now,
    }


def add_email(session: Session, email: NewOutboxEmail, now: datetime) -> int | None:
    """The new row's id, or ``None`` when an email with that key exists (nothing added)."""
    return insert_if_absent(
        session,
        OutboxEmailRow.__table__,  # type: ignore[arg-type]
        _row(email, now),
        ["idempotency_key"],
    )


@cache
def _add_emails(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = OutboxEmailRow.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.idempotency_key)
    )


def add_emails(session: Session, emails: Sequence[NewOutboxEmail], now: datetime) -> set[str]:
    """Insert many emails at once; the keys that were new (the others existed already)."""
    if not emails:
        return set()
    connection = session.connection()
    result = connection.execute(
        _add_emails(connection.dialect.name), [_row(e, now) for e in emails]
    )
    return {key for (key,) in result}


def _due(now: datetime):  # noqa: ANN202 - a SQL expression
    return and_(
        OutboxEmailRow.status == OutboxStatus.PENDING, OutboxEmailRow.next_attempt_at <= now
    )


def any_due(session: Session, *, now: datetime) -> bool:
    return session.scalar(select(OutboxEmailRow.id).where(_due(now)).limit(1)) is not None


def oldest_due_since(session: Session, *, now: datetime) -> datetime | None:
    """Since when the longest-waiting due email has been due; ``None`` when none is."""
    since = session.scalar(select(func.min(OutboxEmailRow.next_attempt_at)).where(_due(now)))
    return since  # ``min`` keeps the column's type: an aware UTC datetime


def claim_due_emails(session: Session, *, limit: int, now: datetime) -> list[ClaimedEmail]:
    """Take up to ``limit`` due ``pending`` emails and mark them ``sending``."""
    candidates = (
        select(OutboxEmailRow.id)
        .where(_due(now))
        .order_by(OutboxEmailRow.next_attempt_at, OutboxEmailRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(OutboxEmailRow)
        .where(OutboxEmailRow.id.in_(candidates.scalar_subquery()))
        # ``transport`` is set again when the email is handed over (``mark_handed``): a claimed
        # email without one never left this process.
        .values(
            status=OutboxStatus.SENDING,
            claimed_at=now,
            attempts=OutboxEmailRow.attempts + 1,
            transport=None,
        )
        .returning(
            OutboxEmailRow.id,
            OutboxEmailRow.idempotency_key,
            OutboxEmailRow.kind,
            OutboxEmailRow.recipient,
            OutboxEmailRow.sender,
            OutboxEmailRow.message_id,
            OutboxEmailRow.mime,
            OutboxEmailRow.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    rows = sorted(session.connection().execute(stmt).all(), key=lambda r: r.id)
    return [_claimed(r) for r in rows]


def renew_claims(
    session: Session, outbox_ids: Collection[int], claimed_at: datetime, now: datetime
) -> set[int]:
    """Extend this drainer's claim on these emails; the ids that are still this drainer's
    (an email settled or reclaimed meanwhile by someone else is left alone)."""
    if not outbox_ids:
        return set()
    result = session.connection().execute(
        update(OutboxEmailRow)
        .where(
            OutboxEmailRow.id.in_(list(outbox_ids)),
            OutboxEmailRow.status == OutboxStatus.SENDING,
            OutboxEmailRow.claimed_at == claimed_at,
        )
        .values(claimed_at=now)
        .returning(OutboxEmailRow.id)
    )
    return {outbox_id for (outbox_id,) in result}


def _claimed(r: Any) -> ClaimedEmail:
    """A claimed email from a row or a RETURNING tuple (both name the columns alike)."""
    return ClaimedEmail(
        outbox_id=r.id,
        idempotency_key=r.idempotency_key,
        kind=r.kind,
        recipient=r.recipient,
        sender=r.sender,
        message_id=r.message_id,
        mime=r.mime,
        attempts=r.attempts,
    )


@cache
def _settle(names: tuple[str, ...]) -> Update:
    # Only a row still in ``sending`` may change: a late writer cannot undo a result.
    columns = OutboxEmailRow.__table__.c
    return (
        update(OutboxEmailRow)
        .where(OutboxEmailRow.id == bindparam("row_id"))
        .where(OutboxEmailRow.status == OutboxStatus.SENDING)
        .values({name: bindparam(f"new_{name}", type_=columns[name].type) for name in names})
    )


def _set(session: Session, outbox_id: int, **values: Any) -> None:
    result = session.connection().execute(
        _settle(tuple(sorted(values))),
        {"row_id": outbox_id, **{f"new_{name}": value for name, value in values.items()}},
    )
    if result.rowcount == 0:
        # Someone settled it first (an operator, another drainer); say so rather than lose it.
        log.warning(
            "outbox result not recorded: the email was no longer sending",
            extra={"outbox_id": outbox_id, "status": str(values.get("status"))},
        )


def mark_sent(
    session: Session, outbox_id: int, *, transport: str, transport_message_id: str, now: datetime
) -> None:
    _set(
        session,
        outbox_id,
        status=OutboxStatus.SENT,
        transport=transport,
        transport_message_id=transport_message_id,
        sent_at=now,
        last_error=None,
    )


def mark_sent_many(
    session: Session, sent: Sequence[tuple[int, str]], *, transport: str, now: datetime
) -> None:
    """Record many sends at once: (outbox id, transport message id) each."""
    if not sent:
        return
    names = ("last_error", "sent_at", "status", "transport", "transport_message_id")
    result = session.connection().execute(
        _settle(names),
        [
            {
                "row_id": outbox_id,
                "new_last_error": None,
                "new_sent_at": now,
                "new_status": OutboxStatus.SENT,
                "new_transport": transport,
                "new_transport_message_id": transport_id,
            }
            for outbox_id, transport_id in sent
        ],
    )
    if result.rowcount != len(sent):
        log.warning(
            "outbox results not all recorded: some emails were no longer sending",
            extra={"recorded": result.rowcount, "sent": len(sent)},
        )


def mark_failed(session: Session, outbox_id: int, *, transport: str, error: str) -> None:
    """Permanent: retrying cannot help (rejected message or address)."""
    _set(
        session, outbox_id, status=OutboxStatus.FAILED, transport=transport, last_error=error[:4000]
    )


def mark_retry(
    session: Session, outbox_id: int, *, transport: str, error: str, retry_at: datetime | None
) -> None:
    """Transient: try again at ``retry_at``; ``dead`` when attempts are used up (None)."""
    if retry_at is None:
        _set(
            session,
            outbox_id,
            status=OutboxStatus.DEAD,
            transport=transport,
            last_error=error[:4000],
        )
    else:
        _set(
            session,
            outbox_id,
            status=OutboxStatus.PENDING,
            transport=transport,
            last_error=error[:4000],
            next_attempt_at=retry_at,
        )


def mark_handed(
    session: Session,
    outbox_ids: Collection[int],
    *,
    transport: str,
    claimed_at: datetime,
    now: datetime,
) -> set[int]:
    """These emails, claimed at ``claimed_at``, are about to be handed to ``transport``;
    the ids that are still this drainer's, which alone it may send.

    The hand-over restarts the claim (``claimed_at = now``): an email in the transport's
    hands is this drainer's for one more claim timeout, longer than any single call to the
    transport may last (``settings.claim_timeout_seconds``), so no other drainer takes it
    for interrupted while it is on its way. An email another drainer took meanwhile (this
    one was too slow) is left to that one: sending it here too could deliver it twice.
    """
    if not outbox_ids:
        return set()
    result = session.connection().execute(
        update(OutboxEmailRow)
        .where(
            OutboxEmailRow.id.in_(list(outbox_ids)),
            OutboxEmailRow.status == OutboxStatus.SENDING,
            OutboxEmailRow.claimed_at == claimed_at,
        )
        .values(transport=transport, claimed_at=now)
        .returning(OutboxEmailRow.id)
    )
    return {outbox_id for (outbox_id,) in result}


def release_unhanded(session: Session, *, now: datetime, claim_timeout: timedelta) -> int:
    """Claims of a dead drainer on emails it never handed to a transport: due again now.

    Nothing of these can have reached the customer, so sending them again is safe.
    """
    result = session.connection().execute(
        update(OutboxEmailRow)
        .where(
            OutboxEmailRow.status == OutboxStatus.SENDING,
            OutboxEmailRow.transport.is_(None),
            OutboxEmailRow.claimed_at <= now - claim_timeout,
        )
        .values(status=OutboxStatus.PENDING, next_attempt_at=now, claimed_at=None)
    )
    return result.rowcount


def interrupted_sends(
    session: Session, *, now: datetime, claim_timeout: timedelta
) -> list[ClaimedEmail]:
    """Emails a dead drainer had handed to a transport without recording the outcome."""
    rows = session.scalars(
        select(OutboxEmailRow).where(
            and_(
                OutboxEmailRow.status == OutboxStatus.SENDING,
                OutboxEmailRow.transport.is_not(None),
                OutboxEmailRow.claimed_at <= now - claim_timeout,
            )
        )
    ).all()
    return [_claimed(r) for r in rows]


def list_emails(
    session: Session, *, status: str | None = None, limit: int = 100
) -> list[OutboxEmailRow]:
    query = select(OutboxEmailRow).order_by(OutboxEmailRow.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxEmailRow.status == status)
    return list(session.scalars(query).all())


def requeue(session: Session, outbox_id: int, now: datetime) -> bool:
    """An operator's decision to try a failed or dead email again."""
    result = session.connection().execute(
        update(OutboxEmailRow)
        .where(
            OutboxEmailRow.id == outbox_id,
            OutboxEmailRow.status.in_([OutboxStatus.FAILED, OutboxStatus.DEAD]),
            # Emptied by an erasure or the retention purge: there is nothing left to send.
            func.length(OutboxEmailRow.mime) > 0,
        )
        .values(status=OutboxStatus.PENDING, next_attempt_at=now, attempts=0)
    )
    return result.rowcount == 1


def count_by_status(session: Session) -> dict[str, int]:
    rows = (
        session.connection()
        .execute(select(OutboxEmailRow.status, func.count()).group_by(OutboxEmailRow.status))
        .all()
    )
    return {status: count for status, count in rows}
