"""What the fault-injection tests and ``bench/chaos.py`` share: signed store deliveries,
a transport that records what it accepted, and the counts every scenario must keep at 0."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import build_pipeline, drain, receive_event
from aftercare.drain.recovery import recover_after_crash
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.database import session_factory
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow, OutboxStatus
from aftercare.transports import OutgoingMessage, Transport

ROOT = Path(__file__).resolve().parents[2]
SHOPIFY_SECRET = "chaos-shopify-secret"
ORDER_SAMPLE = json.loads(
    (ROOT / "tests" / "fixtures" / "shopify" / "orders_create.json").read_text()
)


def shopify_order(number: int) -> bytes:
    """A distinct, paid Shopify ``orders/create`` body from the official sample."""
    order = {
        **ORDER_SAMPLE,
        "id": ORDER_SAMPLE["id"] + number,
        "name": f"#{10_000 + number}",
        "order_number": 10_000 + number,
        "financial_status": "paid",
        "cancelled_at": None,
    }
    return json.dumps(order).encode()


def shopify_headers(body: bytes, event_id: str, secret: str = SHOPIFY_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": "fern-and-field.myshopify.com",
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": f"webhook-{event_id}",
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2026-11-16T09:30:00.000000Z",
    }


class RecordingTransport:
    """The real transport, plus a line in ``log`` for every email it accepted.

    The line is written (and flushed) right after the transport returns and before
    ``on_accept`` runs, which is where a crash test may kill the process: the log then
    holds exactly what reached the customer, whatever the outbox recorded.
    """

    def __init__(
        self, inner: Transport, log: Path, on_accept: Callable[[], None] | None = None
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.confirms_sends = getattr(inner, "confirms_sends", False)
        self.log = log
        self.on_accept = on_accept
        if hasattr(inner, "send_many"):
            self.send_many = self._send_many

    def _accepted(self, messages: Sequence[OutgoingMessage]) -> None:
        """Log every accepted message first, then pass each checkpoint: a transport that
        took a whole group took it before any crash could strike."""
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, "".join(f"{m.idempotency_key}\n" for m in messages).encode())
        finally:
            os.close(fd)
        for _ in messages:
            if self.on_accept is not None:
                self.on_accept()

    def send(self, message: OutgoingMessage) -> str:
        result = self.inner.send(message)
        self._accepted([message])
        return result

    def _send_many(self, messages: Sequence[OutgoingMessage]) -> list[str | BaseException]:
        outcomes = self.inner.send_many(messages)  # type: ignore[attr-defined]
        self._accepted([m for m, o in zip(messages, outcomes, strict=True) if isinstance(o, str)])
        return outcomes

    def already_sent(self, message: OutgoingMessage) -> bool | None:
        return self.inner.already_sent(message)


@dataclass(frozen=True)
class Tally:
    """What a scenario did; every field but ``acknowledged``/``emails`` must read 0."""

    acknowledged: int  # orders stored in the inbox
    emails: int  # distinct emails that reached the transport
    # Acknowledged orders whose confirmation never reached the transport and that nothing
    # flags for a person: lost silently.
    lost: int
    duplicated: int  # emails the transport accepted more than once
    unsent: int  # outbox rows not sent after the restart (pending, failed, dead)
    # Handed to a transport that cannot tell whether it took them (SES) when the process
    # died: failed with what to check, for a person; some reached the customer, some not.
    needs_a_person: int


def tally(engine: Engine, sends_log: Path) -> Tally:
    keys = Counter(sends_log.read_text().split()) if sends_log.exists() else Counter()
    with Session(engine) as s:
        orders = s.scalars(
            select(InboxEventRow.source_event_id).where(InboxEventRow.status != InboxStatus.INVALID)
        ).all()
        rows = s.scalars(select(OutboxEmailRow)).all()
    confirmations = {r.idempotency_key for r in rows if r.kind == "order_confirmation"}
    unsent = [r for r in rows if r.status not in (OutboxStatus.SENT, OutboxStatus.SKIPPED)]
    unknown = [r for r in unsent if "may or may not have gone out" in (r.last_error or "")]
    flagged = {r.idempotency_key for r in unknown}
    return Tally(
        acknowledged=len(orders),
        emails=len(keys),
        lost=len(orders) - len(confirmations & (set(keys) | flagged)),
        duplicated=sum(1 for n in keys.values() if n > 1),
        unsent=len(unsent) - len(unknown),
        needs_a_person=len(unknown),
    )


ORDERS = 60


def crash_settings(database_url: str, tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        drain_batch_size=20,
        _env_file=None,
        **changes,
    )


def store_orders(settings: Settings, engine: Engine, count: int = ORDERS) -> None:
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine))
    for number in range(count):
        receive_event(
            pipeline,
            orders.placed(
                f"evt-{number}",
                order=orders.order(external_id=f"o-{number}", number=f"#{number}"),
            ),
        )


# What each killed drain printed (its logs), for the check that no customer data is in them.
CRASH_OUTPUT: list[bytes] = []


def crash(point: str, after: int, settings: Settings, sends: Path) -> int:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")},
        "PYTHONPATH": str(ROOT),
        "AFTERCARE_DATABASE_URL": settings.database_url,
        "AFTERCARE_OUTBOX_DIR": str(settings.outbox_dir),
        "AFTERCARE_DRAIN_BATCH_SIZE": str(settings.drain_batch_size),
        "AFTERCARE_TRANSPORT": settings.transport.value,
        "AFTERCARE_SES__ENDPOINT_URL": settings.ses.endpoint_url or "",
        "AFTERCARE_SES__REGION": settings.ses.region,
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.chaos.crashing_drain", point, str(after), str(sends)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    CRASH_OUTPUT.append(result.stdout + result.stderr)
    return result.returncode


def restart(settings: Settings, engine: Engine, sends: Path) -> None:
    """What ``aftercare serve`` does when it starts after a crash, then its drain."""
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine))
    pipeline = replace(pipeline, transport=RecordingTransport(pipeline.transport, sends))
    recover_after_crash(pipeline)
    drain(pipeline)


def plain_drain(settings: Settings, engine: Engine, sends: Path) -> None:
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine))
    drain(replace(pipeline, transport=RecordingTransport(pipeline.transport, sends)))


def run_scenario(
    point: str,
    after: int,
    settings: Settings,
    engine: Engine,
    sends: Path,
    count: int = ORDERS,
    recover: bool = True,
) -> tuple[int, Tally]:
    """Store ``count`` orders, kill a drain at ``point``, restart, and count.

    ``recover=False`` is the baseline: the restarted process only drains, as before
    ``aftercare serve`` recovered what a dead drain held.
    """
    store_orders(settings, engine, count)
    code = crash(point, after, settings, sends)
    if recover:
        restart(settings, engine, sends)
    else:
        plain_drain(settings, engine, sends)
    return code, tally(engine, sends)
