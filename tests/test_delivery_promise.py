"""The ship-by date and delivery window a confirmation promises, in business days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import holidays
import pytest
from pydantic import ValidationError

from aftercare.enrichment.promises import (
    DeliveryPromise,
    DeliveryPromiseRules,
    TransitZone,
    add_business_days,
    delivery_window,
    is_business_day,
    is_international,
    order_received_on,
    promise_for,
    transit_days,
)
from aftercare.settings import StoreFacts

CUT_OFF_14 = DeliveryPromiseRules(order_cutoff=time(14, 0))


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


# --- the daily cut-off --------------------------------------------------------------------


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def test_an_order_before_the_cut_off_counts_from_that_day() -> None:
    monday_1359 = berlin(2024, 6, 3, 13, 59)
    assert order_received_on(monday_1359, berlin_store(), CUT_OFF_14) == date(2024, 6, 3)
    assert promise_for(monday_1359, berlin_store(), "DE", CUT_OFF_14).ship_by == date(2024, 6, 6)


def test_an_order_at_or_after_the_cut_off_counts_from_the_next_business_day() -> None:
    monday_1400 = berlin(2024, 6, 3, 14, 0)
    assert order_received_on(monday_1400, berlin_store(), CUT_OFF_14) == date(2024, 6, 4)
    # Tuesday + 3 business days: Wednesday, Thursday, Friday.
    assert promise_for(monday_1400, berlin_store(), "DE", CUT_OFF_14).ship_by == date(2024, 6, 7)


def test_the_default_cut_off_is_two_in_the_afternoon() -> None:
    assert DeliveryPromiseRules().order_cutoff == time(14, 0)
    assert order_received_on(berlin(2024, 6, 3, 14, 30), berlin_store()) == date(2024, 6, 4)


def test_a_friday_afternoon_order_waits_for_monday() -> None:
    friday_1600 = berlin(2024, 6, 7, 16, 0)
    assert order_received_on(friday_1600, berlin_store(), CUT_OFF_14) == date(2024, 6, 10)


def test_a_weekend_order_is_packed_with_mondays_orders() -> None:
    saturday_morning = berlin(2024, 6, 8, 9, 0)
    monday_morning = berlin(2024, 6, 10, 9, 0)
    weekend = promise_for(saturday_morning, berlin_store(), "DE", CUT_OFF_14)
    assert weekend == promise_for(monday_morning, berlin_store(), "DE", CUT_OFF_14)
    assert weekend.ship_by == date(2024, 6, 13)  # Monday + 3: Thursday


def test_without_a_cut_off_a_late_order_counts_from_its_own_day() -> None:
    no_cut_off = DeliveryPromiseRules(order_cutoff=None)
    assert order_received_on(berlin(2024, 6, 3, 23, 59), berlin_store(), no_cut_off) == date(
        2024, 6, 3
    )


def test_the_cut_off_is_in_the_store_time_zone_across_daylight_saving_time() -> None:
    # 12:30 UTC is 13:30 in a Berlin winter (CET, UTC+1) and 14:30 in summer (CEST, UTC+2).
    winter = datetime(2024, 1, 15, 12, 30, tzinfo=UTC)  # Monday
    summer = datetime(2024, 7, 15, 12, 30, tzinfo=UTC)  # Monday
    assert order_received_on(winter, berlin_store(), CUT_OFF_14) == date(2024, 1, 15)
    assert order_received_on(summer, berlin_store(), CUT_OFF_14) == date(2024, 7, 16)


def test_the_same_utc_time_crosses_the_cut_off_once_the_clocks_go_forward() -> None:
    # Sunday 31 March 2024 02:00 CET became 03:00 CEST. The next morning, 12:30 UTC is
    # 14:30 in Berlin: past the cut-off, although it was before it the week before.
    week_before = datetime(2024, 3, 25, 12, 30, tzinfo=UTC)
    after_change = datetime(2024, 4, 2, 12, 30, tzinfo=UTC)  # Tuesday; Monday was Easter
    assert order_received_on(week_before, berlin_store(), CUT_OFF_14) == date(2024, 3, 25)
    assert order_received_on(after_change, berlin_store(), CUT_OFF_14) == date(2024, 4, 3)


def test_an_order_at_23_30_utc_is_placed_the_next_morning_in_berlin() -> None:
    tuesday_2330_utc = datetime(2024, 6, 4, 23, 30, tzinfo=UTC)  # Wednesday 01:30 in Berlin
    assert order_received_on(tuesday_2330_utc, berlin_store(), CUT_OFF_14) == date(2024, 6, 5)


def test_a_store_in_new_york_counts_its_own_afternoon() -> None:
    store = berlin_store(ships_from_country="US", time_zone="America/New_York")
    # 19:30 UTC is 15:30 in New York (EDT, UTC-4) on Monday: after the cut-off.
    assert order_received_on(datetime(2024, 6, 3, 19, 30, tzinfo=UTC), store, CUT_OFF_14) == (
        date(2024, 6, 4)
    )
    # 17:30 UTC is 13:30 there: before it.
    assert order_received_on(datetime(2024, 6, 3, 17, 30, tzinfo=UTC), store, CUT_OFF_14) == (
        date(2024, 6, 3)
    )


def test_an_order_on_a_public_holiday_counts_from_the_next_business_day() -> None:
    unity_day_morning = berlin(2024, 10, 3, 9, 0)  # Thursday, German Unity Day
    assert order_received_on(unity_day_morning, berlin_store(), CUT_OFF_14) == date(2024, 10, 4)


def test_german_christmas_stretches_the_ship_date() -> None:
    calendar = holidays.country_holidays("DE")
    assert date(2024, 12, 25) in calendar and date(2024, 12, 26) in calendar
    assert date(2024, 12, 24) not in calendar  # Christmas Eve is a working day
    monday_before = berlin(2024, 12, 23, 10, 0)
    promise = promise_for(monday_before, berlin_store(), "DE", CUT_OFF_14)
    # Monday + 3 business days: Tuesday 24th, (25th, 26th), Friday 27th, Monday 30th.
    assert promise.ship_by == date(2024, 12, 30)


# --- transit by destination ---------------------------------------------------------------


def test_transit_skips_a_holiday_where_the_parcel_is_delivered() -> None:
    # Shipped Tuesday 26 November 2024, 4-10 international business days. Thanksgiving
    # (Thursday 28th) is a US federal holiday, not a French one.
    assert date(2024, 11, 28) in holidays.country_holidays("US")
    assert date(2024, 11, 28) not in holidays.country_holidays("FR")
    shipped = date(2024, 11, 26)
    to_us = delivery_window(shipped, berlin_store(), "US")
    to_france = delivery_window(shipped, berlin_store(), "FR")
    assert to_france[0] == date(2024, 12, 2)  # Wed 27, Thu 28, Fri 29, Mon 2
    assert to_us[0] == date(2024, 12, 3)  # Wed 27, Fri 29, Mon 2, Tue 3


def test_transit_also_skips_a_holiday_where_the_parcel_leaves() -> None:
    # Shipped Monday 23 December 2024 from Germany to the US, 4 business days: the 25th
    # is a holiday in both countries, the 26th only in Germany, where the parcel still is.
    assert date(2024, 12, 26) not in holidays.country_holidays("US")
    store = berlin_store(international_transit_days=(4, 4))
    window = delivery_window(date(2024, 12, 23), store, "US")
    assert window == (date(2024, 12, 31), date(2024, 12, 31))  # 24, 27, 30, 31


def test_a_country_in_the_transit_table_gets_its_own_days() -> None:
    rules = DeliveryPromiseRules(transit_days_by_country={"us": (6, 14)})
    assert transit_days("US", berlin_store(), rules) == (6, 14)
    assert transit_days("CH", berlin_store(), rules) == (4, 10)  # the international default
    assert transit_days("DE", berlin_store(), rules) == (1, 3)  # the domestic default


def test_a_transit_zone_covers_its_countries_and_the_country_table_wins() -> None:
    rules = DeliveryPromiseRules(
        transit_zones=(
            TransitZone(name="neighbours", countries={"AT", "NL"}, transit_days=(2, 4)),
        ),
        transit_days_by_country={"NL": (1, 2)},
    )
    assert transit_days("AT", berlin_store(), rules) == (2, 4)
    assert transit_days("NL", berlin_store(), rules) == (1, 2)
    assert transit_days("FR", berlin_store(), rules) == (4, 10)


def test_the_promise_uses_the_destination_transit_days() -> None:
    rules = DeliveryPromiseRules(transit_days_by_country={"AT": (2, 2)})
    monday = berlin(2024, 6, 3, 10, 0)
    promise = promise_for(monday, berlin_store(), "AT", rules)
    assert promise == DeliveryPromise(
        ship_by=date(2024, 6, 6), deliver_from=date(2024, 6, 10), deliver_by=date(2024, 6, 10)
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"transit_days_by_country": {"US": (12, 6)}},  # slowest before fastest
        {"transit_days_by_country": {"US": (-1, 3)}},
        {"transit_days_by_country": {"XX": (1, 3)}},  # not a country
        {"order_cutoff": time(14, 0, tzinfo=UTC)},  # the store's time zone decides
        {"transit_zones": ({"name": "nowhere", "countries": [], "transit_days": (1, 2)},)},
    ],
)
def test_promise_rules_refuse_what_cannot_be_meant(fields: dict) -> None:
    with pytest.raises(ValidationError):
        DeliveryPromiseRules(**fields)


def test_rules_read_from_the_environment_shape() -> None:
    rules = DeliveryPromiseRules.model_validate(
        {"order_cutoff": "15:30", "transit_days_by_country": {"us": [5, 12]}}
    )
    assert rules.order_cutoff == time(15, 30)
    assert rules.transit_days_by_country == {"US": (5, 12)}
