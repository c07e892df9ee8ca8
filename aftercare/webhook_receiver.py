"""The webhook receiver: verify, store, acknowledge — and only then process.

A store retries a delivery it did not see acknowledged (Shopify: 8 tries over 4 hours) and
drops subscriptions that keep failing, so the receiver answers fast and only after the
delivery is safely in the inbox: a 2xx means "stored", never "seen". Processing happens in
the drain flow; the receiver just nudges it, and a scheduled drain catches anything a lost
nudge would have missed.

Answers: 200 stored (or duplicate, or a topic Aftercare ignores, or a ping); 401 forged or
stale signature (nothing stored); 400/422 authentic but malformed (stored as ``invalid`` for
an operator to fix and replay); 413 too large; 503 database unavailable (the store retries).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aftercare.storage import inbox
from aftercare.stores import (
    Delivery,
    DeliveryRejectedError,
    MalformedPayloadError,
    ParsedDelivery,
    StoreAdapter,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# What is kept of a delivery's headers: the store's own (topic, ids, signature, timestamps)
# and the content type; never cookies or authorization headers of a proxy in front.
_KEPT_HEADER_PREFIXES = ("x-shopify-", "x-wc-", "webhook-", "content-type", "user-agent")


@dataclass(frozen=True)
class Receiver:
    """What the routes need; built once by ``aftercare serve`` (or a test)."""

    sessions: sessionmaker[Session]
    adapters: Mapping[str, StoreAdapter]
    nudge: Callable[[], None]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class BodyTooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith(_KEPT_HEADER_PREFIXES)}


def _answer(http_status: int, **body: object) -> JSONResponse:
    return JSONResponse(body, status_code=http_status)


def store_delivery(session: Session, parsed: ParsedDelivery, delivery: Delivery) -> tuple[int, int]:
    """Write a parsed delivery's events (or its ``ignored`` record) to the inbox.

    Returns (new, duplicate) counts. Insert-if-absent on (source, event id), so a store's
    retry of a delivery already stored changes nothing.
    """
    raw = inbox.RawDelivery(
        topic=parsed.topic, body=delivery.body, headers=kept_headers(delivery.headers)
    )
    if not parsed.events:
        result = inbox.record_unprocessable(
            session,
            source=parsed.source,
            delivery_id=parsed.delivery_id,
            raw=raw,
            status=inbox.InboxStatus.IGNORED,
            reason=parsed.ignored or "no event in this delivery",
            now=delivery.received_at,
        )
        return (0, 0) if result.duplicate else (1, 0)
    new = duplicate = 0
    for event in parsed.events:
        result = inbox.enqueue_event(session, event, delivery.received_at, raw=raw)
        if result.duplicate:
            duplicate += 1
        else:
            new += 1
    return new, duplicate


def _store_invalid(
    session: Session, adapter: StoreAdapter, delivery: Delivery, error: MalformedPayloadError
) -> None:
    try:
        delivery_id = adapter.delivery_id(delivery)
    except MalformedPayloadError:
        delivery_id = "body-sha256:" + hashlib.sha256(delivery.body).hexdigest()
    inbox.record_unprocessable(
        session,
        source=adapter.source,
        delivery_id=delivery_id,
        raw=inbox.RawDelivery(
            topic=None, body=delivery.body, headers=kept_headers(delivery.headers)
        ),
        status=inbox.InboxStatus.INVALID,
        reason=str(error),
        now=delivery.received_at,
    )


def build_app(receiver: Receiver) -> Starlette:
    async def healthz(_: Request) -> JSONResponse:
        def check() -> None:
            with receiver.sessions() as session:
                session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(check)
        except SQLAlchemyError:
            return _answer(503, status="unavailable", database="unreachable")
        return _answer(200, status="ok", database="ok", stores=sorted(receiver.adapters))

    async def webhook(request: Request) -> JSONResponse:
        store = request.path_params["store"]
        adapter = receiver.adapters.get(store)
        if adapter is None:
            known = ", ".join(sorted(receiver.adapters))
            return _answer(404, error=f"no store adapter {store!r}; use one of: {known}")
        try:
            body = await _read_body(request, receiver.max_body_bytes)
        except BodyTooLargeError:
            return _answer(413, error=f"body larger than {receiver.max_body_bytes} bytes")
        except ClientDisconnect:
            return _answer(400, error="client disconnected before the body arrived")
        delivery = Delivery(
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=receiver.clock(),
        )
        return await run_in_threadpool(_receive, adapter, delivery)

    def _receive(adapter: StoreAdapter, delivery: Delivery) -> JSONResponse:
        if adapter.is_ping(delivery):
            return _answer(200, ok=True, ping=True)
        try:
            adapter.verify(delivery)
        except DeliveryRejectedError as exc:
            log.warning(
                "webhook refused",
                extra={"store": adapter.source, "status": exc.status, "error": type(exc).__name__},
            )
            return _answer(exc.status, error=str(exc))
        try:
            try:
                parsed = adapter.parse(delivery)
            except MalformedPayloadError as exc:
                with receiver.sessions.begin() as session:
                    _store_invalid(session, adapter, delivery, exc)
                log.warning(
                    "webhook malformed, kept as invalid",
                    extra={"store": adapter.source, "status": exc.status},
                )
                return _answer(exc.status, error=str(exc), kept_for_inspection=True)
            with receiver.sessions.begin() as session:
                new, duplicate = store_delivery(session, parsed, delivery)
        except SQLAlchemyError as exc:
            # Never a 2xx for an event that is not stored: the store will retry.
            log.error(
                "webhook not stored: database unavailable",
                extra={"store": adapter.source, "error": type(exc).__name__},
            )
            return _answer(503, error="database unavailable; retry later")
        if new:
            receiver.nudge()
        log.info(
            "webhook stored",
            extra={
                "store": adapter.source,
                "topic": parsed.topic,
                "new": new,
                "duplicate": duplicate,
                "ignored": parsed.ignored is not None,
            },
        )
        return _answer(200, received=new, duplicate=duplicate, ignored=parsed.ignored)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/webhooks/{store}", webhook, methods=["POST"]),
        ]
    )
