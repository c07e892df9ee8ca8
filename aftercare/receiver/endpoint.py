"""``POST /webhooks/{store}``: verify, store, acknowledge — and only then process.

A store retries a delivery it did not see acknowledged (Shopify: 8 tries over 4 hours) and
drops subscriptions that keep failing, so the endpoint answers fast and only after the
delivery is safely in the inbox: a 2xx means "stored", never "seen". The request path does
only what must happen before the answer — check the signature, derive the dedupe key, check
that the body is JSON with its identifying fields — and stores the raw delivery (group
commit, ``InboxWriter``). The drain flow parses it into order events; the endpoint just
nudges the drain, and a scheduled drain catches anything a lost nudge would have missed.

Answers: 200 stored (or duplicate, or a topic Aftercare ignores, or a ping); 401 forged or
stale signature (nothing stored); 400/422 authentic but malformed (stored as ``invalid`` for
an operator to fix and replay); 413 too large; 503 database unavailable (the store retries).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from aftercare.receiver.inbox_writer import InboxWriter
from aftercare.storage.database import DatabaseUnavailableError
from aftercare.storage.schema import InboxStatus
from aftercare.stores import (
    Delivery,
    DeliveryRejectedError,
    MalformedPayloadError,
    StoreAdapter,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Kept of every delivery's headers, whichever store sent it, besides the store's own
# (``StoreAdapter.kept_header_prefixes``); never cookies or authorization headers of a proxy
# in front.
COMMON_KEPT_HEADERS = ("content-type", "user-agent")

# The inbox ``kind`` of a stored delivery until the drain has parsed it into events.
DELIVERY_KIND = "delivery"

# Well inside Shopify's 5 s: past this the store is told to retry rather than left waiting.
STORE_TIMEOUT_SECONDS = 4.0


@dataclass(frozen=True)
class Receiver:
    """What the routes need; built once by ``build_receiver`` (or a test)."""

    sessions: sessionmaker[Session]
    writer: InboxWriter
    adapters: Mapping[str, StoreAdapter]
    nudge: Callable[[], None]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # For ``/healthz``: a claim older than this belongs to a drainer that died; sending is
    # "behind" once the oldest due event or email has waited longer than ``behind_after``.
    claim_timeout: timedelta = timedelta(minutes=10)
    behind_after: timedelta = timedelta(minutes=5)


class BodyTooLargeError(Exception):
    pass


class StoreTimeoutError(Exception):
    """The inbox did not confirm the write in time: answer 503, the store retries."""


def kept_headers(adapter: StoreAdapter, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery to ``adapter``: what its ``parse`` reads later."""
    prefixes = adapter.kept_header_prefixes + COMMON_KEPT_HEADERS
    return {k: v for k, v in headers.items() if k.startswith(prefixes)}


def delivery_row(
    adapter: StoreAdapter,
    delivery_id: str,
    delivery: Delivery,
    *,
    topic: str | None,
    status: InboxStatus = InboxStatus.PENDING,
    note: str | None = None,
) -> dict[str, object]:
    """The inbox row for a raw delivery to ``adapter`` (parsed into events later, by the drain)."""
    now = delivery.received_at
    finished = status is not InboxStatus.PENDING
    return {
        "source": adapter.source,
        "source_event_id": delivery_id[:200],
        "kind": status.value if finished else DELIVERY_KIND,
        "occurred_at": now,
        "received_at": now,
        "payload": {},
        "status": status.value,
        "attempts": 0,
        "last_error": note[:4000] if note else None,
        "next_attempt_at": now,
        "processed_at": now if finished else None,
        "topic": topic,
        "raw_body": delivery.body,
        "raw_headers": kept_headers(adapter, delivery.headers),
    }


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, object]


class WebhookEndpoint:
    """``POST /webhooks/{store}``: a plain ASGI app inside the Starlette app.

    Every microsecond of the event loop counts at the receiver's peak rate, so Starlette's
    per-request wrapping (``Request``, its body stream, ``JSONResponse``, one more exception
    layer) is left out: the body is read from ``receive`` and the JSON answer is sent in two
    messages. Routing, the 405 for other methods and the app's error middleware stay
    Starlette's.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._answer(scope, receive)
        body = orjson.dumps(answer.body)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-length", str(len(body)).encode("latin-1")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> _Answer:
        receiver = self.receiver
        name = scope["path_params"]["store"]
        adapter = receiver.adapters.get(name)
        if adapter is None:
            known = ", ".join(sorted(receiver.adapters))
            return _Answer(404, {"error": f"no store adapter {name!r}; use one of: {known}"})
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_body(receive, headers, receiver.max_body_bytes)
        except BodyTooLargeError:
            return _Answer(413, {"error": f"body larger than {receiver.max_body_bytes} bytes"})
        except ClientDisconnect:
            return _Answer(400, {"error": "client disconnected before the body arrived"})
        delivery = Delivery(headers=headers, body=body, received_at=receiver.clock())
        if adapter.is_ping(delivery):
            return _Answer(200, {"ok": True, "ping": True})
        try:
            adapter.verify(delivery)
        except DeliveryRejectedError as exc:
            log.warning(
                "webhook refused",
                extra={"store": adapter.source, "status": exc.status, "error": type(exc).__name__},
            )
            return _Answer(exc.status, {"error": str(exc)})
        try:
            try:
                accepted = adapter.accept(delivery)
            except MalformedPayloadError as exc:
                await self._store(_invalid_row(adapter, delivery, exc))
                log.warning(
                    "webhook malformed, kept as invalid",
                    extra={"store": adapter.source, "status": exc.status},
                )
                return _Answer(exc.status, {"error": str(exc), "kept_for_inspection": True})
            status = InboxStatus.IGNORED if accepted.ignored else InboxStatus.PENDING
            row = delivery_row(
                adapter,
                accepted.delivery_id,
                delivery,
                topic=accepted.topic,
                status=status,
                note=accepted.ignored,
            )
            new = await self._store(row)
        except (SQLAlchemyError, DatabaseUnavailableError, StoreTimeoutError) as exc:
            # Never a 2xx for a delivery that is not stored: the store will retry.
            log.error(
                "webhook not stored: database unavailable",
                extra={"store": adapter.source, "error": type(exc).__name__},
            )
            return _Answer(503, {"error": "database unavailable; retry later"})
        if new and not accepted.ignored:
            receiver.nudge()
        return _Answer(
            200, {"received": int(new), "duplicate": int(not new), "ignored": accepted.ignored}
        )

    async def _store(self, row: dict[str, object]) -> bool:
        """True when ``row`` was committed as new, False for a duplicate; only ever after the
        commit (``InboxWriter``)."""
        stored = self.receiver.writer.stored(row)
        # A timer, not ``asyncio.wait_for`` (a task per request in Python 3.11) or
        # ``asyncio.timeout`` (cancels the request's task): it only settles the future.
        timer = asyncio.get_running_loop().call_later(STORE_TIMEOUT_SECONDS, _give_up, stored)
        try:
            return await stored
        finally:
            timer.cancel()


def _give_up(stored: asyncio.Future[bool]) -> None:
    if not stored.done():
        stored.set_exception(StoreTimeoutError())


async def _read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _invalid_row(
    adapter: StoreAdapter, delivery: Delivery, error: MalformedPayloadError
) -> dict[str, object]:
    try:
        delivery_id = adapter.delivery_id(delivery)
    except MalformedPayloadError:
        delivery_id = "body-sha256:" + hashlib.sha256(delivery.body).hexdigest()
    return delivery_row(
        adapter,
        delivery_id,
        delivery,
        topic=None,
        status=InboxStatus.INVALID,
        note=str(error),
    )
