"""What customers answered through their emails' action links (``action_links.py``).

One row per email, action and subject (``customer_actions``' unique key): the first click
inserts it, every later one updates its value, last time and count in the same statement
(``INSERT … ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL), so two clicks at once never
make two rows. Nothing here holds more than the email did: the email's key and kind, the
order's store id, the answer, and the customer's own comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aftercare.storage.schema import CustomerActionRow

_actions = CustomerActionRow.__table__
_UNIQUE = ["email_key", "action", "subject"]

# What a comment keeps: a few paragraphs (the page's text box says so, with maxlength).
MAX_COMMENT_CHARS = 1000


@dataclass(frozen=True)
class CustomerAction:
    """One recorded answer, as it stands after its latest click."""

    id: int
    email_key: str
    email_kind: str
    order_source: str | None
    order_external_id: str | None
    action: str
    subject: str
    value: str
    comment: str | None
    first_clicked_at: datetime
    last_clicked_at: datetime
    clicks: int
    confirmed_at: datetime | None
    forwarded_at: datetime | None
    forward_attempts: int
    forward_error: str | None
    noted_at: datetime | None
    note_attempts: int
    note_error: str | None


_COLUMNS = [getattr(_actions.c, name) for name in CustomerAction.__dataclass_fields__]


def record_action(
    session: Session,
    *,
    email_key: str,
    email_kind: str,
    order: tuple[str, str] | None,
    action: str,
    subject: str,
    value: str,
    now: datetime,
    comment: str | None = None,
    confirmed: bool = False,
    over_confirmed: bool = True,
) -> CustomerAction | None:
    """Record one click: a new row, or the existing one updated (value, last time, count).

    ``comment``: the customer's words, cut to ``MAX_COMMENT_CHARS``; None keeps an earlier
    one. ``confirmed``: the customer confirmed a choice with consequences (``confirmed_at``
    is set; kept from the first confirmation while the value stays). ``over_confirmed``:
    False for what a GET records (a mail scanner may open the "keep waiting" link after the
    customer confirmed a refund): a confirmed answer is then left as it is, and None is
    returned. When the value, the comment or the confirmation changes, the row is due to be
    forwarded and noted on the order again (``forwarded_at`` and ``noted_at`` back to NULL).
    """
    if comment is not None:
        comment = comment.strip()[:MAX_COMMENT_CHARS] or None
    values: dict[str, Any] = {
        "email_key": email_key,
        "email_kind": email_kind,
        "order_source": order[0] if order else None,
        "order_external_id": order[1] if order else None,
        "action": action,
        "subject": subject,
        "value": value,
        "comment": comment,
        "first_clicked_at": now,
        "last_clicked_at": now,
        "clicks": 1,
        "confirmed_at": now if confirmed else None,
        "forward_attempts": 0,
        "note_attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql.insert(_actions).values(**values)
    elif dialect == "sqlite":
        insert = sqlite.insert(_actions).values(**values)
    else:  # pragma: no cover - guarded by the supported URLs
        raise NotImplementedError(f"database {dialect!r} is not supported")
    new, old = insert.excluded, _actions.c
    same_value = old.value == new.value
    confirmed_at = case(
        (and_(same_value, old.confirmed_at.is_not(None)), old.confirmed_at), else_=new.confirmed_at
    )
    changed = or_(
        ~same_value,
        and_(new.comment.is_not(None), or_(old.comment.is_(None), old.comment != new.comment)),
        and_(new.confirmed_at.is_not(None), old.confirmed_at.is_(None)),
    )
    upsert = insert.on_conflict_do_update(
        index_elements=_UNIQUE,
        set_={
            "value": new.value,
            "comment": func.coalesce(new.comment, old.comment),
            "last_clicked_at": new.last_clicked_at,
            "clicks": old.clicks + 1,
            "confirmed_at": confirmed_at,
            "forwarded_at": case((changed, null()), else_=old.forwarded_at),
            "forward_attempts": case((changed, 0), else_=old.forward_attempts),
            "forward_after": case((changed, null()), else_=old.forward_after),
            "forward_error": case((changed, null()), else_=old.forward_error),
            "noted_at": case((changed, null()), else_=old.noted_at),
            "note_attempts": case((changed, 0), else_=old.note_attempts),
            "note_after": case((changed, null()), else_=old.note_after),
            "note_error": case((changed, null()), else_=old.note_error),
        },
        where=None if over_confirmed else old.confirmed_at.is_(None),
    ).returning(*_COLUMNS)
    row = session.connection().execute(upsert).one_or_none()
    return None if row is None else CustomerAction(*row)


def confirm_action(
    session: Session, email_key: str, action: str, subject: str, value: str, now: datetime
) -> bool:
    """Mark a recorded answer confirmed, if it is still ``value`` and not confirmed yet."""
    done = session.connection().execute(
        update(_actions)
        .where(
            _actions.c.email_key == email_key,
            _actions.c.action == action,
            _actions.c.subject == subject,
            _actions.c.value == value,
            _actions.c.confirmed_at.is_(None),
        )
        .values(
            confirmed_at=now,
            forwarded_at=None,
            forward_attempts=0,
            forward_error=None,
            forward_after=None,
            noted_at=None,
            note_attempts=0,
            note_error=None,
            note_after=None,
        )
    )
    return done.rowcount == 1


def action_of(session: Session, email_key: str, action: str, subject: str) -> CustomerAction | None:
    """The answer recorded for one email, action and subject, if any."""
    row = (
        session.connection()
        .execute(
            select(*_COLUMNS).where(
                _actions.c.email_key == email_key,
                _actions.c.action == action,
                _actions.c.subject == subject,
            )
        )
        .one_or_none()
    )
    return None if row is None else CustomerAction(*row)


def actions_since(
    session: Session, since: datetime, *, action: str | None = None
) -> list[CustomerAction]:
    """The answers clicked (first or again) at or after ``since``, oldest click first."""
    query = select(*_COLUMNS).where(_actions.c.last_clicked_at >= since)
    if action is not None:
        query = query.where(_actions.c.action == action)
    rows = session.connection().execute(query.order_by(_actions.c.last_clicked_at, _actions.c.id))
    return [CustomerAction(*row) for row in rows]


def faq_votes(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (email kind, snippet): how many said its answer helped, and how many not. One
    grouped query, read once per drain with the learned rates."""
    rows = session.connection().execute(
        select(_actions.c.email_kind, _actions.c.subject, _actions.c.value, func.count())
        .where(_actions.c.action == "faq_helpful")
        .group_by(_actions.c.email_kind, _actions.c.subject, _actions.c.value)
    )
    votes: dict[tuple[str, str], list[int]] = {}
    for kind, snippet, value, count in rows:
        tally = votes.setdefault((kind, snippet), [0, 0])
        tally[0 if value == "yes" else 1] += count
    return {key: (yes, no) for key, (yes, no) in votes.items()}
