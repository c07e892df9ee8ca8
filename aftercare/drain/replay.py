"""An operator's second chance for an event that failed: fix it, replay it, lose nothing.

An ``invalid`` row (authentic but malformed) is processed again, from what was stored or
from a corrected body the operator supplies; a ``dead`` row (processing failed every retry)
starts over once its cause is fixed. Either way the drain treats it like a new arrival, and
the outbox's idempotency keys still stop any email that already went out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from aftercare.errors import AftercareError
from aftercare.events import OrderEvent
from aftercare.storage import inbox
from aftercare.storage.schema import InboxStatus


class ReplayError(AftercareError):
    """The event cannot be replayed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Replayed:
    inbox_id: int
    message: str


def replay(
    sessions: sessionmaker[Session],
    inbox_id: int,
    now: datetime,
    corrected_body: bytes | None = None,
) -> Replayed:
    with sessions.begin() as session:
        row = inbox.get(session, inbox_id)
        if row is None:
            raise ReplayError(f"no inbox event {inbox_id}; see `aftercare inbox list`")
        if row.status == InboxStatus.DEAD:
            if corrected_body is not None:
                raise ReplayError(
                    f"event {inbox_id} was read fine and failed later ({row.last_error}); "
                    "replay it without --body once that cause is fixed"
                )
            inbox.retry_now(session, inbox_id, now)
            return Replayed(inbox_id, "queued again")
        if row.status != InboxStatus.INVALID:
            raise ReplayError(
                f"event {inbox_id} is {row.status}; only invalid or dead events can be replayed"
            )
        if row.raw_body is not None:
            # A webhook delivery: the drain parses the (corrected) body with its store's adapter.
            inbox.requeue_invalid(session, inbox_id, now, raw_body=corrected_body)
        elif corrected_body is not None:
            inbox.requeue_invalid(session, inbox_id, now, payload=_event_json(corrected_body))
        else:
            raise ReplayError(
                f"event {inbox_id} was stored as an invalid normalized event; pass --body with "
                "the corrected event JSON"
            )
    fixed = " with the corrected body" if corrected_body is not None else ""
    return Replayed(inbox_id, f"queued again{fixed}")


def _event_json(body: bytes) -> dict:
    try:
        return OrderEvent.model_validate_json(body).model_dump(mode="json")
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ReplayError(f"the corrected body is not a valid order event: {exc}") from exc
