"""When an order will ship and arrive, in business days, as the store promises it.

Customers read "ships in 3 days" as calendar days; stores mean working days. Counting
weekends and the public holidays of the country the parcels leave from keeps the
promise honest: an order placed the day before German Unity Day does not "ship
tomorrow". The day an order was placed is counted in the store's time zone, because that
is where the packing happens, and an order placed after the store's daily cut-off (or on
a day the warehouse is closed) joins the next working day's packing.

A parcel in transit is held up by a public holiday at either end of its journey, so
transit days count the days that are working days both where it leaves and where it is
delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from aftercare.events import CountryCode
from aftercare.order_state import OrderState

_SATURDAY = 5
_MAX_DAYS = 120


def _ordered(days: tuple[int, int]) -> tuple[int, int]:
    fastest, slowest = days
    if not 0 <= fastest <= slowest <= _MAX_DAYS:
        raise ValueError(
            f"transit days {days} must be (fastest, slowest) with 0 <= fastest <= slowest"
            f" <= {_MAX_DAYS}"
        )
    return days


TransitDays = Annotated[tuple[int, int], AfterValidator(_ordered)]


class TransitZone(BaseModel):
    """Countries a store's carriers reach in the same number of business days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    countries: frozenset[CountryCode] = Field(min_length=1)
    transit_days: TransitDays


class DeliveryPromiseRules(BaseModel):
    """The store's daily cut-off and its transit times by destination.

    ``order_cutoff`` is a local time in the store's time zone (``StoreFacts.time_zone``):
    an order placed at or after it is packed with the next working day's orders; ``None``
    counts every order from the day it was placed. Transit days for a destination come from
    ``transit_days_by_country``, else the first of ``transit_zones`` that lists the
    country, else ``StoreFacts.domestic_transit_days`` or ``international_transit_days``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_cutoff: time | None = time(14, 0)
    transit_days_by_country: dict[CountryCode, TransitDays] = Field(default_factory=dict)
    transit_zones: tuple[TransitZone, ...] = ()

    @field_validator("order_cutoff")
    @classmethod
    def _local_time(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("order_cutoff is a local time in the store's zone, no UTC offset")
        return value


class PromiseTerms(Protocol):
    """The store facts a promise is computed from: this module's slice of ``StoreFacts``.

    Declared here rather than imported, so the settings can embed ``DeliveryPromiseRules``
    without the two modules importing each other; ``StoreFacts`` has every one of them.
    """

    @property
    def ships_from_country(self) -> str: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def processing_days_max(self) -> int: ...
    @property
    def domestic_transit_days(self) -> tuple[int, int]: ...
    @property
    def international_transit_days(self) -> tuple[int, int]: ...
    @property
    def delivery_promise(self) -> DeliveryPromiseRules: ...


@dataclass(frozen=True)
class DeliveryPromise:
    """The dates a confirmation email commits to."""

    ship_by: date
    deliver_from: date
    deliver_by: date


@lru_cache(maxsize=64)
def _public_holidays(country: str) -> holidays.HolidayBase | None:
    """National public holidays of ``country``; ``None`` when the package has no calendar.

    The calendar expands to new years on lookup, so one object per country is enough.
    """
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


@lru_cache(maxsize=8192)
def is_business_day(day: date, country: str) -> bool:
    """Monday to Friday and not a national public holiday in ``country``."""
    if day.weekday() >= _SATURDAY:
        return False
    calendar = _public_holidays(country.upper())
    return calendar is None or day not in calendar


def _add_open_days(start: date, days: int, is_open: Callable[[date], bool]) -> date:
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    if days == 0:
        while not is_open(day):
            day += timedelta(days=1)
        return day
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_open(day):
            remaining -= 1
    return day


def add_business_days(start: date, days: int, country: str) -> date:
    """The business day ``days`` business days after ``start``.

    With ``days == 0`` the answer is ``start`` itself when it is a business day, else the
    next business day: a same-day promise made on a Sunday is kept on Monday.
    """
    return _add_open_days(start, days, lambda day: is_business_day(day, country))


def is_international(destination_country: str | None, store: PromiseTerms) -> bool:
    """Whether a parcel crosses a border (customs, longer transit).

    An order without a destination (digital goods, pickup) is not international.
    """
    if destination_country is None:
        return False
    return destination_country.upper() != store.ships_from_country.upper()


def transit_days(
    destination_country: str | None, store: PromiseTerms, rules: DeliveryPromiseRules | None = None
) -> tuple[int, int]:
    """(fastest, slowest) business days from handover to the carrier to the doorstep."""
    rules = rules or store.delivery_promise
    if destination_country is not None:
        country = destination_country.upper()
        if country in rules.transit_days_by_country:
            return rules.transit_days_by_country[country]
        for zone in rules.transit_zones:
            if country in zone.countries:
                return zone.transit_days
    if is_international(destination_country, store):
        return store.international_transit_days
    return store.domestic_transit_days


def delivery_window(
    shipped_on: date,
    store: PromiseTerms,
    destination_country: str | None,
    rules: DeliveryPromiseRules | None = None,
) -> tuple[date, date]:
    """The first and last day a parcel shipped on ``shipped_on`` should arrive."""
    fastest, slowest = transit_days(destination_country, store, rules)
    calendars = {store.ships_from_country.upper(), (destination_country or "").upper()} - {""}

    def is_transit_day(day: date) -> bool:
        return all(is_business_day(day, country) for country in calendars)

    return (
        _add_open_days(shipped_on, fastest, is_transit_day),
        _add_open_days(shipped_on, slowest, is_transit_day),
    )


def order_received_on(
    placed_at: datetime, store: PromiseTerms, rules: DeliveryPromiseRules | None = None
) -> date:
    """The working day whose packing an order placed at ``placed_at`` joins.

    The order's local time in the store's time zone decides (23:30 UTC is already the next
    morning in Berlin); at or after the cut-off, or on a weekend or public holiday where
    the store ships from, the order waits for the next working day.
    """
    if placed_at.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass a timezone-aware one")
    rules = rules or store.delivery_promise
    local = placed_at.astimezone(ZoneInfo(store.time_zone))
    day = local.date()
    if rules.order_cutoff is not None and local.time() >= rules.order_cutoff:
        day += timedelta(days=1)
    return add_business_days(day, 0, store.ships_from_country)


def promise_for(
    placed_at: datetime,
    store: PromiseTerms,
    destination_country: str | None,
    rules: DeliveryPromiseRules | None = None,
) -> DeliveryPromise:
    """The ship-by date and delivery window for an order placed at ``placed_at``.

    Uses the slowest processing time, counted from the working day the order joins: a
    promise the store beats is a pleasant surprise, one it misses is a support ticket.
    """
    rules = rules or store.delivery_promise
    received_on = order_received_on(placed_at, store, rules)
    ship_by = add_business_days(received_on, store.processing_days_max, store.ships_from_country)
    deliver_from, deliver_by = delivery_window(ship_by, store, destination_country, rules)
    return DeliveryPromise(ship_by=ship_by, deliver_from=deliver_from, deliver_by=deliver_by)


def promise_of(
    state: OrderState, store: PromiseTerms, now: datetime | None = None
) -> DeliveryPromise:
    """The promise an order was made: the dates stored with it, else computed.

    A promise stored with the order wins over a fresh computation, so a later change to
    the store's processing time does not rewrite what a customer was told. With ``now``,
    an order first seen after its ship-by date (events processed late: a backlog, a
    stalled drain, a replay) is promised from ``now`` instead: never a date already gone.
    The window's first day is never after its last (a stored promise can be earlier than
    today's rules).
    """
    order = state.order
    destination = order.shipping_address.country_code if order.shipping_address else None
    computed = promise_for(order.placed_at, store, destination)
    if now is not None and state.promised_ship_by is None:
        today = now.astimezone(ZoneInfo(store.time_zone)).date()
        if computed.ship_by < today:
            computed = promise_for(now, store, destination)
    ship_by = state.promised_ship_by or computed.ship_by
    deliver_by = state.promised_deliver_by or computed.deliver_by
    return DeliveryPromise(
        ship_by=ship_by, deliver_from=min(computed.deliver_from, deliver_by), deliver_by=deliver_by
    )
