"""Retention: raw deliveries and rendered messages are emptied once they are old enough.

Only what is finished is purged: a delivery processed, ignored or invalid, an email sent,
failed, dead or skipped. Pending and in-flight work, and dead deliveries an operator may
still retry, keep everything. Rows, statuses and idempotency keys stay, so nothing is sent
twice after a purge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, func, null, or_, update
from sqlalchemy.orm import Session, sessionmaker

from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow, OutboxStatus

_FINISHED_DELIVERIES = (InboxStatus.PROCESSED, InboxStatus.IGNORED, InboxStatus.INVALID)
_FINISHED_EMAILS = (
    OutboxStatus.SENT,
    OutboxStatus.FAILED,
    OutboxStatus.DEAD,
    OutboxStatus.SKIPPED,
)


@dataclass(frozen=True)
class Purged:
    deliveries: int
    emails: int


def purge_expired(sessions: sessionmaker[Session], now: datetime, retention: timedelta) -> Purged:
    """Empty the bodies, headers and events of finished deliveries received before
    ``now - retention``, and the MIME of finished emails written before it."""
    cutoff = now - retention
    with sessions.begin() as session:
        deliveries = session.execute(
            update(InboxEventRow)
            .where(
                InboxEventRow.status.in_(_FINISHED_DELIVERIES),
                InboxEventRow.received_at < cutoff,
                or_(
                    InboxEventRow.raw_body.is_not(None),
                    InboxEventRow.raw_headers.is_not(None),
                    func.length(cast(InboxEventRow.payload, Text)) > 2,  # not "{}"
                ),
            )
            .values(raw_body=None, raw_headers=null(), payload={})
            .execution_options(synchronize_session=False)
        ).rowcount
        emails = session.execute(
            update(OutboxEmailRow)
            .where(
                OutboxEmailRow.status.in_(_FINISHED_EMAILS),
                OutboxEmailRow.created_at < cutoff,
                func.length(OutboxEmailRow.mime) > 0,
            )
            .values(mime=b"")
            .execution_options(synchronize_session=False)
        ).rowcount
    return Purged(deliveries=deliveries, emails=emails)
