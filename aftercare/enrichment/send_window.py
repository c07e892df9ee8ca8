"""When a non-urgent email may reach the customer: in their daytime, not at 3 am.

Welcome emails and delay notices are news the customer did not wait for at that moment: a
welcome from a store that imports its customers at night, a delay notice found by the 02:00
scan. They wait for the customer's window (08:00–21:00 by default) in the customer's time
zone: the one they gave the store, else their address's (its region's where the country
spans several zones, ``region_zones``), else the store's. Confirmations, shipping,
delivery and refund emails answer something the customer just did or is waiting for, and
go at once. Times are built as local wall-clock times with ``zoneinfo``, so the window
stays 08:00–21:00 across daylight saving changes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from aftercare.enrichment.region_zones import address_zone
from aftercare.events import Customer
from aftercare.order_state import OrderState


class SendWindow(BaseModel):
    """The hours of the customer's day non-urgent emails go out in
    (``AFTERCARE_SEND_WINDOW__START``, ``AFTERCARE_SEND_WINDOW__END``); outside, they wait
    for the next start. Start equal to end: any time."""

    start: time = time(8, 0)
    end: time = time(21, 0)


class Place(Protocol):
    """What a time zone is told by: an order's ``Address`` or a customer's ``Locality``."""

    @property
    def country_code(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...


def customer_zone(state: OrderState, store_zone: str) -> ZoneInfo:
    """An order's customer's time zone: theirs, else the shipping (or billing) address's,
    else the store's."""
    address = state.order.shipping_address or state.order.billing_address
    return zone_of(state.customer, address, store_zone)


def zone_of(customer: Customer | None, place: Place | None, store_zone: str) -> ZoneInfo:
    """The time zone the customer gave, else the one ``place`` lies in, else the store's."""
    named = customer.time_zone if customer is not None else None
    located = address_zone(place.country_code, place.region, place.city) if place else None
    for name in (named, located, store_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_in_window(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """``now`` if it is within ``start``–``end`` in ``zone``, else the next ``start``.

    ``start == end`` is no window: a store that wants notices out the moment they are found.
    A window past midnight (``start`` after ``end``, 20:00–02:00) is one that wraps.
    """
    if start == end:
        return now
    local = now.astimezone(zone)
    inside = start <= local.time() < end if start < end else not end <= local.time() < start
    if inside:
        return now
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone).astimezone(now.tzinfo)
