"""The ship-by date and delivery window a confirmation promises, in business days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import holidays
import pytest

from aftercare.delivery_promise import (
    DeliveryPromise,
    add_business_days,
    delivery_window,
    is_business_day,
    is_international,
    promise_for,
)
from aftercare.settings import StoreFacts


def berlin_store(**overrides: object) -> StoreFacts:
    fields: dict[str, object] = {
        "ships_from_country": "DE",
        "time_zone": "Europe/Berlin",
        "processing_days_min": 1,
        "processing_days_max": 3,
        "domestic_transit_days": (1, 3),
        "international_transit_days": (4, 10),
    }
    return StoreFacts(**(fields | overrides))


def test_an_order_placed_on_a_monday_ships_three_business_days_later() -> None:
    monday_morning = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    promise = promise_for(monday_morning, berlin_store(), "DE")
    assert promise.ship_by == date(2024, 6, 6)  # Thursday


def test_weekends_are_not_processing_days() -> None:
    thursday = datetime(2024, 6, 6, 8, 0, tzinfo=UTC)
    promise = promise_for(thursday, berlin_store(), "DE")
    assert promise.ship_by == date(2024, 6, 11)  # Fri, (Sat, Sun), Mon, Tue


def test_a_public_holiday_where_the_store_ships_from_is_skipped() -> None:
    assert date(2024, 10, 3) in holidays.country_holidays("DE")  # German Unity Day, Thursday
    wednesday = datetime(2024, 10, 2, 8, 0, tzinfo=UTC)
    promise = promise_for(wednesday, berlin_store(processing_days_max=1), "DE")
    assert promise.ship_by == date(2024, 10, 4)


def test_the_same_date_is_not_a_holiday_for_a_store_shipping_from_france() -> None:
    wednesday = datetime(2024, 10, 2, 8, 0, tzinfo=UTC)
    store = berlin_store(processing_days_max=1, ships_from_country="FR", time_zone="Europe/Paris")
    assert promise_for(wednesday, store, "FR").ship_by == date(2024, 10, 3)


def test_the_order_day_is_counted_in_the_store_time_zone() -> None:
    # 23:30 UTC on Tuesday is already Wednesday in Berlin.
    late_tuesday_utc = datetime(2024, 6, 4, 23, 30, tzinfo=UTC)
    promise = promise_for(late_tuesday_utc, berlin_store(processing_days_max=1), "DE")
    assert promise.ship_by == date(2024, 6, 6)  # Wednesday + 1 business day


def test_zero_processing_days_ships_the_same_business_day_or_the_next_one() -> None:
    store = berlin_store(processing_days_min=0, processing_days_max=0)
    tuesday = datetime(2024, 6, 4, 8, 0, tzinfo=UTC)
    saturday = datetime(2024, 6, 8, 8, 0, tzinfo=UTC)
    assert promise_for(tuesday, store, "DE").ship_by == date(2024, 6, 4)
    assert promise_for(saturday, store, "DE").ship_by == date(2024, 6, 10)


def test_a_domestic_order_gets_the_domestic_transit_window_in_business_days() -> None:
    monday = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    promise = promise_for(monday, berlin_store(), "DE")
    assert promise == DeliveryPromise(
        ship_by=date(2024, 6, 6),  # Thursday
        deliver_from=date(2024, 6, 7),  # + 1 business day: Friday
        deliver_by=date(2024, 6, 11),  # + 3 business days: Fri, Mon, Tue
    )


def test_an_order_to_another_country_gets_the_international_transit_window() -> None:
    monday = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    promise = promise_for(monday, berlin_store(), "CH")
    assert promise.ship_by == date(2024, 6, 6)
    assert promise.deliver_from == date(2024, 6, 12)  # + 4: Fri, Mon, Tue, Wed
    assert promise.deliver_by == date(2024, 6, 20)  # + 10 business days


def test_an_order_without_a_destination_is_treated_as_domestic() -> None:
    assert not is_international(None, berlin_store())
    assert not is_international("de", berlin_store())
    assert is_international("AT", berlin_store())


def test_a_delivery_window_starts_from_the_actual_ship_date() -> None:
    friday = date(2024, 6, 7)
    assert delivery_window(friday, berlin_store(), "DE") == (date(2024, 6, 10), date(2024, 6, 12))


def test_a_naive_order_time_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        promise_for(datetime(2024, 6, 3, 8, 0), berlin_store(), "DE")


def test_business_day_arithmetic_refuses_negative_days() -> None:
    with pytest.raises(ValueError):
        add_business_days(date(2024, 6, 3), -1, "DE")


def test_a_country_without_a_holiday_calendar_still_skips_weekends() -> None:
    # "XX" is no country the holidays package knows.
    assert is_business_day(date(2024, 6, 3), "XX")
    assert not is_business_day(date(2024, 6, 8), "XX")
