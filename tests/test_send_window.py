"""The send window: welcome emails and delay notices reach customers between 08:00 and 21:00
of their own day, their zone read from the shipping address (its region where the country
spans several zones); confirmations, shipping, delivery and refund emails go at once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import drain, receive_event
from aftercare.drain.pipeline import Pipeline
from aftercare.enrichment.region_zones import address_zone, country_zone
from aftercare.enrichment.send_window import SendWindow, next_in_window, zone_of
from aftercare.events import Locality
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.schema import OutboxEmailRow
from tests.conftest import Clock

# These tests are about the send window: they keep the default hours (tests/conftest.py).
pytestmark = pytest.mark.real_send_window

WINDOW = SendWindow()
LOS_ANGELES = orders.address(
    city="Los Angeles", region="California", postal_code="90012", country_code="US"
)
VLADIVOSTOK = orders.address(
    city="Vladivostok", region="Primorsky Krai", postal_code="690091", country_code="RU"
)


def _email(engine: Engine, kind: str) -> OutboxEmailRow:
    with Session(engine) as s:
        return s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.kind == kind)).one()


def test_the_default_window_is_eight_to_nine() -> None:
    assert (WINDOW.start, WINDOW.end) == (time(8), time(21))
    assert Settings(_env_file=None).send_window == WINDOW


def test_the_earlier_delay_window_settings_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_DELAYS__SEND_WINDOW_START", "09:00")
    monkeypatch.setenv("AFTERCARE_DELAYS__SEND_WINDOW_END", "20:00")
    assert Settings(_env_file=None).send_window == SendWindow(start=time(9), end=time(20))
    # the new name wins where both are set
    monkeypatch.setenv("AFTERCARE_SEND_WINDOW__START", "07:30")
    assert Settings(_env_file=None).send_window.start == time(7, 30)


# --- the zone of an address -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "city", "zone"),
    [
        ("US", "CA", None, "America/Los_Angeles"),  # WooCommerce's state code
        ("US", "California", "Los Angeles", "America/Los_Angeles"),  # Shopify's province
        ("US", "US-AZ", None, "America/Phoenix"),  # no daylight saving time
        ("US", "Kentucky", None, "America/New_York"),  # the country's main zone
        ("US", "Arkansas", None, "America/Chicago"),  # not "Kansas" inside it
        ("CA", "ON", "Ottawa", "America/Toronto"),  # not the tz database's first, St John's
        ("CA", "British Columbia", None, "America/Vancouver"),
        ("MX", "Baja California Sur", None, "America/Mazatlan"),
        ("MX", "Baja California", None, "America/Tijuana"),
        ("BR", "Rondônia", None, "America/Porto_Velho"),
        ("BR", "SP", None, "America/Sao_Paulo"),
        ("AU", "Western Australia", None, "Australia/Perth"),
        ("AU", None, "Sydney", "Australia/Sydney"),
        ("ID", "Bali", None, "Asia/Makassar"),
        ("RU", "Приморский край", None, "Asia/Vladivostok"),
        ("RU", None, "Vladivostok", "Asia/Vladivostok"),  # WooCommerce keeps no Russian states
        ("RU", "Tomsk Oblast", None, "Asia/Tomsk"),  # not Omsk
        ("RU", "Sakhalin Oblast", None, "Asia/Sakhalin"),  # not Sakha
        ("RU", None, "Moscow", "Europe/Moscow"),  # not Kaliningrad
        ("ES", "Las Palmas", None, "Atlantic/Canary"),
        ("TH", None, "Bangkok", "Asia/Bangkok"),
        ("DE", "Sachsen", "Leipzig", "Europe/Berlin"),
    ],
)
def test_an_address_lies_in_its_regions_zone(
    country: str, region: str | None, city: str | None, zone: str
) -> None:
    assert address_zone(country, region, city) == zone


def test_every_table_zone_is_a_real_zone() -> None:
    from aftercare.enrichment import region_zones

    for regions in region_zones._REGIONS.values():
        for region in regions:
            ZoneInfo(region.zone)
    for code in region_zones.MAIN_ZONES:
        ZoneInfo(country_zone(code) or "")


def test_the_customers_own_zone_wins_over_their_address() -> None:
    customer = orders.customer(time_zone="Asia/Tokyo")
    assert zone_of(customer, LOS_ANGELES, "Europe/Berlin") == ZoneInfo("Asia/Tokyo")
    assert zone_of(orders.customer(), None, "Europe/Berlin") == ZoneInfo("Europe/Berlin")


# --- the window, on the wall clock ----------------------------------------------------------


def test_on_the_day_clocks_spring_forward_the_window_opens_at_eight_local() -> None:
    # Los Angeles, 8 March 2026: 02:00 PST becomes 03:00 PDT; 08:00 is 15:00 UTC, not 16:00.
    zone = ZoneInfo("America/Los_Angeles")
    night = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert next_in_window(night, zone, WINDOW.start, WINDOW.end) == datetime(
        2026, 3, 8, 15, 0, tzinfo=UTC
    )
    # and on the day they fall back (1 November 2026), 08:00 PST is 16:00 UTC
    night = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 01:00 PST (the second one)
    assert next_in_window(night, zone, WINDOW.start, WINDOW.end) == datetime(
        2026, 11, 1, 16, 0, tzinfo=UTC
    )


def test_a_window_past_midnight_wraps() -> None:
    zone = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 6, 1, 22, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert next_in_window(late, zone, time(20), time(2)) == late
    morning = datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert next_in_window(morning, zone, time(20), time(2)) == datetime(
        2026, 6, 2, 18, 0, tzinfo=UTC
    )


# --- through the drain -----------------------------------------------------------------------


def test_a_welcome_at_night_in_california_waits_for_eight_in_los_angeles(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    california = Locality(country_code="US", region="CA", city="San Francisco")
    # 05:00 UTC on 4 June 2024 is 22:00 on the 3rd in California (07:00 in Berlin)
    clock.now = datetime(2024, 6, 4, 5, 0, tzinfo=UTC)
    receive_event(pipeline := clocked_pipeline, orders.welcome(at=clock.now, locality=california))
    drain(pipeline)
    email = _email(engine, "welcome")
    assert email.status == "pending"
    assert email.next_attempt_at == datetime(2024, 6, 4, 15, 0, tzinfo=UTC)  # 08:00 PDT
    clock.now = datetime(2024, 6, 4, 15, 1, tzinfo=UTC)
    drain(pipeline)
    assert _email(engine, "welcome").status == "sent"


def test_a_welcome_at_23_utc_goes_at_once_to_california_where_it_is_afternoon(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    # 23:00 UTC is 01:00 in the store's Berlin, but 16:00 in Los Angeles: the customer's day.
    clock.now = datetime(2024, 6, 4, 23, 0, tzinfo=UTC)
    california = Locality(country_code="US", region="California")
    receive_event(clocked_pipeline, orders.welcome(at=clock.now, locality=california))
    drain(clocked_pipeline)
    assert _email(engine, "welcome").status == "sent"


def test_a_delay_notice_to_vladivostok_waits_for_its_morning_and_shipping_goes_at_once(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    order = orders.order(shipping_address=VLADIVOSTOK)
    receive_event(pipeline, orders.placed(order=order))
    drain(pipeline)
    # 19:00 UTC on 10 June is 05:00 on the 11th in Vladivostok (UTC+10), 21:00 in Berlin
    clock.now = datetime(2024, 6, 10, 19, 0, tzinfo=UTC)
    receive_event(pipeline, orders.delayed(at=clock.now))  # the store's own delay webhook
    drain(pipeline)
    delayed = _email(engine, "order_delayed")
    assert delayed.status == "pending"
    assert delayed.next_attempt_at == datetime(2024, 6, 10, 22, 0, tzinfo=UTC)  # 08:00 VLAT
    # a parcel leaving at the same hour of the night is news the customer waits for
    receive_event(pipeline, orders.shipped(at=clock.now + timedelta(minutes=1)))
    clock.now += timedelta(minutes=2)
    drain(pipeline)
    shipped = _email(engine, "order_shipped")
    assert shipped.status == "sent"
    assert _email(engine, "order_delayed").status == "pending"
