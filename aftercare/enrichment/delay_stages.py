"""When an order is late, at which stage, and when to look at it again.

Customers forgive a delay they hear about first. An order is late *before shipping* when it
has not left by its promised ship-by date plus a grace period, and late *in transit* when
a parcel has not arrived by the promised delivery date plus the grace, or its carrier has
said nothing for some business days (more abroad). Cancelled, refunded and delivered
orders are never late, and neither is an order with nothing to ship.

``next_check`` says when an order could next become late, so the store keeps one indexed
timestamp per order and the scan reads only the orders whose moment has come
(``drain/delay_scan.py``): its cost follows the late orders, not all orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from aftercare.enrichment.promises import add_business_days
from aftercare.events import ShipmentStatus
from aftercare.order_state import OrderState


class DelayStage(StrEnum):
    BEFORE_SHIPPING = "before_shipping"
    IN_TRANSIT = "in_transit"


class DelayRules(BaseModel):
    """The store's patience: business days of grace, and of carrier silence."""

    grace_business_days: int = Field(default=1, ge=0, le=30)
    silent_business_days_domestic: int = Field(default=3, ge=1, le=60)
    silent_business_days_international: int = Field(default=5, ge=1, le=60)
    # After a stage's notice, its new date is the promise; when that passes too (plus the
    # grace), this many follow-up notices at most. 0: one notice per stage, ever.
    follow_ups: int = Field(default=1, ge=0, le=5)
    # The honest reason a notice gives, per stage; the store can set a current one ("a
    # storm closed the carrier's hub in Leipzig"). Never a made-up stock excuse.
    reason_before_shipping: str = (
        "Your order is taking longer than we promised to leave our workshop."
    )
    reason_in_transit: str = "Your parcel is taking longer than expected to reach you."
    # Earlier names of the send window (``AFTERCARE_DELAYS__SEND_WINDOW_START``, ``..._END``),
    # still read: when set and ``AFTERCARE_SEND_WINDOW__*`` is not, they are the window of
    # every non-urgent email (``Settings.send_window``, ``enrichment/send_window.py``).
    send_window_start: time | None = None
    send_window_end: time | None = None
    # Codes the scan may give away, one per notice, each once ("SORRY-4F2K"); with a
    # description the email shows ("10 % off your next order"). Empty: no coupon.
    coupon_codes: tuple[str, ...] = ()
    coupon_description: str | None = None
    # What the store does about an order that has not left yet (in transit, the store's
    # ``carrier_delay_promise`` says it).
    promise_before_shipping: str = (
        "We are packing your order first thing and will email you the tracking link the day"
        " it leaves us."
    )


class StoreCalendar(Protocol):
    """What the rules need of the store (``StoreFacts`` has it)."""

    @property
    def ships_from_country(self) -> str: ...
    @property
    def time_zone(self) -> str: ...


@dataclass(frozen=True)
class LateOrder:
    stage: DelayStage
    since: date  # the first day it counted as late
    why: str  # for the record: which promise or silence made it late


_FINISHED_PARCEL = {ShipmentStatus.DELIVERED.value}


def _late_after(day: date, days: int, store: StoreCalendar) -> date:
    """The first day that counts as late: ``days`` business days after ``day``, then one."""
    return add_business_days(day, days, store.ships_from_country) + timedelta(days=1)


def _never_late(state: OrderState) -> bool:
    order = state.order
    if order.cancelled_at is not None:
        return True
    if not any(item.requires_shipping for item in order.line_items):
        return True
    refunded = sum((r.amount for r in state.refunds), start=0)
    return bool(state.refunds) and refunded >= order.costs.total


def _abroad(state: OrderState, store: StoreCalendar) -> bool:
    address = state.order.shipping_address
    return address is not None and address.country_code.upper() != store.ships_from_country.upper()


Told = Mapping[DelayStage, int]  # the notices already raised, per stage


def _moments(
    state: OrderState, rules: DelayRules, store: StoreCalendar, told: Told
) -> list[tuple[date, DelayStage, str]]:
    """The days on which ``state`` would count as late, each with its stage and why.

    A stage told ``follow_ups + 1`` times is never late again; one told fewer times is late
    again only when the new date its last notice gave has passed too (the notice made it
    the promise), not because the carrier is still silent.
    """
    if _never_late(state):
        return []
    moments = [
        m for m in _all_moments(state, rules, store) if told.get(m[1], 0) <= rules.follow_ups
    ]
    return [m for m in moments if not told.get(m[1], 0) or not m[2].startswith(_SILENCE)]


_SILENCE = "no word from the carrier"


def _all_moments(
    state: OrderState, rules: DelayRules, store: StoreCalendar
) -> list[tuple[date, DelayStage, str]]:
    parcels = state.fulfilments
    if not parcels:
        if state.promised_ship_by is None:
            return []
        return [
            (
                _late_after(state.promised_ship_by, rules.grace_business_days, store),
                DelayStage.BEFORE_SHIPPING,
                f"not shipped by {state.promised_ship_by.isoformat()}",
            )
        ]
    moving = [p for p in parcels if p.status not in _FINISHED_PARCEL]
    if not moving:
        return []
    zone = ZoneInfo(store.time_zone)
    silence = (
        rules.silent_business_days_international
        if _abroad(state, store)
        else rules.silent_business_days_domestic
    )
    found = []
    if state.promised_deliver_by is not None:
        found.append(
            (
                _late_after(state.promised_deliver_by, rules.grace_business_days, store),
                DelayStage.IN_TRANSIT,
                f"not delivered by {state.promised_deliver_by.isoformat()}",
            )
        )
    for parcel in moving:
        heard = (parcel.status_at or parcel.created_at).astimezone(zone).date()
        found.append(
            (
                _late_after(heard, silence, store),
                DelayStage.IN_TRANSIT,
                f"{_SILENCE} since {heard.isoformat()}",
            )
        )
    return found


def late_order(
    state: OrderState,
    now: datetime,
    rules: DelayRules,
    store: StoreCalendar,
    told: Told | None = None,
) -> LateOrder | None:
    """At which stage ``state`` is late at ``now`` (the store's day), or ``None``; ``told``:
    the notices already raised per stage (see ``_moments``)."""
    today = now.astimezone(ZoneInfo(store.time_zone)).date()
    due = [m for m in _moments(state, rules, store, told or {}) if m[0] <= today]
    if not due:
        return None
    day, stage, why = min(due)
    return LateOrder(stage, day, why)


def next_check(
    state: OrderState,
    rules: DelayRules,
    store: StoreCalendar,
    told: Told | None = None,
) -> datetime | None:
    """When ``state`` could next count as late, given the notices ``told`` (the start of
    that day, store time); ``None`` when nothing about it can become late."""
    moments = _moments(state, rules, store, told or {})
    if not moments:
        return None
    day = min(day for day, _, _ in moments)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(store.time_zone))
