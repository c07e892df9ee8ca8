"""When an order will ship and arrive, in business days, as the store promises it.

Customers read "ships in 3 days" as calendar days; stores mean working days. Counting
weekends and the public holidays of the country the parcels leave from keeps the
promise honest: an order placed the day before German Unity Day does not "ship
tomorrow". The day an order was placed is counted in the store's time zone, because that
is where the packing happens. A later issue adds a daily cut-off hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from aftercare.locale_format import local_date
from aftercare.settings import StoreFacts

_SATURDAY = 5


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


def is_business_day(day: date, country: str) -> bool:
    """Monday to Friday and not a national public holiday in ``country``."""
    if day.weekday() >= _SATURDAY:
        return False
    calendar = _public_holidays(country.upper())
    return calendar is None or day not in calendar


def add_business_days(start: date, days: int, country: str) -> date:
    """The business day ``days`` business days after ``start``.

    With ``days == 0`` the answer is ``start`` itself when it is a business day, else the
    next business day: a same-day promise made on a Sunday is kept on Monday.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    if days == 0:
        while not is_business_day(day, country):
            day += timedelta(days=1)
        return day
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day, country):
            remaining -= 1
    return day


def is_international(destination_country: str | None, store: StoreFacts) -> bool:
    """Whether a parcel crosses a border (customs, longer transit).

    An order without a destination (digital goods, pickup) is not international.
    """
    if destination_country is None:
        return False
    return destination_country.upper() != store.ships_from_country.upper()


def delivery_window(
    shipped_on: date, store: StoreFacts, destination_country: str | None
) -> tuple[date, date]:
    """The first and last day a parcel shipped on ``shipped_on`` should arrive."""
    if is_international(destination_country, store):
        fastest, slowest = store.international_transit_days
    else:
        fastest, slowest = store.domestic_transit_days
    country = store.ships_from_country
    return (
        add_business_days(shipped_on, fastest, country),
        add_business_days(shipped_on, slowest, country),
    )


def promise_for(
    placed_at: datetime, store: StoreFacts, destination_country: str | None
) -> DeliveryPromise:
    """The ship-by date and delivery window for an order placed at ``placed_at``.

    Uses the slowest processing time: a promise the store beats is a pleasant surprise,
    one it misses is a support ticket.
    """
    placed_on = local_date(placed_at, store.time_zone)
    ship_by = add_business_days(placed_on, store.processing_days_max, store.ships_from_country)
    deliver_from, deliver_by = delivery_window(ship_by, store, destination_country)
    return DeliveryPromise(ship_by=ship_by, deliver_from=deliver_from, deliver_by=deliver_by)
