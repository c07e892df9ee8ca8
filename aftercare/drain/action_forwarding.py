"""Customers' answers told to the store: each recorded action as a signed webhook, retried.

A rating, an FAQ vote or a delay choice is worth little if it stays in Aftercare's database:
the store's helpdesk or back office has to act on "cancel and refund my order". So every
recorded action is POSTed to the store's endpoint (``AFTERCARE_ACTION_WEBHOOK_URL``) as
JSON, signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<HMAC-SHA256>`` with the ``whsec_`` secret,
https://www.standardwebhooks.com), so any Standard Webhooks library verifies it. A choice
with consequences goes only once the customer confirmed it. An answer the customer changes
is sent again with a new ``webhook-id``; a retry of the same answer keeps its id, so the
store can drop duplicates. Failures are retried with backoff, at most ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from aftercare.drain.pipeline import Pipeline
from aftercare.storage.schema import CustomerActionRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
EVENT_TYPE = "aftercare.customer_action"
# Choices a store acts on (money, a parcel): only once the customer confirmed on the page.
NEEDS_CONFIRMATION = {
    ("delay_choice", "refund"),
    ("delay_choice", "reship"),
    ("delay_choice", "ship_ready"),
}
BATCH = 100


@dataclass(frozen=True)
class ForwardReport:
    sent: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failed try, at most 6 hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=6))


def forward_actions(
    sessions: sessionmaker[Session],
    url: str,
    secret: str,
    now: datetime,
    post: Callable[[str, bytes, dict[str, str]], int] | None = None,
) -> ForwardReport:
    """POST every due action to ``url``; what was sent and what failed (retried later)."""
    post = post or _post
    signer = Webhook(secret)
    sent = failed = 0
    with sessions.begin() as session:
        due = list(session.scalars(_due(now).limit(BATCH)))
        for row in due:
            # The signature's time is the attempt's, on the wall clock: receivers refuse
            # deliveries signed minutes ago as replays.
            signed_at = datetime.now(UTC)
            body = json.dumps(payload(row, signed_at), separators=(",", ":")).encode()
            message_id = _message_id(row)
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(signed_at.timestamp())),
                "webhook-signature": signer.sign(message_id, signed_at, body),
            }
            try:
                status = post(url, body, headers)
                error = None if 200 <= status < 300 else f"the store answered HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            row.forward_attempts += 1
            if error is None:
                row.forwarded_at, row.forward_error, row.forward_after = now, None, None
                sent += 1
            else:
                row.forward_error = error
                row.forward_after = now + backoff(row.forward_attempts)
                failed += 1
                log.warning(
                    "customer action not forwarded",
                    extra={"action_id": row.id, "attempts": row.forward_attempts},
                )
    return ForwardReport(sent, failed)


def payload(row: CustomerActionRow, now: datetime) -> dict[str, Any]:
    """The webhook's JSON: what the customer answered, on which email of which order.
    Nothing the email did not already hold (no address: the store has the order)."""
    return {
        "type": EVENT_TYPE,
        "timestamp": now.isoformat(),
        "data": {
            "action": row.action,
            "subject": row.subject or None,
            "value": row.value,
            "comment": row.comment,
            "email": {"kind": row.email_kind, "key": row.email_key},
            "order": (
                {"source": row.order_source, "id": row.order_external_id}
                if row.order_external_id
                else None
            ),
            "first_clicked_at": row.first_clicked_at.isoformat(),
            "last_clicked_at": row.last_clicked_at.isoformat(),
            "clicks": row.clicks,
            "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
        },
    }


def _due_conditions(now: datetime) -> tuple:
    unconfirmed = or_(
        *(
            (CustomerActionRow.action == action) & (CustomerActionRow.value == value)
            for action, value in NEEDS_CONFIRMATION
        )
    )
    return (
        CustomerActionRow.forwarded_at.is_(None),
        CustomerActionRow.forward_attempts < MAX_ATTEMPTS,
        or_(CustomerActionRow.forward_after.is_(None), CustomerActionRow.forward_after <= now),
        or_(~unconfirmed, CustomerActionRow.confirmed_at.is_not(None)),
    )


def _due(now: datetime):  # noqa: ANN202 - a Select
    # Two drains at once (workers on several machines) forward different rows.
    return (
        select(CustomerActionRow)
        .where(*_due_conditions(now))
        .order_by(CustomerActionRow.id)
        .with_for_update(skip_locked=True)
    )


def any_due(session: Session, now: datetime) -> bool:
    """Is an answer waiting to be told to the store? One cheap query, for the safety net."""
    found = select(CustomerActionRow.id).where(*_due_conditions(now)).limit(1)
    return session.scalar(found) is not None


def forward_due_actions(pipeline: Pipeline) -> ForwardReport:
    """The drain's step: forward what is due, when the store configured an endpoint."""
    settings = pipeline.settings
    if settings.action_webhook_url is None or settings.action_webhook_secret is None:
        return ForwardReport()
    return forward_actions(
        pipeline.sessions,
        str(settings.action_webhook_url),
        settings.action_webhook_secret.get_secret_value(),
        pipeline.clock(),
    )


def _message_id(row: CustomerActionRow) -> str:
    """The same for every retry of one answer, new when the answer changes (value,
    comment, confirmation): what a store's receiver drops duplicates by."""
    confirmed = row.confirmed_at.isoformat() if row.confirmed_at else ""
    answer = f"{row.value}|{row.comment or ''}|{confirmed}"
    return f"act_{row.id}_{hashlib.sha256(answer.encode()).hexdigest()[:12]}"


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers=headers, timeout=10.0).status_code
