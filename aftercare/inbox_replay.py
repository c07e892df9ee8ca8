"""An operator's second chance for a delivery that failed: fix it, replay it, lose nothing.

An ``invalid`` delivery (authentic but malformed) is parsed again, from its stored raw body
or from a corrected body the operator supplies, and its events enter the inbox like a new
delivery; a ``dead`` event (processing failed every retry) starts over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from aftercare.errors import AftercareError
from aftercare.storage import inbox
from aftercare.storage.schema import InboxStatus
from aftercare.stores import Delivery, MalformedPayloadError, StoreAdapter
from aftercare.webhook_receiver import store_delivery


class ReplayError(AftercareError):
    """The event cannot be replayed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Replayed:
    inbox_id: int
    new_events: int
    duplicates: int
    message: str


def replay(
    sessions: sessionmaker[Session],
    adapters: Mapping[str, StoreAdapter],
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
                    f"event {inbox_id} was parsed fine and failed later ({row.last_error}); "
                    "replay it without --body once the cause is fixed"
                )
            inbox.retry_now(session, inbox_id, now)
            return Replayed(inbox_id, 1, 0, "queued again; the next drain processes it")
        if row.status != InboxStatus.INVALID:
            raise ReplayError(
                f"event {inbox_id} is {row.status}; only invalid or dead events can be replayed"
            )
        adapter = adapters.get(row.source)
        if adapter is None:
            raise ReplayError(f"no store adapter for source {row.source!r} is configured")
        delivery = Delivery(
            headers=dict(row.raw_headers or {}),
            body=corrected_body if corrected_body is not None else (row.raw_body or b""),
            received_at=now,
        )
        try:
            parsed = adapter.parse(delivery)
        except MalformedPayloadError as exc:
            raise ReplayError(f"still not valid: {exc}") from exc
        note = "replayed" + (" with a corrected body" if corrected_body is not None else "")
        inbox.retire_for_replay(session, inbox_id, note)
        new, duplicates = store_delivery(session, parsed, delivery)
    return Replayed(inbox_id, new, duplicates, f"{note}: {new} new events queued")
