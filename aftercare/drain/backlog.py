"""How far behind sending is: whether anything is due, and since when the oldest has been.

Two readers: a drain waiting for more work (is anything due? one cheap query) and
``GET /healthz`` (how long has the oldest due event or email waited?), so a store owner's
monitoring sees a stalled drain even while webhooks are still being acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from aftercare.drain.action_forwarding import any_due as actions_due
from aftercare.drain.order_notes import any_due as notes_due
from aftercare.storage import inbox, outbox


@dataclass(frozen=True)
class Backlog:
    """Since when the oldest due inbox event and outbox email have been due (None: none)."""

    oldest_event_due_since: datetime | None
    oldest_email_due_since: datetime | None

    def waited_seconds(self, now: datetime) -> tuple[float | None, float | None]:
        return tuple(  # type: ignore[return-value]
            None if since is None else max(0.0, (now - since).total_seconds())
            for since in (self.oldest_event_due_since, self.oldest_email_due_since)
        )


def work_is_due(
    sessions: sessionmaker[Session],
    claim_timeout: timedelta,
    now: datetime,
    forwarding: bool = False,
    noting: frozenset[str] = frozenset(),
) -> bool:
    """Is an event or an email due now (or, with ``forwarding``, a customer's answer to
    tell the store: ``drain/action_forwarding.py``; with ``noting``, the stores with API
    credentials, one to note on its order: ``drain/order_notes.py``)?"""
    with sessions() as session:
        return (
            inbox.any_due(session, now=now, claim_timeout=claim_timeout)
            or outbox.any_due(session, now=now)
            or (forwarding and actions_due(session, now))
            or notes_due(session, now, noting)
        )


def read_backlog(
    sessions: sessionmaker[Session], claim_timeout: timedelta, now: datetime
) -> Backlog:
    with sessions() as session:
        return Backlog(
            oldest_event_due_since=inbox.oldest_due_since(
                session, now=now, claim_timeout=claim_timeout
            ),
            oldest_email_due_since=outbox.oldest_due_since(session, now=now),
        )
