"""Customers' answers written on their orders through the store's API, over real HTTP.

A small HTTP server on a loopback port plays both stores: WooCommerce's order notes
endpoint (``/wp-json/wc/v3/orders/{id}/notes``, HTTP Basic auth) and Shopify's Admin
GraphQL endpoint (``/admin/api/{version}/graphql.json``, ``X-Shopify-Access-Token``), each
holding its orders' notes and recording every request it was sent.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, drain
from aftercare.drain.action_forwarding import backoff
from aftercare.drain.loop import has_due_work
from aftercare.drain.order_notes import (
    COMMENT_CHARS,
    MAX_ATTEMPTS,
    add_due_order_notes,
    note_line,
)
from aftercare.settings import ShopifyOptions, WooCommerceOptions
from aftercare.storage.customer_actions import (
    CustomerAction,
    action_of,
    confirm_action,
    record_action,
)
from tests.conftest import Clock

WOO_KEY, WOO_SECRET = "ck_test_0123456789", "cs_test_abcdef"
SHOPIFY_TOKEN = "shpat_test_0123456789"
API_VERSION = "2025-07"
WOO_ORDER, SHOPIFY_ORDER = "1043", "820982911946154508"
EMAIL_KEY = "order_delayed:woocommerce:order:1043:delayed:2026-12-10"


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Store:
    """Both stores' APIs: their orders' notes, the requests received, what to answer next."""

    url: str = ""
    requests: list[_Request] = field(default_factory=list)
    woo_notes: dict[str, list[str]] = field(default_factory=dict)
    shopify_notes: dict[str, str | None] = field(default_factory=dict)
    # Statuses to answer the next requests with (then 200/201); "landed" stores the note
    # yet answers 500, like a timeout after the store took it.
    fail_next: list[int | str] = field(default_factory=list)
    user_errors: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def posted_woo_notes(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.method == "POST" and "/wp-json/" in r.path]

    def shopify_mutations(self) -> list[dict[str, Any]]:
        return [
            r.body for r in self.requests if r.body and "orderUpdate" in r.body.get("query", "")
        ]


def _serve(store: _Store) -> None:
    woo_path = re.compile(r"^/wp-json/wc/v3/orders/(\d+)/notes(\?.*)?$")

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> _Request:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = _Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            store.requests.append(request)
            return request

        def _failure(self) -> int | str | None:
            return store.fail_next.pop(0) if store.fail_next else None

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            request = self._record()
            found = woo_path.match(self.path)
            if not found or not self._woo_authorised(request):
                return
            notes = store.woo_notes.get(found.group(1), [])
            self._reply(
                200, [{"id": i, "note": n, "customer_note": False} for i, n in enumerate(notes)]
            )

        def do_POST(self) -> None:  # noqa: N802
            request = self._record()
            if woo_path.match(self.path):
                self._woo_note(request, woo_path.match(self.path).group(1))  # type: ignore[union-attr]
            elif self.path == f"/admin/api/{API_VERSION}/graphql.json":
                self._shopify(request)
            else:
                self._reply(404, {"code": "rest_no_route", "message": "No route was found"})

        def _woo_authorised(self, request: _Request) -> bool:
            expected = base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                self._reply(
                    401,
                    {
                        "code": "woocommerce_rest_authentication_error",
                        "message": "Consumer key is invalid.",
                        "data": {"status": 401},
                    },
                )
                return False
            return True

        def _woo_note(self, request: _Request, order_id: str) -> None:
            if not self._woo_authorised(request):
                return
            failure = self._failure()
            if failure == "landed":
                store.woo_notes.setdefault(order_id, []).append(request.body["note"])
                failure = 500
            if failure is not None:
                self._reply(int(failure), {"code": "internal_server_error", "message": "Oops"})
                return
            store.woo_notes.setdefault(order_id, []).append(request.body["note"])
            self._reply(201, {"id": 1, "note": request.body["note"], "customer_note": False})

        def _shopify(self, request: _Request) -> None:
            if request.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
                self._reply(401, {"errors": "[API] Invalid API key or access token"})
                return
            failure = self._failure()
            if failure is not None:
                self._reply(int(failure), {"errors": "Internal error"})
                return
            query, variables = request.body["query"], request.body["variables"]
            if "orderUpdate" in query:
                order = variables["input"]["id"].rsplit("/", 1)[1]
                if store.user_errors:
                    errors, store.user_errors = store.user_errors, []
                    self._reply(
                        200, {"data": {"orderUpdate": {"order": None, "userErrors": errors}}}
                    )
                    return
                store.shopify_notes[order] = variables["input"]["note"]
                gid = variables["input"]["id"]
                self._reply(
                    200, {"data": {"orderUpdate": {"order": {"id": gid}, "userErrors": []}}}
                )
                return
            order = variables["id"].rsplit("/", 1)[1]
            if order not in store.shopify_notes:
                self._reply(200, {"data": {"order": None}})
                return
            self._reply(200, {"data": {"order": {"note": store.shopify_notes[order]}}})

        def log_message(self, *_: object) -> None:
            pass

    store.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    store.url = f"http://127.0.0.1:{store.server.server_address[1]}"
    threading.Thread(target=store.server.serve_forever, daemon=True).start()


@pytest.fixture
def store() -> Iterator[_Store]:
    fake = _Store()
    _serve(fake)
    yield fake
    assert fake.server is not None
    fake.server.shutdown()


@pytest.fixture
def pipeline(clocked_pipeline: Pipeline, store: _Store) -> Pipeline:
    """The pipeline with both stores' API credentials set, pointing at the local server."""
    settings = clocked_pipeline.settings.model_copy(
        update={
            "woocommerce": WooCommerceOptions(
                api_url=store.url, api_key=SecretStr(WOO_KEY), api_secret=SecretStr(WOO_SECRET)
            ),
            "shopify": ShopifyOptions(
                shop="fern-and-field",
                admin_token=SecretStr(SHOPIFY_TOKEN),
                api_version=API_VERSION,
                admin_api_url=store.url,
            ),
        }
    )
    return replace(clocked_pipeline, settings=settings)


def _answer(
    pipeline: Pipeline,
    clock: Clock,
    action: str,
    value: str,
    *,
    order: tuple[str, str] = ("woocommerce", WOO_ORDER),
    email_kind: str = "order_delayed",
    **more: Any,
) -> None:
    with pipeline.sessions.begin() as session:
        record_action(
            session,
            email_key=EMAIL_KEY if order[0] == "woocommerce" else f"{email_kind}:shopify:1",
            email_kind=email_kind,
            order=order,
            action=action,
            subject=str(more.pop("subject", "")),
            value=value,
            now=clock.now,
            **more,
        )


def _stored(engine: Engine, action: str = "delay_choice", subject: str = "") -> CustomerAction:
    with Session(engine) as session:
        found = action_of(session, EMAIL_KEY, action, subject)
    assert found is not None
    return found


# --- the note's words --------------------------------------------------------------------


def _row(**values: Any) -> Any:
    at = datetime(2026, 12, 4, 10, 12, tzinfo=UTC)
    defaults = {
        "email_kind": "order_delayed",
        "action": "delay_choice",
        "subject": "",
        "value": "refund",
        "comment": None,
        "last_clicked_at": at,
        "confirmed_at": at,
    }
    return SimpleNamespace(**(defaults | values))


def test_a_note_says_what_the_customer_chose_in_which_email_and_when() -> None:
    assert note_line(_row()) == (
        "Aftercare: customer chose 'Cancel and refund my order' in the delay email"
        " (confirmed 2026-12-04 10:12 UTC)."
    )
    rating = _row(
        email_kind="order_delivered",
        action="rating",
        value="okay",
        comment="Arrived late,\n write to me at anna@example.com",
        confirmed_at=None,
    )
    assert note_line(rating) == (
        "Aftercare: customer rated the order 'okay' in the delivery email, commenting"
        ' "Arrived late, write to me at <email>" (2026-12-04 10:12 UTC).'
    )
    vote = _row(
        email_kind="order_shipped",
        action="faq_helpful",
        subject="customs-fees",
        value="no",
        confirmed_at=None,
    )
    assert note_line(vote) == (
        "Aftercare: customer found the FAQ answer 'customs-fees' not helpful in the"
        " shipping email (2026-12-04 10:12 UTC)."
    )
    long = note_line(_row(action="rating", value="good", comment="x" * 900, confirmed_at=None))
    assert long.count("x") == COMMENT_CHARS - 1 and 'x…" (' in long


# --- WooCommerce ---------------------------------------------------------------------------


def test_a_rating_becomes_one_private_woocommerce_note_with_basic_auth(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(pipeline, clock, "rating", "good", email_kind="order_delivered", comment="Lovely")
    assert has_due_work(pipeline)
    drain(pipeline)
    (posted,) = store.requests
    assert posted.method == "POST" and posted.path == f"/wp-json/wc/v3/orders/{WOO_ORDER}/notes"
    expected = base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
    assert posted.headers["authorization"] == f"Basic {expected}"
    assert posted.body == {
        "note": "Aftercare: customer rated the order 'good' in the delivery email, commenting"
        f' "Lovely" ({clock.now:%Y-%m-%d %H:%M} UTC).',
        "customer_note": False,
    }
    drain(pipeline)
    assert len(store.requests) == 1 and not has_due_work(pipeline)  # noted once


def test_a_refund_choice_is_noted_only_once_the_customer_confirmed_it(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    _answer(pipeline, clock, "delay_choice", "refund")
    drain(pipeline)
    assert store.requests == []  # a mail scanner's GET would have stopped here
    assert not has_due_work(pipeline)
    clock.now += timedelta(minutes=2)
    with pipeline.sessions.begin() as session:
        assert confirm_action(session, EMAIL_KEY, "delay_choice", "", "refund", clock.now)
    drain(pipeline)
    (note,) = store.woo_notes[WOO_ORDER]
    assert "'Cancel and refund my order'" in note and "confirmed" in note
    assert _stored(engine).noted_at is not None


def test_a_changed_answer_is_noted_again(pipeline: Pipeline, store: _Store, clock: Clock) -> None:
    _answer(pipeline, clock, "delay_choice", "wait")
    drain(pipeline)
    clock.now += timedelta(minutes=3)
    _answer(pipeline, clock, "delay_choice", "reship", confirmed=True)
    drain(pipeline)
    first, second = store.woo_notes[WOO_ORDER]
    assert "'I'm happy to wait'" in first and "'Send it by a faster service'" in second


def test_a_failed_note_is_retried_after_its_backoff_and_added_once(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    store.fail_next = [500]
    _answer(pipeline, clock, "delay_choice", "wait")
    report = add_due_order_notes(pipeline)
    assert (report.noted, report.failed) == (0, 1)
    assert "HTTP 500" in (_stored(engine).note_error or "")
    assert add_due_order_notes(pipeline).failed == 0  # not before its backoff
    assert len(store.requests) == 1
    clock.now += backoff(1) + timedelta(seconds=1)
    assert add_due_order_notes(pipeline).noted == 1
    assert len(store.woo_notes[WOO_ORDER]) == 1
    stored = _stored(engine)
    assert stored.noted_at is not None and stored.note_error is None
    assert stored.note_attempts == 2


def test_a_retry_finds_the_note_an_earlier_try_left_and_adds_no_second(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    store.fail_next = ["landed"]  # the store took it, then answered 500 (or timed out)
    _answer(pipeline, clock, "delay_choice", "wait")
    assert add_due_order_notes(pipeline).failed == 1
    clock.now += backoff(1) + timedelta(seconds=1)
    assert add_due_order_notes(pipeline).noted == 1
    assert len(store.woo_notes[WOO_ORDER]) == 1
    assert [r.method for r in store.requests] == ["POST", "GET"]


def test_a_refused_api_key_says_what_to_check_and_backs_off(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    woo = pipeline.settings.woocommerce.model_copy(update={"api_secret": SecretStr("cs_wrong")})
    pipeline = replace(pipeline, settings=pipeline.settings.model_copy(update={"woocommerce": woo}))
    _answer(pipeline, clock, "delay_choice", "wait")
    assert add_due_order_notes(pipeline).failed == 1
    error = _stored(engine).note_error or ""
    assert "WooCommerce refused the API key (HTTP 401" in error
    assert "Consumer key is invalid" in error  # the store's own words
    assert "AFTERCARE_WOOCOMMERCE__API_KEY" in error and "Read/Write" in error
    assert add_due_order_notes(pipeline).failed == 0 and not has_due_work(pipeline)
    for attempt in range(1, MAX_ATTEMPTS + 2):
        clock.now += backoff(attempt) + timedelta(seconds=1)
        add_due_order_notes(pipeline)
    assert _stored(engine).note_attempts == MAX_ATTEMPTS  # then it stops, with the error
    assert len(store.requests) == MAX_ATTEMPTS
    assert store.woo_notes == {}


def test_the_actions_list_shows_the_note_beside_the_webhook(
    pipeline: Pipeline,
    store: _Store,
    clock: Clock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from aftercare.cli import build_cli

    clock.now = datetime.now(UTC)  # the command looks back from the real clock
    _answer(pipeline, clock, "delay_choice", "wait")
    store.fail_next = [503]
    add_due_order_notes(pipeline)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_WOOCOMMERCE__API_URL", store.url)
    monkeypatch.setenv("AFTERCARE_WOOCOMMERCE__API_KEY", WOO_KEY)
    monkeypatch.setenv("AFTERCARE_WOOCOMMERCE__API_SECRET", WOO_SECRET)
    monkeypatch.setenv("COLUMNS", "250")
    listed = CliRunner().invoke(build_cli(), ["actions", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (shown,) = json.loads(listed.output)
    assert shown["noted"] is False and "HTTP 503" in shown["note_error"]
    assert shown["forwarded"] is False and shown["forward_error"] is None
    table = CliRunner().invoke(build_cli(), ["actions", "list"])
    assert table.exit_code == 0, table.output
    assert "order note" in table.output and "WooCommerce answered HTTP 503" in " ".join(
        table.output.split()
    )


# --- Shopify -------------------------------------------------------------------------------


def test_a_shopify_note_is_appended_below_the_existing_one_never_replacing_it(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    store.shopify_notes[SHOPIFY_ORDER] = "Gift wrap, please"
    order = ("shopify", SHOPIFY_ORDER)
    _answer(pipeline, clock, "rating", "bad", order=order, email_kind="order_delivered")
    _answer(
        pipeline, clock, "faq_helpful", "yes", order=order, email_kind="order_shipped",
        subject="returns-window",
    )  # fmt: skip
    drain(pipeline)
    assert all(r.path == f"/admin/api/{API_VERSION}/graphql.json" for r in store.requests)
    assert all(r.headers["x-shopify-access-token"] == SHOPIFY_TOKEN for r in store.requests)
    assert all(r.headers["content-type"] == "application/json" for r in store.requests)
    lines = (store.shopify_notes[SHOPIFY_ORDER] or "").splitlines()
    assert lines[0] == "Gift wrap, please"
    assert "rated the order 'bad' in the delivery email" in lines[1]
    assert "FAQ answer 'returns-window' helpful in the shipping email" in lines[2]
    assert len(lines) == 3
    (mutation, _) = store.shopify_mutations()
    assert mutation["variables"]["input"]["id"] == f"gid://shopify/Order/{SHOPIFY_ORDER}"
    reads = [r for r in store.requests if "orderUpdate" not in r.body["query"]]
    assert [r.body["variables"] for r in reads] == [
        {"id": f"gid://shopify/Order/{SHOPIFY_ORDER}"}
    ] * 2


def test_shopify_user_errors_fail_the_note_and_it_is_retried(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    store.shopify_notes[SHOPIFY_ORDER] = None
    store.user_errors = [{"field": ["note"], "message": "Note is too long"}]
    _answer(pipeline, clock, "rating", "good", order=("shopify", SHOPIFY_ORDER))
    assert add_due_order_notes(pipeline).failed == 1
    assert store.shopify_notes[SHOPIFY_ORDER] is None
    clock.now += backoff(1) + timedelta(seconds=1)
    assert add_due_order_notes(pipeline).noted == 1
    (line,) = (store.shopify_notes[SHOPIFY_ORDER] or "").splitlines()
    assert line.startswith("Aftercare: customer rated the order 'good'")
    assert len(store.shopify_mutations()) == 2


def test_a_refused_shopify_token_and_an_unknown_order_say_what_to_check(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    import httpx

    from aftercare.drain.order_notes import (
        OrderNotFoundError,
        StoreApiKeyRefusedError,
        note_stores,
    )

    with httpx.Client() as client:
        shopify = note_stores(pipeline.settings, client)["shopify"]
        refused_token = replace(shopify, token="shpat_wrong")  # type: ignore[type-var]
        with pytest.raises(StoreApiKeyRefusedError, match="refused the Admin API access token"):
            refused_token.add_note(SHOPIFY_ORDER, "Aftercare: test", retry=False)
        with pytest.raises(StoreApiKeyRefusedError, match="AFTERCARE_SHOPIFY__ADMIN_TOKEN"):
            refused_token.add_note(SHOPIFY_ORDER, "Aftercare: test", retry=False)
        with pytest.raises(OrderNotFoundError, match="Shopify has no order 42"):
            shopify.add_note("42", "Aftercare: test", retry=False)
    assert store.shopify_notes == {}


# --- independence and configuration --------------------------------------------------------


def test_a_failing_webhook_does_not_hold_the_note_back(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    import base64 as b64
    import secrets

    secret = "whsec_" + b64.b64encode(secrets.token_bytes(32)).decode()
    settings = pipeline.settings.model_copy(
        update={
            "action_webhook_url": f"{store.url}/no-such-endpoint",  # answers 404
            "action_webhook_secret": SecretStr(secret),
        }
    )
    pipeline = replace(pipeline, settings=settings)
    _answer(pipeline, clock, "delay_choice", "wait")
    drain(pipeline)
    stored = _stored(engine)
    assert stored.forwarded_at is None and "HTTP 404" in (stored.forward_error or "")
    assert stored.noted_at is not None and len(store.woo_notes[WOO_ORDER]) == 1


def test_a_failing_note_does_not_hold_the_webhook_back(
    pipeline: Pipeline, store: _Store, clock: Clock, engine: Engine
) -> None:
    import base64 as b64
    import secrets

    from aftercare.drain.action_forwarding import forward_due_actions

    secret = "whsec_" + b64.b64encode(secrets.token_bytes(32)).decode()
    settings = pipeline.settings.model_copy(
        update={
            "action_webhook_url": f"{store.url}/no-such-endpoint",  # answers 404
            "action_webhook_secret": SecretStr(secret),
        }
    )
    pipeline = replace(pipeline, settings=settings)
    store.fail_next = [500]  # the WooCommerce note fails first…
    _answer(pipeline, clock, "delay_choice", "wait")
    assert add_due_order_notes(pipeline).failed == 1
    # … the webhook fails on its own, and neither's backoff or error touches the other's.
    assert forward_due_actions(pipeline).failed == 1
    stored = _stored(engine)
    assert "HTTP 500" in (stored.note_error or "") and "HTTP 404" in (stored.forward_error or "")
    assert stored.note_attempts == 1 and stored.forward_attempts == 1


def test_without_store_credentials_nothing_is_noted_or_due(
    clocked_pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(clocked_pipeline, clock, "delay_choice", "wait")
    assert add_due_order_notes(clocked_pipeline).noted == 0
    assert not has_due_work(clocked_pipeline)
    drain(clocked_pipeline)
    assert store.requests == []


def test_an_answer_of_a_store_without_credentials_is_not_noted(
    pipeline: Pipeline, store: _Store, clock: Clock
) -> None:
    _answer(pipeline, clock, "rating", "good", order=("generic", "A-1"))
    assert not has_due_work(pipeline)
    drain(pipeline)
    assert store.requests == []
