"""The customer's email-marketing consent: read from what the store sends, kept once known.

It decides whether an email may carry product recommendations (``opt_out.may_show_cross_sell``),
so it must survive events that do not repeat it, and an objection must never be lost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from aftercare.events import merged_consent
from aftercare.order_state import merge_event
from aftercare.sample_store import orders
from aftercare.storage.database import session_factory
from aftercare.storage.order_records import load_order_state, save_customers, save_order_state
from aftercare.storage.schema import CustomerRow
from tests import test_store_shopify as shopify
from tests import test_store_woocommerce as woocommerce

NOW = orders.SENT_AT


def shopify_order_event(**changes: Any):  # noqa: ANN201 - an OrderEvent
    return shopify.only_event(
        shopify.delivery(shopify.open_order("paid", **changes), "orders/create"),
        confirm_on="orders/create",
    )


def with_customer(**fields: Any) -> dict[str, Any]:
    """The sample order's ``customer`` object with ``fields`` added (None removes one)."""
    customer = shopify.sample("orders_create")["customer"] | fields
    return {"customer": {k: v for k, v in customer.items() if v is not None}}


# --- Shopify ------------------------------------------------------------------------------------


def test_shopifys_sample_orders_carry_only_the_checkout_box_and_it_was_ticked() -> None:
    payload = shopify.sample("orders_create")
    assert payload["buyer_accepts_marketing"] is True
    assert "email_marketing_consent" not in payload["customer"]
    assert "accepts_marketing" not in payload["customer"]
    event = shopify_order_event()
    assert event.customer is not None
    assert event.customer.marketing_consent == "subscribed"


@pytest.mark.parametrize("topic", ["orders_paid", "orders_cancelled"])
def test_every_sample_order_topic_reads_the_same_checkout_box(topic: str) -> None:
    payload = shopify.sample(topic)
    assert payload["buyer_accepts_marketing"] is True
    parsed = shopify.parse(
        shopify.delivery(payload, topic.replace("_", "/")), confirm_on="orders/create"
    )
    customers = [e.customer for e in parsed.events if e.customer is not None]
    assert customers, f"{topic} produced no event with a customer"
    assert {c.marketing_consent for c in customers} == {"subscribed"}


def test_an_unticked_checkout_box_withdraws_nothing_so_it_says_nothing() -> None:
    event = shopify_order_event(buyer_accepts_marketing=False)
    assert event.customer is not None
    assert event.customer.marketing_consent is None


def test_shopifys_sample_new_customer_says_nothing_about_consent() -> None:
    payload = shopify.sample("customers_create")
    assert not {"email_marketing_consent", "accepts_marketing"} & payload.keys()
    event = shopify.only_event(shopify.delivery(payload, "customers/create"))
    assert event.customer is not None
    assert event.customer.marketing_consent is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("subscribed", "subscribed"),
        ("not_subscribed", "not_subscribed"),
        ("pending", "not_subscribed"),  # double opt-in not confirmed yet
        ("unsubscribed", "unsubscribed"),
        ("redacted", "unsubscribed"),  # erased on request: no one to market to
        ("UNSUBSCRIBED", "unsubscribed"),  # GraphQL's spelling
    ],
)
def test_email_marketing_consent_state_is_read_from_the_order_and_the_new_customer(
    state: str, expected: str
) -> None:
    consent = {"state": state, "opt_in_level": "single_opt_in", "consent_updated_at": None}
    event = shopify_order_event(
        buyer_accepts_marketing=True, **with_customer(email_marketing_consent=consent)
    )
    assert event.customer is not None
    assert event.customer.marketing_consent == expected
    created = shopify.sample("customers_create") | {"email_marketing_consent": consent}
    welcome = shopify.only_event(shopify.delivery(created, "customers/create"))
    assert welcome.customer is not None
    assert welcome.customer.marketing_consent == expected


def test_the_consent_state_wins_over_the_deprecated_flags() -> None:
    event = shopify_order_event(
        buyer_accepts_marketing=True,
        **with_customer(email_marketing_consent={"state": "unsubscribed"}, accepts_marketing=True),
    )
    assert event.customer is not None
    assert event.customer.marketing_consent == "unsubscribed"


@pytest.mark.parametrize(("accepts", "expected"), [(True, "subscribed"), (False, "not_subscribed")])
def test_without_a_state_the_deprecated_accepts_marketing_decides(
    accepts: bool, expected: str
) -> None:
    # The REST fixtures (an older API version) carry only accepts_marketing.
    rest_customer = shopify.sample("rest_order")["order"]["customer"]
    assert rest_customer["accepts_marketing"] is False
    event = shopify_order_event(
        buyer_accepts_marketing=not accepts,
        **with_customer(email_marketing_consent={"state": "invalid"}, accepts_marketing=accepts),
    )
    assert event.customer is not None
    assert event.customer.marketing_consent == expected


@pytest.mark.parametrize(
    "consent", ["unsubscribed", {"state": 3}, {"state": "someday"}, ["subscribed"]]
)
def test_a_consent_of_the_wrong_shape_is_unsaid_and_never_refuses_the_order(
    consent: object,
) -> None:
    event = shopify_order_event(
        buyer_accepts_marketing=False,
        **with_customer(email_marketing_consent=consent, accepts_marketing="yes"),
    )
    assert event.order is not None  # the order still confirms
    assert event.customer is not None
    assert event.customer.marketing_consent is None


def test_woocommerce_sends_no_consent() -> None:
    payload = woocommerce.sample("orders__01_create_an_order")
    (event,) = woocommerce.events(woocommerce.delivery(payload, "order.created"))
    assert event.customer is not None
    assert event.customer.marketing_consent is None


# --- keeping it -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "new", "kept"),
    [
        (None, None, None),
        ("subscribed", None, "subscribed"),  # an event that says nothing
        ("unsubscribed", None, "unsubscribed"),
        (None, "subscribed", "subscribed"),
        ("subscribed", "unsubscribed", "unsubscribed"),  # a newer known one replaces it
        ("unsubscribed", "subscribed", "subscribed"),  # subscribing again
        ("not_subscribed", "subscribed", "subscribed"),
        ("unsubscribed", "not_subscribed", "unsubscribed"),  # an objection stays
    ],
)
def test_merged_consent(known: str | None, new: str | None, kept: str | None) -> None:
    assert merged_consent(known, new) == kept  # type: ignore[arg-type]


def test_a_later_snapshot_without_consent_keeps_the_known_one_in_the_order_state() -> None:
    state = merge_event(
        None, orders.placed(customer=orders.customer(marketing_consent="unsubscribed"))
    )
    later = orders.placed("evt-updated", at=orders.PLACED_AT + timedelta(hours=1))
    assert later.customer is not None and later.customer.marketing_consent is None
    state = merge_event(state, later)
    assert state is not None
    assert state.customer.marketing_consent == "unsubscribed"
    newer = orders.placed(
        "evt-subscribed",
        at=orders.PLACED_AT + timedelta(hours=2),
        customer=orders.customer(marketing_consent="subscribed", first_name="Anne"),
    )
    state = merge_event(state, newer)
    assert state is not None
    assert state.customer.marketing_consent == "subscribed"
    assert state.customer.first_name == "Anne"


def test_another_customer_on_the_order_does_not_inherit_the_consent() -> None:
    state = merge_event(
        None, orders.placed(customer=orders.customer(marketing_consent="unsubscribed"))
    )
    other = orders.customer(external_id="c-2", email="ben@example.com")
    state = merge_event(
        state, orders.placed("evt-2", at=orders.PLACED_AT + timedelta(hours=1), customer=other)
    )
    assert state is not None
    assert state.customer.email == "ben@example.com"
    assert state.customer.marketing_consent is None


def test_the_shipped_emails_state_carries_the_consent_stored_with_the_order(
    engine: Engine,
) -> None:
    sessions = session_factory(engine)
    state = merge_event(
        None, orders.placed(customer=orders.customer(marketing_consent="subscribed"))
    )
    with sessions.begin() as s:
        save_order_state(s, state, NOW)
    with sessions.begin() as s:
        stored = load_order_state(s, orders.SOURCE, "o-1001")
    shipped = merge_event(stored, orders.shipped())
    assert shipped is not None and shipped.fulfilments
    assert shipped.customer.marketing_consent == "subscribed"


def _stored_consent(engine: Engine) -> list[str | None]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(CustomerRow.marketing_consent)))


def test_storage_keeps_a_known_consent_against_an_event_without_one(engine: Engine) -> None:
    sessions = session_factory(engine)
    state = merge_event(
        None, orders.placed(customer=orders.customer(marketing_consent="subscribed"))
    )
    assert state is not None
    with sessions.begin() as s:
        save_order_state(s, state, NOW)
    # A customers/create of the same customer, arriving late and saying nothing.
    with sessions.begin() as s:
        save_customers(s.connection(), [(orders.SOURCE, orders.customer(first_name="Anne"))], NOW)
    assert _stored_consent(engine) == ["subscribed"]
    with sessions.begin() as s:
        loaded = load_order_state(s, orders.SOURCE, "o-1001")
    assert loaded is not None
    assert loaded.customer.first_name == "Anne"
    assert loaded.customer.marketing_consent == "subscribed"


def test_storage_takes_a_newer_known_consent_but_never_undoes_an_unsubscribe(
    engine: Engine,
) -> None:
    sessions = session_factory(engine)

    def save(consent: str | None) -> None:
        with sessions.begin() as s:
            customer = orders.customer(marketing_consent=consent)
            save_customers(s.connection(), [(orders.SOURCE, customer)], NOW)

    save("subscribed")
    save("unsubscribed")
    assert _stored_consent(engine) == ["unsubscribed"]
    save("not_subscribed")
    assert _stored_consent(engine) == ["unsubscribed"]
    save(None)
    assert _stored_consent(engine) == ["unsubscribed"]
    save("subscribed")
    assert _stored_consent(engine) == ["subscribed"]


def test_a_customer_named_twice_in_one_group_keeps_the_consent_given_first(
    engine: Engine,
) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        save_customers(
            s.connection(),
            [
                (orders.SOURCE, orders.customer(marketing_consent="unsubscribed")),
                (orders.SOURCE, orders.customer(first_name="Anne")),
            ],
            NOW,
        )
    assert _stored_consent(engine) == ["unsubscribed"]


def test_an_order_state_round_trips_its_consent(engine: Engine) -> None:
    sessions = session_factory(engine)
    state = merge_event(
        None, orders.placed(customer=orders.customer(marketing_consent="not_subscribed"))
    )
    assert state is not None
    with sessions.begin() as s:
        save_order_state(s, replace(state), NOW)
    with sessions.begin() as s:
        assert load_order_state(s, orders.SOURCE, "o-1001") == state
