"""The bundled demo store, "Fern & Field", that ``aftercare demo`` runs the pipeline on.

Fern & Field sells linen clothing and home goods from a workshop in Leipzig. The JSON files
next to this module hold its catalogue (``products.json``), customers (``customers.json``),
order history (``past_orders.json``, which "frequently bought together" learns from) and
a short story of order events (``demo_events.json``) that produces every kind of email.

Two rules keep the demo honest on any day it runs:

- Times are stored relative to "now" (``placed_at_offset_hours: -312`` becomes a timestamp
  13 days before ``now``; ``new_estimated_delivery_offset_days: 9`` a date 9 days ahead),
  so the emails never talk about a parcel that shipped two years ago.
- Every ``source_event_id`` and every order, fulfilment and refund id is a fixed string, so
  running the demo twice hands the pipeline the same events and it deduplicates them
  instead of sending everything again.

In the JSON, an event or past order names its customer by ``customer_id`` (a customer's
``external_id``) instead of repeating the customer, so a customer's details live in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from aftercare.catalogue import Product
from aftercare.events import Customer, Order, OrderEvent

__all__ = ["SAMPLE_STORE_TIME_ZONE", "SOURCE", "SampleStore", "load_sample_store"]

SOURCE = "demo"
"""The ``source`` of every demo event, so demo data never collides with a real store's ids."""

SAMPLE_STORE_TIME_ZONE = ZoneInfo("Europe/Berlin")
"""Fern & Field's time zone (``StoreFacts.time_zone``): relative dates count its calendar days,
and timestamps carry its UTC offset, as a store in Leipzig would send them."""

_HOURS_SUFFIX = "_offset_hours"
_DAYS_SUFFIX = "_offset_days"


@dataclass(frozen=True)
class SampleStore:
    """Everything the demo needs, already validated against the pipeline's own models.

    ``past_order_customer_ids`` maps a past order's ``external_id`` to its customer's
    ``external_id``: ``Order`` has no customer field, and "is this the customer's first
    order?" needs to know whose order history is whose.
    """

    products: tuple[Product, ...]
    customers: tuple[Customer, ...]
    past_orders: tuple[Order, ...]
    events: tuple[OrderEvent, ...]
    past_order_customer_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Events the store sends after the story's emails went out (``"after_the_story": true``
    # in demo_events.json): a carrier's late delivery scan, which must not make the story's
    # own shipped email look stale.
    later_events: tuple[OrderEvent, ...] = ()


def load_sample_store(now: datetime) -> SampleStore:
    """Load Fern & Field with every relative time resolved against ``now``.

    ``now`` must be timezone-aware (a naive time is ambiguous by up to a day, and the demo's
    dates would drift with the machine's zone); it is truncated to the minute so the
    demo's timestamps read like a store's, not like a benchmark's. Raises ``ValueError`` for
    a naive ``now`` and pydantic's ``ValidationError`` if a bundled file is malformed.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("load_sample_store needs a timezone-aware now, e.g. datetime.now(UTC)")
    anchor = now.astimezone(UTC).replace(second=0, microsecond=0)

    customers = tuple(Customer.model_validate(record) for record in _read("customers.json", anchor))
    by_id = {customer.external_id: customer for customer in customers}
    if None in by_id or len(by_id) != len(customers):
        raise ValueError("customers.json: every customer needs a distinct external_id")

    products = tuple(Product.model_validate(record) for record in _read("products.json", anchor))

    past_orders: list[Order] = []
    owners: dict[str, str] = {}
    for record in _read("past_orders.json", anchor):
        customer = _customer(by_id, record["customer_id"], "past_orders.json")
        order = Order.model_validate(record["order"])
        past_orders.append(order)
        owners[order.external_id] = str(customer.external_id)

    events: list[OrderEvent] = []
    later: list[OrderEvent] = []
    for record in _read("demo_events.json", anchor):
        if "customer_id" in record:
            customer_id = record.pop("customer_id")
            record["customer"] = _customer(by_id, customer_id, "demo_events.json")
        after = bool(record.pop("after_the_story", False))
        (later if after else events).append(OrderEvent.model_validate(record))

    return SampleStore(
        products=products,
        customers=customers,
        past_orders=tuple(past_orders),
        events=tuple(events),
        past_order_customer_ids=MappingProxyType(owners),
        later_events=tuple(later),
    )


def _customer(by_id: Mapping[str | None, Customer], customer_id: str, where: str) -> Customer:
    try:
        return by_id[customer_id]
    except KeyError:
        raise ValueError(f"{where}: no customer with external_id {customer_id!r}") from None


def _read(name: str, anchor: datetime) -> list[dict[str, Any]]:
    """One bundled JSON file as a list of records, its relative times made absolute.

    Numbers are parsed as ``Decimal`` so that a price written without quotes keeps its cents.
    """
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    records = _resolve_times(json.loads(text, parse_float=Decimal), anchor, name)
    if not isinstance(records, list):
        raise ValueError(f"{name}: expected a JSON list of records")
    return records


def _resolve_times(value: Any, anchor: datetime, where: str) -> Any:
    """Replace ``<name>_offset_hours`` with a timestamp and ``<name>_offset_days`` with a date.

    Hours are added in UTC so a daylight-saving change between the event and ``now`` cannot
    shift it by an hour; the result is shown in the store's time zone. Days count calendar
    days in the store's time zone, as a promised delivery date does.
    """
    if isinstance(value, list):
        return [_resolve_times(item, anchor, where) for item in value]
    if not isinstance(value, dict):
        return value
    resolved: dict[str, Any] = {}
    for key, item in value.items():
        if key.endswith(_HOURS_SUFFIX):
            name = key.removesuffix(_HOURS_SUFFIX)
            moment = anchor + timedelta(hours=_offset(item, key, where))
            resolved_item: Any = moment.astimezone(SAMPLE_STORE_TIME_ZONE)
        elif key.endswith(_DAYS_SUFFIX):
            name = key.removesuffix(_DAYS_SUFFIX)
            today: date = anchor.astimezone(SAMPLE_STORE_TIME_ZONE).date()
            days = _offset(item, key, where)
            if days != int(days):
                raise ValueError(f"{where}: {key} must be a whole number of days, not {item!r}")
            resolved_item = today + timedelta(days=int(days))
        else:
            name, resolved_item = key, _resolve_times(item, anchor, where)
        if name in resolved or (name != key and name in value):
            raise ValueError(f"{where}: {name!r} is given twice (absolute and relative?)")
        resolved[name] = resolved_item
    return resolved


def _offset(item: Any, key: str, where: str) -> float:
    if isinstance(item, bool) or not isinstance(item, int | Decimal):
        raise ValueError(f"{where}: {key} must be a number, not {item!r}")
    return float(item)
