"""The delay notice for a parcel the carrier reports as delayed or undeliverable.

Carriers say little ("exception", "delayed"), so the notice pairs their words with the store's
own promise of what it will do, and a new date that is honest: the carrier's new estimate when
it gives one, else the old promise moved by the store's allowance.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from aftercare.enrichment.promises import add_business_days
from aftercare.events import DelayNotice, ShipmentStatus, ShipmentUpdate
from aftercare.order_state import OrderState


class CarrierDelayTerms(Protocol):
    """This module's slice of ``StoreFacts``: what the store promises when a carrier is late."""

    @property
    def time_zone(self) -> str: ...
    @property
    def ships_from_country(self) -> str: ...
    @property
    def carrier_delay_extra_days(self) -> int: ...
    @property
    def carrier_delay_promise(self) -> str: ...


def carrier_delay_notice(
    update: ShipmentUpdate, state: OrderState, store: CarrierDelayTerms, now: datetime
) -> DelayNotice:
    parcel = state.fulfilment(update.fulfilment_id)
    carrier = (parcel.carrier if parcel else None) or "The carrier"
    if update.status is ShipmentStatus.FAILURE:
        reason = f"{carrier} could not deliver your parcel"
    else:
        reason = f"{carrier} reported a delay with your parcel"
    if update.message:
        reason += f": {update.message.strip().rstrip('.')}"
    reason += "."
    return DelayNotice(
        reason=reason,
        new_estimated_delivery=_new_date(update, state, store, now),
        what_we_will_do=store.carrier_delay_promise,
    )


def _new_date(
    update: ShipmentUpdate, state: OrderState, store: CarrierDelayTerms, now: datetime
) -> date:
    zone = ZoneInfo(store.time_zone)
    today = now.astimezone(zone).date()
    if update.estimated_delivery_at is not None:
        estimate = update.estimated_delivery_at.astimezone(zone).date()
        if estimate > today:
            return estimate
    base = max(filter(None, (state.promised_deliver_by, today)))
    return add_business_days(base, store.carrier_delay_extra_days, store.ships_from_country)
