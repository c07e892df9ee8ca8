"""Bad deliveries fail alone: a burst of good and bad requests through the real receiver.

Issue 16: on PostgreSQL a 3,000-character ``X-Shopify-Topic`` (a header the signature does
not cover) failed the inbox writer's whole group commit, so the good deliveries committed
with it were answered 503 too. Now each bad request hears its own 4xx, the good ones beside
it are stored once and answered 200, on SQLite and PostgreSQL alike, and a 503 still means
the database is unavailable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.receiver import Receiver, endpoint
from aftercare.sample_store import orders
from aftercare.storage.schema import InboxEventRow, InboxStatus
from tests import test_webhook_receiver
from tests.test_webhook_receiver import (
    WOO_SECRET,
    Nudges,
    _generic_post,
    shopify_headers,
    shopify_sample,
)

# The receiver's own fixtures: the real app, its inbox writer process, on a loopback port.
settings = test_webhook_receiver.settings
nudges = test_webhook_receiver.nudges
receiver = test_webhook_receiver.receiver
url = test_webhook_receiver.url

CLIENTS = 8
REQUESTS_PER_CLIENT = 120

ORDER = shopify_sample("orders_create", cancelled_at=None)
# Valid JSON with an escaped NUL in a string: the body is kept as bytes (``raw_body``), so
# it is stored like any other.
ORDER_WITH_NUL = shopify_sample("orders_create", cancelled_at=None, note="gift\u0000wrap")


class Sent(NamedTuple):
    """One request of a burst, and what it was answered."""

    event_id: str
    kind: str
    status: int
    answer: dict[str, object]


def _shopify(event_id: str, body: bytes = ORDER, **headers: str) -> tuple[bytes, dict[str, str]]:
    return body, {**shopify_headers(body, "orders/create", event_id), **headers}


# What each kind of request carries, and what it must be answered. The bad ones are bad only
# in headers the signature does not cover, as a proxy or a forger would make them.
KINDS: dict[str, tuple[Callable[[str], tuple[bytes, dict[str, str]]], int]] = {
    "good": (lambda i: _shopify(i), 200),
    "good, NUL in the body": (lambda i: _shopify(i, ORDER_WITH_NUL), 200),
    "3,000-char topic": (lambda i: _shopify(i, **{"X-Shopify-Topic": "t" * 3000}), 431),
    "topic too long for its column": (
        lambda i: _shopify(i, **{"X-Shopify-Topic": "orders/" + "t" * 150}),
        431,
    ),
    "huge event id": (lambda i: _shopify(i, **{"X-Shopify-Event-Id": i + "x" * 3000}), 431),
    "event id too long for its column": (
        lambda i: _shopify(i, **{"X-Shopify-Event-Id": i + "x" * 250}),
        431,
    ),
    "NUL in a header": (lambda i: _shopify(i, **{"X-Shopify-Topic": "orders/\x00create"}), 400),
}
ROTATION = ["good", "3,000-char topic", "good, NUL in the body", "huge event id", "good"] + [
    "topic too long for its column",
    "good",
    "event id too long for its column",
    "NUL in a header",
]


def _raw_post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST over a plain socket: httpx (rightly) refuses to send a NUL in a header."""
    address = urlsplit(base)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n{head}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(request + body)
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _burst(base: str, kinds: dict[str, tuple[Callable, int]], rotation: list[str]) -> list[Sent]:
    """``CLIENTS`` clients at once, each posting ``REQUESTS_PER_CLIENT`` in turn."""

    def client(number: int) -> list[Sent]:
        sent = []
        with httpx.Client(base_url=base, timeout=20) as http:
            for n in range(REQUESTS_PER_CLIENT):
                kind = rotation[(number + n) % len(rotation)]
                event_id = f"evt-{number}-{n}"
                body, headers = kinds[kind][0](event_id)
                if any("\x00" in value for value in headers.values()):
                    status, text = _raw_post(base, "/webhooks/shopify", body, headers)
                else:
                    response = http.post("/webhooks/shopify", content=body, headers=headers)
                    status, text = response.status_code, response.content
                try:
                    answer = json.loads(text)
                except ValueError:
                    answer = {"text": text.decode("latin-1")}  # the HTTP server's own 400
                sent.append(Sent(event_id, kind, status, answer))
        return sent

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [s for batch in pool.map(client, range(CLIENTS)) for s in batch]


def _stored(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.scalars(select(InboxEventRow.source_event_id)))


def test_a_burst_of_bad_and_good_deliveries_answers_each_alone_and_stores_the_good_once(
    url: str, receiver: Receiver, engine: Engine, nudges: Nudges
) -> None:
    sent = _burst(url, KINDS, ROTATION)

    by_status = Counter(s.status for s in sent)
    assert not [s for s in sent if s.status >= 500], by_status
    for s in sent:
        assert s.status == KINDS[s.kind][1], (s.kind, s.status, s.answer)
    good = [s for s in sent if s.kind.startswith("good")]
    assert all(s.answer == {"received": 1, "duplicate": 0, "ignored": None} for s in good)
    assert _stored(engine) == Counter(s.event_id for s in good)  # each once, no bad one
    assert nudges.count == len(good)
    for s in sent:
        if s.status == 431:
            assert "x-shopify-" in str(s.answer["error"]) and "t" * 50 not in str(s.answer)
    assert receiver.writer.alive
    # Bad and good shared group commits: fewer commits than good deliveries.
    assert receiver.writer.batches < len(good)


def test_what_the_database_refuses_fails_alone_even_past_the_receiver_s_checks(
    url: str, receiver: Receiver, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox writer's own line: with the endpoint's length checks switched off, the
    3,000-character topic of the issue reaches the database. PostgreSQL refuses it (422 for
    that request alone); SQLite keeps text of any length, so there it is stored."""
    for limit in ("MAX_HEADER_CHARS", "MAX_KEPT_HEADERS_CHARS", "TOPIC_CHARS"):
        monkeypatch.setattr(endpoint, limit, 10**6)
    kinds = {"good": KINDS["good"], "3,000-char topic": KINDS["3,000-char topic"]}
    sent = _burst(url, kinds, ["good", "good", "3,000-char topic"])

    assert not [s for s in sent if s.status >= 500], Counter(s.status for s in sent)
    good = [s.event_id for s in sent if s.kind == "good"]
    bad = [s for s in sent if s.kind != "good"]
    assert all(s.status == 200 for s in sent if s.kind == "good")
    if engine.dialect.name == "postgresql":
        assert all(s.status == 422 for s in bad)
        assert {s.answer["error"] for s in bad} == {
            "the database refused this delivery: "
            "a value is longer than its column allows (column topic)"
        }
        assert _stored(engine) == Counter(good)
    else:
        assert all(s.status == 200 and s.answer["ignored"] for s in bad)  # an unknown topic
        assert _stored(engine) == Counter(good + [s.event_id for s in bad])
    assert receiver.writer.alive
    assert receiver.writer.batches < len(sent)


def _woocommerce_post(base: str, order: dict[str, object]) -> httpx.Response:
    body = json.dumps(order).encode()
    signature = base64.b64encode(hmac.new(WOO_SECRET.encode(), body, hashlib.sha256).digest())
    return httpx.post(
        f"{base}/webhooks/woocommerce",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": signature.decode(),
            "X-WC-Webhook-Delivery-ID": "1001",
        },
    )


@pytest.mark.parametrize(
    ("order_id", "problem"),
    [
        pytest.param("9" * 250, "characters long; the inbox keeps at most 200", id="long id"),
        pytest.param("\ud800", "contains a control character or a lone surrogate", id="surrogate"),
    ],
)
def test_a_signed_body_whose_dedupe_key_the_inbox_cannot_keep_is_kept_as_invalid(
    url: str, engine: Engine, order_id: str, problem: str
) -> None:
    """Read from the signed body, so authentic and malformed: kept for an operator, under a
    key of the body's digest, like a body that is not JSON."""
    answer = _woocommerce_post(url, {"id": order_id, "status": "processing"})
    assert answer.status_code == 422 and answer.json()["kept_for_inspection"]
    assert problem in answer.json()["error"] and "9" * 50 not in answer.text
    with Session(engine) as session:
        (row,) = session.scalars(select(InboxEventRow))
    assert row.status == InboxStatus.INVALID and row.source_event_id.startswith("body-sha256:")


def test_a_signed_generic_event_whose_kind_holds_a_nul_is_kept_as_invalid(
    url: str, engine: Engine
) -> None:
    event = json.loads(orders.welcome(source="generic").model_dump_json())
    event["kind"] += "\x00"  # sent as the JSON escape \u0000, signed with the rest
    answer = _generic_post(url, json.dumps(event).encode(), "msg-nul", int(time.time()))
    assert answer.status_code == 422 and answer.json()["kept_for_inspection"]
    assert "the topic read from the body contains a control character" in answer.json()["error"]
    with Session(engine) as session:
        (row,) = session.scalars(select(InboxEventRow))
    assert (row.source_event_id, row.status, row.topic) == ("msg-nul", InboxStatus.INVALID, None)
