"""When a non-urgent email may reach the customer: in their daytime, not at 3 am.

A delay notice found by the 02:00 scan waits for the customer's morning (their time zone:
the one they gave the store, else their country's, else the store's). Times are built as
local wall-clock times with ``zoneinfo``, so the window stays 09:00–20:00 across daylight
saving changes.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytz

from aftercare.order_state import OrderState


def customer_zone(state: OrderState, store_zone: str) -> ZoneInfo:
    """The customer's time zone: theirs, else their shipping country's main one, else the
    store's."""
    for name in (state.customer.time_zone, _country_zone(state), store_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _country_zone(state: OrderState) -> str | None:
    address = state.order.shipping_address or state.order.billing_address
    if address is None:
        return None
    zones = pytz.country_timezones.get(address.country_code.upper())
    return zones[0] if zones else None


def next_in_window(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """``now`` if it is within ``start``–``end`` in ``zone``, else the next ``start``.

    ``start == end`` is no window: a store that wants notices out the moment they are found.
    """
    if start == end:
        return now
    local = now.astimezone(zone)
    if start <= local.time() < end:
        return now
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone).astimezone(now.tzinfo)
