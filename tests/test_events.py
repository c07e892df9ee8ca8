"""The normalized order event rejects what would produce a wrong email, naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from aftercare.events import EventKind, OrderEvent
from aftercare.sample_store import orders


def _payload(**changes: object) -> dict:
    data = orders.placed().model_dump(mode="json")
    data.update(changes)
    return data


def test_a_valid_event_round_trips_through_json() -> None:
    event = orders.placed()
    again = OrderEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.order is not None and again.order.costs.total == Decimal("107.40")


def test_money_stays_decimal_not_float() -> None:
    data = _payload()
    data["order"]["costs"]["subtotal"] = "0.10"
    event = OrderEvent.model_validate(data)
    assert isinstance(event.order.costs.subtotal, Decimal)
    assert event.order.costs.subtotal + Decimal("0.20") == Decimal("0.30")


@pytest.mark.parametrize(
    ("mutate", "field_named"),
    [
        (lambda d: d["order"].update(currency="EURO"), "currency"),
        (lambda d: d["customer"].update(email="not-an-address"), "email"),
        (lambda d: d.update(occurred_at="2024-06-04T07:00:00"), "occurred_at"),
        (lambda d: d["order"]["line_items"][0].update(quantity=0), "quantity"),
        (lambda d: d["order"]["costs"].update(total="-1"), "total"),
        (lambda d: d["customer"].update(time_zone="Mars/Olympus"), "time_zone"),
        (lambda d: d["customer"].update(locale="xx_NOPE"), "locale"),
        (lambda d: d["order"]["shipping_address"].update(country_code="ZZ"), "country_code"),
        (lambda d: d.update(kind="order_teleported"), "kind"),
        (lambda d: d["order"]["costs"].update(shipping="NaN"), "shipping"),
    ],
)
def test_an_invalid_field_is_named_in_the_error(mutate, field_named: str) -> None:
    data = _payload()
    mutate(data)
    with pytest.raises(ValidationError) as info:
        OrderEvent.model_validate(data)
    assert field_named in str(info.value)


def test_each_kind_demands_what_its_email_needs() -> None:
    with pytest.raises(ValidationError, match="order_shipped event needs fulfilment"):
        OrderEvent(
            kind=EventKind.ORDER_SHIPPED,
            source=orders.SOURCE,
            source_event_id="x",
            occurred_at=orders.SHIPPED_AT,
            order_id="o",
        )


def test_duplicate_line_ids_are_refused() -> None:
    data = _payload()
    data["order"]["line_items"][1]["line_id"] = data["order"]["line_items"][0]["line_id"]
    with pytest.raises(ValidationError, match="share a line_id"):
        OrderEvent.model_validate(data)


def test_unknown_fields_are_refused_rather_than_silently_dropped() -> None:
    with pytest.raises(ValidationError, match="surprise"):
        OrderEvent.model_validate(_payload(surprise=1))


def test_order_id_is_taken_from_the_order_snapshot() -> None:
    assert orders.placed(external_id="o-2002").order_id == "o-2002"
