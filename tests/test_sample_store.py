"""The bundled demo store must be data the pipeline can run end to end, on any day.

These tests read the sample store the way the demo does and check the things a broken
fixture would otherwise only reveal as an odd email: totals that do not add up, a shipment
of a line the order does not have, a refund for an order the pipeline never saw, a link
that is not https, or an email address at a domain someone actually owns.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from aftercare.catalogue import Product
from aftercare.emails.kinds import EmailKind, plan_emails
from aftercare.enrichment.promises import promise_for
from aftercare.events import EventKind, Order
from aftercare.order_state import OrderState, merge_event
from aftercare.sample_store import SAMPLE_STORE_TIME_ZONE, SOURCE, SampleStore, load_sample_store
from aftercare.settings import StoreFacts

NOW = datetime(2025, 3, 28, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # the Friday before DST
CENT = Decimal("0.01")
DATA_FILES = ("products.json", "customers.json", "past_orders.json", "demo_events.json")
RESERVED_EMAIL_DOMAINS = {"example.com", "example.net", "example.org"}  # RFC 2606


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return load_sample_store(NOW)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _placed_orders(store: SampleStore) -> dict[str, Order]:
    return {e.order.external_id: e.order for e in store.events if e.order is not None}


def _all_orders(store: SampleStore) -> list[Order]:
    return [*store.past_orders, *_placed_orders(store).values()]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _loaded_strings(store: SampleStore) -> list[str]:
    models = [*store.products, *store.customers, *store.past_orders, *store.events]
    return [s for model in models for s in _strings(model.model_dump(mode="json"))]


def _raw_strings() -> list[str]:
    package = resources.files("aftercare.sample_store")
    found: list[str] = []
    for name in DATA_FILES:
        found.extend(_strings(json.loads(package.joinpath(name).read_text(encoding="utf-8"))))
    return found


# --- loading ------------------------------------------------------------------------------


def test_every_record_validates_and_the_store_is_small_but_believable(store: SampleStore) -> None:
    assert 10 <= len(store.products) <= 15
    assert all(isinstance(p, Product) for p in store.products)
    assert len({p.product_id for p in store.products}) == len(store.products)
    assert len({p.sku for p in store.products}) == len(store.products)
    assert all(p.currency == "EUR" for p in store.products)
    out_of_stock = [p for p in store.products if not p.in_stock]
    assert 2 <= len(out_of_stock) <= 3, "a couple out of stock, so cross-sell has something to skip"

    assert len(store.customers) >= 4
    assert len({c.email for c in store.customers}) == len(store.customers)
    assert all(c.locale and c.time_zone and c.first_name for c in store.customers)
    assert len({c.time_zone for c in store.customers}) >= 4
    assert {"de_DE", "en_US", "en_GB", "fr_FR"} <= {c.locale for c in store.customers}

    assert 8 <= len(store.past_orders) <= 12
    assert set(store.past_order_customer_ids) == {o.external_id for o in store.past_orders}
    customer_ids = {c.external_id for c in store.customers}
    assert set(store.past_order_customer_ids.values()) <= customer_ids

    assert all(e.source == SOURCE == "demo" for e in store.events)
    assert len({e.source_event_id for e in store.events}) == len(store.events)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        load_sample_store(datetime(2025, 3, 28, 9, 30))


def test_the_store_time_zone_is_fern_and_fields() -> None:
    assert str(SAMPLE_STORE_TIME_ZONE) == StoreFacts().time_zone


def test_ids_are_fixed_and_times_follow_now(store: SampleStore) -> None:
    shift = timedelta(days=40, hours=5)  # across the switch to summer time
    later = load_sample_store(NOW.astimezone(UTC) + shift)

    def elapsed(early: datetime, late: datetime) -> timedelta:
        # Same-tzinfo subtraction in Python is wall-clock time; real elapsed time is in UTC.
        return late.astimezone(UTC) - early.astimezone(UTC)

    def ids(s: SampleStore) -> list[tuple[str | None, ...]]:
        rows: list[tuple[str | None, ...]] = [
            (
                e.kind.value,
                e.source_event_id,
                e.order_id,
                e.order.external_id if e.order else None,
                e.fulfilment.external_id if e.fulfilment else None,
                e.refund.external_id if e.refund else None,
                e.customer.external_id if e.customer else None,
            )
            for e in s.events
        ]
        rows += [
            (o.external_id, o.number, *(i.line_id for i in o.line_items)) for o in s.past_orders
        ]
        return rows

    assert ids(store) == ids(later)
    for early, late in zip(store.events, later.events, strict=True):
        assert elapsed(early.occurred_at, late.occurred_at) == shift
        assert late.model_dump(
            exclude={"occurred_at", "order", "fulfilment", "refund", "delay"}
        ) == (early.model_dump(exclude={"occurred_at", "order", "fulfilment", "refund", "delay"}))
    for early, late in zip(store.past_orders, later.past_orders, strict=True):
        assert elapsed(early.placed_at, late.placed_at) == shift


def test_times_are_relative_to_now_and_in_the_past(store: SampleStore) -> None:
    for event in store.events:
        assert event.occurred_at <= NOW
        assert event.occurred_at.tzinfo == SAMPLE_STORE_TIME_ZONE, "as a store in Leipzig sends it"
    assert all(o.placed_at < min(e.occurred_at for e in store.events) for o in store.past_orders)
    assert max(e.occurred_at for e in store.events) > NOW - timedelta(days=1), (
        "the story is current"
    )
    raw = "".join(_raw_strings())
    assert not re.search(r"\d{4}-\d{2}-\d{2}", raw), "absolute dates would make the demo age"


# --- the story ----------------------------------------------------------------------------


def test_events_are_in_chronological_order(store: SampleStore) -> None:
    times = [e.occurred_at for e in store.events]
    assert times == sorted(times)


def test_every_kind_of_email_is_produced(store: SampleStore) -> None:
    """The story's events call for four kinds; the delay notice is the delay scan's, for the
    order placed eleven days ago and never shipped; the delivered emails are the carrier's
    scans that arrive after the story (the long-delivered parcel's is old news, skipped)."""
    planned = [email for event in store.events for email in plan_emails(event)]
    assert {email.kind for email in planned} == set(EmailKind) - {
        EmailKind.ORDER_DELAYED,
        EmailKind.ORDER_DELIVERED,
    }
    assert len({email.idempotency_key for email in planned}) == len(planned)
    later = [email for event in store.later_events for email in plan_emails(event)]
    assert [email.kind for email in later] == [EmailKind.ORDER_DELIVERED] * 3
    kinds = Counter(e.kind for e in store.events)
    assert kinds[EventKind.CUSTOMER_CREATED] >= 1
    assert kinds[EventKind.ORDER_PLACED] >= 2
    assert [state.order.number for state in _late_story_orders(store, NOW)] == ["FF-1042"]


def _late_story_orders(store: SampleStore, now: datetime, shift: timedelta = timedelta(0)):  # noqa: ANN202
    """The story's orders as the delay scan sees them at ``now`` (all times moved by
    ``shift``): each with the promise made when it was placed."""
    from dataclasses import replace

    from aftercare.enrichment.delay_stages import DelayRules, late_order

    facts, rules = StoreFacts(), DelayRules()
    states: dict[str, OrderState] = {}
    for event in store.events:
        if event.order_id is None:
            continue
        moved = event.model_copy(update={"occurred_at": event.occurred_at + shift})
        if moved.order is not None:
            moved = moved.model_copy(
                update={
                    "order": moved.order.model_copy(
                        update={"placed_at": moved.order.placed_at + shift}
                    )
                }
            )
        if moved.fulfilment is not None:
            created = moved.fulfilment.created_at + shift
            moved = moved.model_copy(
                update={"fulfilment": moved.fulfilment.model_copy(update={"created_at": created})}
            )
        states[event.order_id] = merge_event(states.get(event.order_id), moved)
    late = []
    for state in states.values():
        country = (
            state.order.shipping_address.country_code if state.order.shipping_address else None
        )
        promise = promise_for(state.order.placed_at, facts, country)
        promised = replace(
            state, promised_ship_by=promise.ship_by, promised_deliver_by=promise.deliver_by
        )
        found = late_order(promised, now + shift, rules, facts)
        if found is not None and found.stage.value == "before_shipping":
            late.append(promised)
    return late


def test_every_referenced_order_was_placed_earlier(store: SampleStore) -> None:
    placed: set[str] = set()
    for event in store.events:
        if event.kind is EventKind.ORDER_PLACED:
            assert event.order_id not in placed, "each demo order is placed once"
            placed.add(str(event.order_id))
        elif event.order_id is not None:
            assert event.order_id in placed, f"{event.source_event_id} refers to an unplaced order"


def test_the_pipeline_can_merge_the_whole_story(store: SampleStore) -> None:
    states: dict[str, OrderState | None] = {}
    for event in store.events:
        if event.order_id is None:
            continue
        states[event.order_id] = merge_event(states.get(event.order_id), event)
    shipped = [s for s in states.values() if s and s.fulfilments]
    refunded = [s for s in states.values() if s and s.refunds]
    assert shipped and refunded


def test_welcome_then_first_order_for_the_new_customer(store: SampleStore) -> None:
    created = [e for e in store.events if e.kind is EventKind.CUSTOMER_CREATED]
    assert len(created) == 1
    newcomer = created[0].customer
    assert newcomer is not None
    assert newcomer.external_id not in store.past_order_customer_ids.values(), "truly new"
    after = store.events[store.events.index(created[0]) + 1 :]
    first = next(e for e in after if e.kind is EventKind.ORDER_PLACED)
    assert first.customer == newcomer
    assert first.order is not None
    assert 2 <= len(first.order.line_items) <= 3
    assert first.order.costs.discount_codes
    assert first.order.costs.shipping > 0 and first.order.costs.taxes > 0
    assert first.order.costs.taxes_included, "an EU customer sees VAT included"


def test_the_new_customers_first_shipment_is_partial(store: SampleStore) -> None:
    newcomer = next(e.customer for e in store.events if e.kind is EventKind.CUSTOMER_CREATED)
    orders = [e.order for e in store.events if e.order and e.customer == newcomer]
    shipments = [
        e.fulfilment
        for e in store.events
        if e.kind is EventKind.ORDER_SHIPPED and e.order_id in {o.external_id for o in orders}
    ]
    assert shipments
    order = orders[0]
    shipped = {i.line_id: i.quantity for i in shipments[0].items}
    ordered = {i.line_id: i.quantity for i in order.line_items}
    assert shipped and shipped != ordered, "some items, not all of them"
    assert shipments[0].carrier in {"DHL", "UPS"}
    assert shipments[0].tracking_numbers


def test_every_shipment_is_of_lines_the_order_has(store: SampleStore) -> None:
    orders = _placed_orders(store)
    shipped: dict[str, Counter[str]] = defaultdict(Counter)
    for event in store.events:
        if event.fulfilment is None:
            continue
        order = orders[str(event.order_id)]
        ordered = {i.line_id: i.quantity for i in order.line_items}
        assert event.fulfilment.items
        assert event.fulfilment.carrier in {"DHL", "UPS"}
        assert event.fulfilment.created_at >= order.placed_at
        for item in event.fulfilment.items:
            assert item.line_id in ordered
            shipped[order.external_id][item.line_id] += item.quantity
            assert shipped[order.external_id][item.line_id] <= ordered[item.line_id]


def test_refunds_are_for_real_lines_and_add_up(store: SampleStore) -> None:
    orders = _placed_orders(store)
    refunds = [e for e in store.events if e.kind is EventKind.ORDER_REFUNDED]
    assert refunds
    for event in refunds:
        assert event.refund is not None
        order = orders[str(event.order_id)]
        assert event.refund.currency == order.currency
        assert event.refund.items
        lines = {i.line_id: i for i in order.line_items}
        for item in event.refund.items:
            line = lines[item.line_id]
            assert item.quantity <= line.quantity
            share = line.line_total * item.quantity / line.quantity
            discount_share = order.costs.discounts * share / order.costs.subtotal
            assert item.amount == _cents(share - discount_share), "the item's price incl. its share"
        assert event.refund.amount == sum(i.amount for i in event.refund.items)
        assert event.refund.amount <= order.costs.total


def test_the_delay_is_honest_and_about_another_customers_late_order(store: SampleStore) -> None:
    from aftercare.drain.delay_scan import delay_notice
    from aftercare.enrichment.delay_stages import DelayRules, late_order
    from aftercare.settings import Settings

    newcomer = next(e.customer for e in store.events if e.kind is EventKind.CUSTOMER_CREATED)
    (state,) = _late_story_orders(store, NOW)
    assert state.customer != newcomer and not state.fulfilments
    settings = Settings(_env_file=None)
    late = late_order(state, NOW, DelayRules(), settings.store)
    assert late is not None
    notice = delay_notice(state, late, settings, NOW)
    assert notice.reason == settings.delays.reason_before_shipping  # no made-up excuse
    assert notice.new_estimated_delivery > NOW.date()
    assert notice.what_we_will_do


def test_the_delayed_order_is_late_whatever_day_the_demo_runs(store: SampleStore) -> None:
    """Easter, Christmas and weekends stretch "3 business days"; the demo must still be late."""
    start = datetime(2025, 1, 1, tzinfo=UTC) - NOW.astimezone(UTC)
    for hours in range(0, 2 * 366 * 24, 29):  # two years, at many times of day
        shift = start + timedelta(hours=hours)
        late = _late_story_orders(store, NOW, shift)
        assert [s.order.number for s in late] == ["FF-1042"], f"when the demo runs at {NOW + shift}"


# --- money --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["past_orders", "demo_events"])
def test_every_orders_totals_add_up(store: SampleStore, source: str) -> None:
    orders = store.past_orders if source == "past_orders" else tuple(_placed_orders(store).values())
    assert orders
    for order in orders:
        costs = order.costs
        amounts = [costs.subtotal, costs.discounts, costs.shipping, costs.taxes, costs.duties]
        amounts += [costs.total, *(i.unit_price for i in order.line_items)]
        assert all(a == _cents(a) for a in amounts), f"{order.number}: whole cents only"
        assert costs.subtotal == sum(i.line_total for i in order.line_items), order.number
        expected = costs.subtotal - costs.discounts + costs.shipping
        expected += Decimal(0) if costs.taxes_included else costs.taxes
        expected += Decimal(0) if costs.duties_included else costs.duties
        assert costs.total == expected, order.number
        assert costs.taxes == sum((t.amount for t in costs.tax_lines), Decimal(0)), order.number
        if costs.taxes_included:
            (line,) = costs.tax_lines
            assert line.rate is not None
            assert costs.taxes == _cents(costs.total * line.rate / (1 + line.rate)), order.number
        if costs.discounts:
            assert costs.discount_codes, f"{order.number}: a discount names its code"


def test_an_international_order_shows_duties(store: SampleStore) -> None:
    international = [
        o
        for o in _placed_orders(store).values()
        if o.shipping_address and o.shipping_address.country_code == "US"
    ]
    assert international
    assert all(o.costs.duties > 0 and not o.costs.duties_included for o in international)


def test_line_items_match_the_catalogue(store: SampleStore) -> None:
    products = {p.product_id: p for p in store.products}
    for order in _all_orders(store):
        assert order.currency == "EUR"
        assert len({i.line_id for i in order.line_items}) == len(order.line_items)
        for item in order.line_items:
            product = products[str(item.product_id)]
            assert (item.sku, item.title, item.image_url) == (
                product.sku,
                product.title,
                product.image_url,
            )
            assert item.unit_price == product.price


def test_frequently_bought_together_has_signal(store: SampleStore) -> None:
    pairs: Counter[frozenset[str]] = Counter()
    for order in store.past_orders:
        ids = sorted({str(i.product_id) for i in order.line_items})
        pairs.update(frozenset((a, b)) for n, a in enumerate(ids) for b in ids[n + 1 :])
    assert pairs.most_common(1)[0][1] >= 3, "history should teach at least one strong pair"


# --- safety of the fixture ----------------------------------------------------------------


def test_every_url_is_https_on_an_example_domain(store: SampleStore) -> None:
    urls = [s for s in [*_loaded_strings(store), *_raw_strings()] if "://" in s]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https", url
        assert parts.hostname and parts.hostname.endswith(".example"), url
    assert "http://" not in "".join(_raw_strings())


def test_no_real_looking_email_domains(store: SampleStore) -> None:
    found = [s for s in [*_loaded_strings(store), *_raw_strings()] if "@" in s]
    assert {str(c.email) for c in store.customers} <= set(found)
    for address in found:
        domain = address.rsplit("@", 1)[1].lower()
        assert domain in RESERVED_EMAIL_DOMAINS or domain.endswith(".example"), address


def _ups_check_digit(body: str) -> str:
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v * (2 if n % 2 else 1) for n, v in enumerate(values))
    return str((10 - total % 10) % 10)


def _gs1_check_digit(body: str) -> str:
    total = sum(int(c) * (3 if n % 2 == 0 else 1) for n, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def test_the_check_digit_helpers_agree_with_published_numbers() -> None:
    assert _ups_check_digit("999AA1012345678") == "4"  # UPS's documented 1Z999AA10123456784
    assert _gs1_check_digit("400638133393") == "1"  # the GTIN-13 4006381333931, same mod 10


def test_tracking_numbers_look_real_and_pass_their_check_digits(store: SampleStore) -> None:
    for event in store.events:
        if event.fulfilment is None:
            continue
        for number in event.fulfilment.tracking_numbers:
            if event.fulfilment.carrier == "UPS":
                assert re.fullmatch(r"1Z[0-9A-Z]{16}", number), number
                assert number[-1] == _ups_check_digit(number[2:-1]), number
            else:  # DHL Paket: "00" + an 18-digit SSCC (NVE) with a GS1 check digit
                assert re.fullmatch(r"00\d{18}", number), number
                assert number[-1] == _gs1_check_digit(number[2:-1]), number
