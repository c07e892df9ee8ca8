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
an operator to fix and replay); 413 too large; 431 or 400 a kept header too long or with
control characters (``HeaderRefusedError``, nothing stored); 422 a value the database
refused (``InboxRefusedError``, nothing stored; the rest of its group commit is); 503
database unavailable (the store retries), and only then.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from aftercare.receiver.action_page import ActionPages
from aftercare.receiver.inbox_writer import InboxRefusedError, InboxWriter
from aftercare.receiver.opt_out_page import OptOutPages
from aftercare.storage.database import DatabaseUnavailableError
from aftercare.storage.schema import InboxEventRow, InboxStatus
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

# What the inbox keeps of a delivery's headers (``raw_headers``): each header (its name and
# value) and all of them together. No store sends kept headers near this: Shopify's longest
# is its shop domain or the 44-character HMAC, WooCommerce's the shop URL in
# X-WC-Webhook-Source, a Standard Webhooks webhook-signature about 50 characters a secret
# (several only while one is rotated). Longer ones come from something between the store and
# Aftercare, or from a client that is not the store; refusing them keeps a hostile request
# from filling the inbox.
MAX_HEADER_CHARS = 1024
MAX_KEPT_HEADERS_CHARS = 8 * 1024
# The columns the topic and the dedupe key go into: PostgreSQL refuses a longer value (and
# SQLite keeps it), so they are checked here, alike on both.
TOPIC_CHARS: int = InboxEventRow.__table__.c.topic.type.length
DELIVERY_ID_CHARS: int = InboxEventRow.__table__.c.source_event_id.type.length

# Control characters: RFC 9110 (section 5.5) allows none in a field value but the tab, and
# PostgreSQL keeps no NUL in text. A topic or a dedupe key has no tab either, nor a lone
# surrogate (a body's JSON may escape one: "\ud800"), which is not text a database can
# encode.
_CONTROL_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_UNSTORABLE_IN_KEY = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


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
    # ``/opt-out/{token}`` (the marketing opt-out); None: the app routes no opt-out pages.
    opt_out: OptOutPages | None = None
    # ``/a/{token}`` (the customers' answers, ``action_page``); None: not routed.
    actions: ActionPages | None = None


class BodyTooLargeError(Exception):
    pass


class StoreTimeoutError(Exception):
    """The inbox did not confirm the write in time: answer 503, the store retries."""


class HeaderRefusedError(DeliveryRejectedError):
    """A kept header the inbox cannot keep as it arrived: too long (431) or with a control
    character (400). Nothing is stored.

    431 is RFC 6585's "Request Header Fields Too Large", for one field or all of them; a
    control character makes the field invalid (RFC 9110, section 5.5): a 400. Neither is
    kept as ``invalid`` the way a malformed body is: the signature covers the body, not
    these headers, so nothing vouches that the store sent them (a proxy rewriting headers,
    a client that is not the store), the dedupe key may be the bad header itself, and the
    store retries a 4xx, so once whatever mangled the header is fixed the delivery arrives.
    The message names the header, never its value (it may be huge, or hostile).
    """

    def __init__(self, message: str, *, header: str, status: int) -> None:
        super().__init__(message)
        self.header = header
        self.status = status


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
    """The inbox row for a raw delivery to ``adapter`` (parsed into events later, by the drain).

    Only values the inbox can keep, on SQLite and PostgreSQL alike: ``HeaderRefusedError``
    for a kept header, or a topic or dedupe key read from one, that does not fit;
    ``MalformedPayloadError`` for a topic or dedupe key read from the (signed) body that
    does not. A dedupe key is never cut to fit: two deliveries differing only past the cut
    would be taken for one, and the second silently dropped as a duplicate.
    """
    kept = kept_headers(adapter, delivery.headers)
    _check_kept_headers(kept, adapter.kept_header_prefixes + COMMON_KEPT_HEADERS)
    _check_key("delivery id", delivery_id, DELIVERY_ID_CHARS, kept)
    if topic is not None:
        _check_key("topic", topic, TOPIC_CHARS, kept)
    now = delivery.received_at
    finished = status is not InboxStatus.PENDING
    return {
        "source": adapter.source,
        "source_event_id": delivery_id,
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
        "raw_headers": kept,
    }


def _check_kept_headers(kept: Mapping[str, str], prefixes: tuple[str, ...]) -> None:
    """``HeaderRefusedError`` unless every kept header fits ``raw_headers`` as it arrived."""
    # The usual case at once: all of them together within the limit of one, and printable
    # (``isprintable`` is 20 times faster than the pattern, and stricter: a tab or a no-break
    # space, say, takes the long way below, where the pattern decides).
    every = " ".join([*kept, *kept.values()])
    if len(every) <= MAX_HEADER_CHARS and every.isprintable():
        return
    total = 0
    for name, value in kept.items():
        size = len(name) + len(value)
        total += size
        if size > MAX_HEADER_CHARS or _CONTROL_IN_HEADER.search(name + value):
            _refuse_header(name, size, prefixes)
    if total > MAX_KEPT_HEADERS_CHARS:
        raise HeaderRefusedError(
            f"the headers the receiver keeps ({', '.join(prefixes)}) come to {total} "
            f"characters, more than the {MAX_KEPT_HEADERS_CHARS} it keeps; no store sends "
            "that much: check what sits between the store and Aftercare",
            header="all kept headers",
            status=431,
        )


# A header name longer than this is shown by its prefix only: it may be long, or hostile.
_SHOWN_NAME_CHARS = 100


def _refuse_header(name: str, size: int, prefixes: tuple[str, ...]) -> NoReturn:
    if len(name) > _SHOWN_NAME_CHARS or _CONTROL_IN_HEADER.search(name):
        header = f"a header named {next(p for p in prefixes if name.startswith(p))}…"
    else:
        header = f"the {name} header"
    if size > MAX_HEADER_CHARS:
        status = 431
        problem = f"is {size} characters long; the receiver keeps at most {MAX_HEADER_CHARS}"
    else:
        status = 400
        problem = "contains a control character (a NUL, a line break), which no header may"
    raise HeaderRefusedError(
        f"{header} {problem}; the store never sends such a header: check what sits between "
        "the store and Aftercare (a proxy that rewrites headers)",
        header=header,
        status=status,
    )


def _check_key(what: str, value: str, limit: int, kept: Mapping[str, str]) -> None:
    """The topic or the dedupe key fits its column: ``HeaderRefusedError`` when it was read
    from a header (``kept``), ``MalformedPayloadError`` when from the body."""
    if len(value) <= limit and (value.isprintable() or not _UNSTORABLE_IN_KEY.search(value)):
        return  # ``isprintable``: no control character nor surrogate, the usual case at once
    problem = (
        f"is {len(value)} characters long; the inbox keeps at most {limit}"
        if len(value) > limit
        else "contains a control character or a lone surrogate"
    )
    for name, given in kept.items():
        if given.strip() == value:
            raise HeaderRefusedError(
                f"the {name} header, the delivery's {what}, {problem}; the store never sends "
                "such a header: check what sits between the store and Aftercare",
                header=f"the {name} header",
                status=431 if len(value) > limit else 400,
            )
    raise MalformedPayloadError(f"the {what} read from the body {problem}")


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
                status = InboxStatus.IGNORED if accepted.ignored else InboxStatus.PENDING
                row = delivery_row(
                    adapter,
                    accepted.delivery_id,
                    delivery,
                    topic=accepted.topic,
                    status=status,
                    note=accepted.ignored,
                )
            except MalformedPayloadError as exc:
                await self._store(_invalid_row(adapter, delivery, exc))
                log.warning(
                    "webhook malformed, kept as invalid",
                    extra={"store": adapter.source, "status": exc.status},
                )
                return _Answer(exc.status, {"error": str(exc), "kept_for_inspection": True})
            new = await self._store(row)
        except HeaderRefusedError as exc:
            log.warning(
                "webhook refused: a header the inbox cannot keep",
                extra={"store": adapter.source, "status": exc.status, "header": exc.header},
            )
            return _Answer(exc.status, {"error": str(exc)})
        except InboxRefusedError as exc:
            # The database refused a value of this row alone (its group's others are stored):
            # a retry would be refused again, so not a 503. Column and kind, never the value.
            log.warning(
                "webhook not stored: the database refused it",
                extra={"store": adapter.source, "status": 422, "problem": str(exc)},
            )
            return _Answer(422, {"error": f"the database refused this delivery: {exc}"})
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
    body_key = "body-sha256:" + hashlib.sha256(delivery.body).hexdigest()
    try:
        delivery_id = adapter.delivery_id(delivery)
    except MalformedPayloadError:
        delivery_id = body_key
    note = str(error)
    try:
        return delivery_row(
            adapter, delivery_id, delivery, topic=None, status=InboxStatus.INVALID, note=note
        )
    except MalformedPayloadError:  # a dedupe key from the body the inbox cannot keep
        return delivery_row(
            adapter, body_key, delivery, topic=None, status=InboxStatus.INVALID, note=note
        )
