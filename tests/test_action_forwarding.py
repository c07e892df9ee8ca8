"""Customers' answers reach the store: signed webhooks over real HTTP, retried, confirmed first.

A small HTTP server on a loopback port stands in for the store's endpoint; it checks every
delivery with the Standard Webhooks library itself, as a store would.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from aftercare.drain import Pipeline, drain
from aftercare.drain.action_forwarding import MAX_ATTEMPTS, backoff, forward_due_actions
from aftercare.drain.loop import has_due_work
from aftercare.sample_store import orders
from aftercare.storage.customer_actions import action_of, confirm_action, record_action
from tests.conftest import Clock

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class _Store:
    """The store's endpoint: what it received, verified, and the status it answers."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.ids: list[str] = []
        self.status = 200
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                Webhook(SECRET).verify(body, headers)  # raises on a bad signature
                store.received.append(json.loads(body))
                store.ids.append(headers["webhook-id"])
                self.send_response(store.status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/aftercare"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def store() -> Iterator[_Store]:
    endpoint = _Store()
    yield endpoint
    endpoint.server.shutdown()


@pytest.fixture
def pipeline(clocked_pipeline: Pipeline, store: _Store) -> Pipeline:
    settings = clocked_pipeline.settings.model_copy(
        update={"action_webhook_url": store.url, "action_webhook_secret": SecretStr(SECRET)}
    )
    return replace(clocked_pipeline, settings=settings)


def _answer(pipeline: Pipeline, clock: Clock, action: str, value: str, **more: object) -> None:
    with pipeline.sessions.begin() as session:
        record_action(
            session,
            email_key="order_shipped:sample:o-1001:f-1",
            email_kind="order_shipped",
            order=("sample", "o-1001"),
            action=action,
            subject=str(more.pop("subject", "")),
            value=value,
            now=clock.now,
            **more,  # type: ignore[arg-type]
        )


def test_a_rating_reaches_the_store_signed_once(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(pipeline, clock, "rating", "good", comment="Lovely apron")
    assert has_due_work(pipeline)
    drain(pipeline)
    (received,) = store.received
    assert received["type"] == "aftercare.customer_action"
    data = received["data"]
    assert (data["action"], data["value"], data["comment"]) == ("rating", "good", "Lovely apron")
    assert data["order"] == {"source": "sample", "id": "o-1001"}
    assert "anna" not in json.dumps(received).lower()  # no address: the store has the order
    drain(pipeline)
    assert len(store.received) == 1 and not has_due_work(pipeline)


def test_a_changed_answer_is_sent_again_under_a_new_id(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(pipeline, clock, "rating", "good")
    drain(pipeline)
    clock.now += timedelta(minutes=3)
    _answer(pipeline, clock, "rating", "bad")
    drain(pipeline)
    assert [r["data"]["value"] for r in store.received] == ["good", "bad"]
    assert len(set(store.ids)) == 2


def test_a_refund_choice_waits_for_the_customers_confirmation(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(pipeline, clock, "delay_choice", "refund")
    drain(pipeline)
    assert store.received == []  # a mail scanner's GET would have stopped here
    with pipeline.sessions.begin() as session:
        assert confirm_action(
            session, "order_shipped:sample:o-1001:f-1", "delay_choice", "", "refund", clock.now
        )
    drain(pipeline)
    (received,) = store.received
    assert received["data"]["value"] == "refund" and received["data"]["confirmed_at"]


def test_a_failing_store_is_retried_with_backoff_and_then_left_with_the_error(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    store.status = 503
    _answer(pipeline, clock, "rating", "okay")
    report = forward_due_actions(pipeline)
    assert (report.sent, report.failed) == (0, 1)
    assert forward_due_actions(pipeline).failed == 0  # not before its backoff
    clock.now += backoff(1) + timedelta(seconds=1)
    store.status = 200
    assert forward_due_actions(pipeline).sent == 1
    with Session(engine) as session:
        answer = action_of(session, "order_shipped:sample:o-1001:f-1", "rating", "")
    assert answer is not None and answer.forwarded_at is not None
    assert len(set(store.ids)) == 1  # the retry kept the answer's id: the store can dedupe

    store.status = 500
    clock.now += timedelta(minutes=1)
    _answer(pipeline, clock, "rating", "bad")
    for attempt in range(1, MAX_ATTEMPTS + 2):
        forward_due_actions(pipeline)
        clock.now += backoff(attempt) + timedelta(seconds=1)
    with Session(engine) as session:
        answer = action_of(session, "order_shipped:sample:o-1001:f-1", "rating", "")
    assert answer is not None and answer.forwarded_at is None
    assert answer.forward_attempts == MAX_ATTEMPTS and "HTTP 500" in (answer.forward_error or "")


def test_without_an_endpoint_nothing_is_forwarded_or_due(
    clocked_pipeline: Pipeline, clock: Clock
) -> None:
    _answer(clocked_pipeline, clock, "rating", "good")
    assert forward_due_actions(clocked_pipeline).sent == 0
    assert not has_due_work(clocked_pipeline)


def test_the_sample_order_story_still_drains_with_forwarding_on(
    pipeline: Pipeline, store: _Store
) -> None:
    from aftercare.drain import receive_event

    receive_event(pipeline, orders.placed())
    report = drain(pipeline)
    assert report.send.sent == 1 and store.received == []
