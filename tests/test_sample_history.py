"""The demo's order history and its support tickets: data ``aftercare faq learn`` can trust.

The history must look like a small European shop's five months (where parcels go, how
people pay, parcels in two, refunds), save and load like a real store's orders, and the
tickets must be a helpdesk export a learner can be checked against: dated after their
email and never in the future, about orders that exist, in the customer's language, drawn
at the rates of the module's ground truth.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event

from aftercare.emails import EmailKind
from aftercare.enrichment.customs import crosses_customs
from aftercare.enrichment.promises import add_business_days
from aftercare.enrichment.tracking.links import carrier_reading
from aftercare.events import Address, Customer, Order, PaymentMethod, RefundMethod
from aftercare.learning.email_history import emails_of
from aftercare.order_state import OrderState
from aftercare.sample_store import SAMPLE_STORE_TIME_ZONE, SOURCE, load_sample_store
from aftercare.sample_store.demo import (
    TICKETS_FILE,
    install_sample_store,
    stored_demo_history,
    write_demo_tickets,
)
from aftercare.sample_store.history import HISTORY_DAYS, demo_history, history_order_ids
from aftercare.sample_store.tickets import (
    CONFIRMATION,
    CSV_HEADER,
    DELIVERED,
    OFF_TOPIC,
    REFUNDED,
    SHIPPED,
    SupportTicket,
    bulk_tickets,
    demo_tickets,
    question_rates,
    read_phrases,
    sent_emails,
    write_tickets_csv,
)
from aftercare.settings import StoreFacts
from aftercare.storage.database import session_factory
from aftercare.storage.order_records import load_order_states, save_order_states

NOW = datetime(2025, 3, 28, 8, 30, tzinfo=UTC)  # the Friday before the clocks go forward
CENT = Decimal("0.01")
RESERVED_EMAIL_DOMAINS = {"example.com", "example.net", "example.org"}
EU_OTHER = {"FR", "NL", "AT", "IT", "ES", "BE", "PL", "SE", "DK"}
BEHIND_CUSTOMS = {"CH", "GB", "NO", "US"}
OWN_LANGUAGE = {"zh_CN": "zh-CN", "ru": "ru", "th": "th"}
COUNTRY_ZONES = {
    "DE": {"Europe/Berlin"},
    "FR": {"Europe/Paris"},
    "NL": {"Europe/Amsterdam"},
    "AT": {"Europe/Vienna"},
    "IT": {"Europe/Rome"},
    "ES": {"Europe/Madrid"},
    "BE": {"Europe/Brussels"},
    "PL": {"Europe/Warsaw"},
    "SE": {"Europe/Stockholm"},
    "DK": {"Europe/Copenhagen"},
    "CH": {"Europe/Zurich"},
    "GB": {"Europe/London"},
    "NO": {"Europe/Oslo"},
    "US": {"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"},
    "CN": {"Asia/Shanghai"},
    "TW": {"Asia/Taipei"},
    "SG": {"Asia/Singapore"},
    "LV": {"Europe/Riga"},
    "IL": {"Asia/Jerusalem"},
    "TH": {"Asia/Bangkok"},
}


@pytest.fixture(scope="module")
def history() -> tuple[OrderState, ...]:
    return demo_history(NOW)


@pytest.fixture(scope="module")
def tickets(history: tuple[OrderState, ...]) -> list[SupportTicket]:
    return demo_tickets(history, NOW)


def _country(state: OrderState) -> str:
    address = state.order.shipping_address or state.order.billing_address
    assert address is not None
    return address.country_code


def _group(state: OrderState) -> str:
    """Which row of the brief's mix an order belongs to."""
    if state.customer.locale in OWN_LANGUAGE:
        return "own language"
    country = _country(state)
    if country == "DE":
        return "Germany"
    if country in EU_OTHER:
        return "rest of the EU"
    assert country in BEHIND_CUSTOMS, country
    return "behind customs"


def _share(items: list[bool]) -> float:
    return sum(items) / len(items)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# --- the history --------------------------------------------------------------------------


def test_the_same_seed_and_now_give_the_same_history() -> None:
    first = demo_history(NOW)
    assert first == demo_history(NOW)
    assert first != demo_history(NOW, seed=8)
    assert len(first) == 400
    assert [s.order.number for s in first] == [f"FF-{n}" for n in range(2001, 2401)]
    assert [s.order.external_id for s in first] == list(history_order_ids())


def test_times_are_relative_to_now(history: tuple[OrderState, ...]) -> None:
    later = demo_history(NOW + timedelta(days=30))
    assert later[0].order.placed_at - history[0].order.placed_at == timedelta(days=30)
    assert later[0].customer == history[0].customer
    for state in history:
        assert NOW - timedelta(days=HISTORY_DAYS + 1) < state.order.placed_at < NOW
        assert state.updated_at is not None and state.updated_at < NOW
        moments = [f.created_at for f in state.fulfilments] + [r.created_at for r in state.refunds]
        assert all(state.order.placed_at < m < NOW for m in moments), state.order.number
    placed = [s.order.placed_at for s in history]
    assert placed == sorted(placed), "order numbers go up with time"
    with pytest.raises(ValueError):
        demo_history(datetime(2025, 3, 28, 8, 30))


def test_every_state_is_valid_in_the_pipelines_own_models(
    history: tuple[OrderState, ...],
) -> None:
    for state in history:
        assert state.source == SOURCE
        assert Order.model_validate_json(state.order.model_dump_json()) == state.order
        assert Customer.model_validate_json(state.customer.model_dump_json()) == state.customer
        lines = {line.line_id: line for line in state.order.line_items}
        for parcel in state.fulfilments:
            assert parcel.items and all(i.line_id in lines for i in parcel.items)
        shipped: Counter[str] = Counter()
        for parcel in state.fulfilments:
            shipped.update({i.line_id: i.quantity for i in parcel.items})
        assert all(shipped[line_id] <= lines[line_id].quantity for line_id in shipped)
        refunded = sum((r.amount for r in state.refunds), Decimal(0))
        assert refunded <= state.order.costs.total, state.order.number
        assert all(r.currency == state.order.currency for r in state.refunds)


def test_every_orders_costs_add_up(history: tuple[OrderState, ...]) -> None:
    products = {p.product_id: p for p in load_sample_store(NOW).products}
    for state in history:
        order, costs = state.order, state.order.costs
        assert costs.subtotal == sum(i.line_total for i in order.line_items), order.number
        expected = costs.subtotal - costs.discounts + costs.shipping
        expected += Decimal(0) if costs.taxes_included else costs.taxes
        expected += Decimal(0) if costs.duties_included else costs.duties
        assert costs.total == expected, order.number
        amounts = [costs.subtotal, costs.discounts, costs.shipping, costs.taxes, costs.duties]
        assert all(a == _cents(a) for a in amounts), order.number
        assert costs.taxes == sum((t.amount for t in costs.tax_lines), Decimal(0))
        if costs.taxes_included:
            (line,) = costs.tax_lines
            assert line.rate is not None
            assert costs.taxes == _cents(costs.total * line.rate / (1 + line.rate)), order.number
        assert bool(costs.discounts) == bool(costs.discount_codes), order.number
        if _country(state) == "US" and order.shipping_address is not None:
            assert costs.duties > 0 and not costs.duties_included
        for item in order.line_items:
            if item.requires_shipping:  # the real catalogue's products, at its prices
                product = products[str(item.product_id)]
                assert (item.sku, item.title, item.unit_price) == (
                    product.sku,
                    product.title,
                    product.price,
                )


@pytest.mark.parametrize("seed", [7, 8])
def test_the_mix_is_as_planned(seed: int) -> None:
    history = demo_history(NOW, seed=seed)
    groups = Counter(_group(s) for s in history)
    assert groups["Germany"] / len(history) == pytest.approx(0.45, abs=0.06)
    assert groups["rest of the EU"] / len(history) == pytest.approx(0.30, abs=0.06)
    assert groups["behind customs"] / len(history) == pytest.approx(0.15, abs=0.05)
    assert groups["own language"] / len(history) == pytest.approx(0.10, abs=0.04)

    paid = Counter(s.order.payment_method for s in history)
    assert paid[PaymentMethod.CARD] / len(history) == pytest.approx(0.55, abs=0.07)
    assert paid[PaymentMethod.PAYPAL] / len(history) == pytest.approx(0.25, abs=0.06)
    assert paid[PaymentMethod.BANK_TRANSFER] / len(history) == pytest.approx(0.10, abs=0.04)
    assert paid[PaymentMethod.COD] / len(history) == pytest.approx(0.05, abs=0.03)

    lines = [s.order.line_items for s in history]
    assert _share([bool(s.order.costs.discount_codes) for s in history]) == pytest.approx(
        0.15, abs=0.05
    )
    assert _share([any(i.backordered for i in ls) for ls in lines]) == pytest.approx(0.05, abs=0.03)
    assert _share([any(not i.requires_shipping for i in ls) for ls in lines]) == pytest.approx(
        0.03, abs=0.025
    )
    assert _share([len(s.fulfilments) == 2 for s in history]) == pytest.approx(0.10, abs=0.04)
    assert _share([bool(s.refunds) for s in history]) == pytest.approx(0.10, abs=0.04)
    assert 0 < sum(s.order.cancelled_at is not None for s in history) <= 0.04 * len(history)


def test_payment_facts_agree_with_how_the_customer_pays(
    history: tuple[OrderState, ...],
) -> None:
    later = {PaymentMethod.BANK_TRANSFER, PaymentMethod.COD, PaymentMethod.INVOICE}
    for state in history:
        order = state.order
        assert order.payment_due_later == (order.payment_method in later), order.number
        if order.payment_method is PaymentMethod.COD:
            assert order.shipping_address is not None
            assert order.shipping_address.country_code == "DE"


def test_customers_repeat_and_live_where_their_locale_says(
    history: tuple[OrderState, ...],
) -> None:
    customers = {s.customer.external_id: s.customer for s in history}
    assert 220 <= len(customers) <= 260
    orders_per_customer = Counter(s.customer.external_id for s in history)
    assert max(orders_per_customer.values()) >= 3, "some customers are regulars"
    assert len({str(c.email) for c in customers.values()}) == len(customers)
    demo_customers = {str(c.email) for c in load_sample_store(NOW).customers}
    assert not demo_customers & {str(c.email) for c in customers.values()}
    russian_countries = set()
    for state in history:
        customer, country = state.customer, _country(state)
        assert str(customer.email).rsplit("@", 1)[1] in RESERVED_EMAIL_DOMAINS
        assert customer.first_name and customer.last_name
        assert customer.time_zone in COUNTRY_ZONES[country], (country, customer.time_zone)
        locale = str(customer.locale)
        if locale == "zh_CN":
            assert country in {"CN", "TW", "SG"}
        elif locale == "th":
            assert country == "TH"
        elif locale == "ru":
            russian_countries.add(country)
        else:
            assert locale.endswith("_" + country), (locale, country)
    assert {"DE", "LV"} <= russian_countries, "a language is not a country"


def test_parcels_leave_by_dhl_within_days_and_not_in_the_last_two(
    history: tuple[OrderState, ...],
) -> None:
    numbers = []
    waits = []
    for state in history:
        order = state.order
        if order.placed_at > NOW - timedelta(days=2):
            assert not state.fulfilments, f"{order.number} shipped before it was packed"
        if order.cancelled_at is not None:
            assert not state.fulfilments, f"{order.number} shipped although cancelled"
        if not any(i.requires_shipping for i in order.line_items):
            assert not state.fulfilments, "a gift card is not a parcel"
        for parcel in state.fulfilments:
            assert parcel.carrier == "DHL"
            (number,) = parcel.tracking_numbers
            reading = carrier_reading(number, parcel.carrier)
            assert reading is not None and reading.courier.code == "dhl" and reading.verified
            numbers.append(number)
        if state.fulfilments and not any(i.backordered for i in order.line_items):
            placed_on = order.placed_at.astimezone(SAMPLE_STORE_TIME_ZONE).date()
            shipped_on = state.fulfilments[0].created_at.astimezone(SAMPLE_STORE_TIME_ZONE).date()
            if order.payment_method is not PaymentMethod.BANK_TRANSFER:
                assert shipped_on <= add_business_days(placed_on, 3, "DE"), order.number
            waits.append(shipped_on > placed_on)
    assert all(waits) and len(waits) > 300
    assert len(numbers) == len(set(numbers)), "every parcel has its own tracking number"


def test_a_split_order_ships_part_first_and_a_backorder_ships_later(
    history: tuple[OrderState, ...],
) -> None:
    split = [s for s in history if len(s.fulfilments) == 2]
    assert split
    for state in split:
        first, second = state.fulfilments
        assert first.created_at < second.created_at
        assert not {i.line_id for i in first.items} & {i.line_id for i in second.items}
    back_ordered = [s for s in history if any(i.backordered for i in s.order.line_items)]
    for state in back_ordered:
        waiting = {i.line_id for i in state.order.line_items if i.backordered}
        for parcel in state.fulfilments[:-1]:
            assert not waiting & {i.line_id for i in parcel.items}, state.order.number


def test_refunds_go_back_mostly_the_way_the_customer_paid(
    history: tuple[OrderState, ...],
) -> None:
    refunds = [(s, r) for s in history for r in s.refunds]
    methods = Counter(r.method for _, r in refunds)
    assert methods[RefundMethod.STORE_CREDIT] > 0
    back = methods[RefundMethod.ORIGINAL_PAYMENT] + methods[RefundMethod.BANK_TRANSFER]
    assert back > methods[RefundMethod.STORE_CREDIT]
    partial = [s for s, r in refunds if sum(x.amount for x in s.refunds) < s.order.costs.total]
    assert partial and len(partial) < len(refunds)


def test_the_learner_sees_the_same_emails_and_facts_as_the_ground_truth(
    history: tuple[OrderState, ...],
) -> None:
    """``aftercare faq learn`` infers the emails from stored orders: every email the tickets
    follow must be one it can tell, with the facts the ground truth's conditions read."""
    store = StoreFacts()
    for state in history:
        theirs = sorted(emails_of(state, store), key=lambda e: (e.sent_at, e.kind))
        ours = sorted(sent_emails([state]), key=lambda e: (e.sent_at, e.kind))
        assert [(e.kind, e.sent_at) for e in theirs] == [(e.kind, e.sent_at) for e in ours]
        for learned, drawn in zip(theirs, ours, strict=True):
            facts = learned.facts
            assert facts["crosses_customs"] == drawn.crosses_customs
            assert facts["international"] == drawn.international
            assert facts.get("payment_method") == drawn.payment_method
            assert facts["has_backorder"] == drawn.has_backorder
            assert facts["has_digital"] == drawn.has_digital
            assert facts["has_discount"] == drawn.has_discount
            if drawn.kind == SHIPPED:
                assert facts["partial_shipment"] == drawn.partial_shipment
            if drawn.kind == REFUNDED:
                assert drawn.refund_method is not None
                assert facts["partial_refund"] == drawn.partial_refund
                assert facts["refund_method"] == drawn.refund_method.value


# --- storage ------------------------------------------------------------------------------


def test_the_history_saves_and_loads_unchanged(
    engine: Engine, history: tuple[OrderState, ...]
) -> None:
    with engine.begin() as connection:
        save_order_states(connection, history, NOW)
    keys = [(SOURCE, s.order.external_id) for s in history]
    with engine.connect() as connection:
        loaded = load_order_states(connection, keys)
    assert [loaded[key] for key in keys] == list(history)


def test_the_demo_installs_the_history_once_and_writes_its_tickets(
    engine: Engine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    sample = load_sample_store(NOW)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = install_sample_store(sessions, sample, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert first.history_orders == 400
    # batched: not a round trip (or several) per stored order
    assert len(statements) < 400, f"{len(statements)} statements for 400 orders"
    assert install_sample_store(sessions, sample, NOW + timedelta(days=7)).history_orders == 0
    assert stored_demo_history(sessions) == demo_history(NOW), "a rerun moves nothing"

    path = write_demo_tickets(sessions, tmp_path, NOW + timedelta(days=7))
    assert path == tmp_path / TICKETS_FILE
    expected = tmp_path / "expected.csv"
    write_tickets_csv(demo_tickets(demo_history(NOW), NOW + timedelta(days=7)), expected)
    assert path.read_bytes() == expected.read_bytes(), "the stored history, not a shifted one"


# --- tickets ------------------------------------------------------------------------------


def test_the_email_kinds_are_the_pipelines() -> None:
    assert {CONFIRMATION, SHIPPED, DELIVERED, REFUNDED} <= {k.value for k in EmailKind}


def test_every_question_of_the_ground_truth_has_phrases_in_every_language(
    history: tuple[OrderState, ...],
) -> None:
    phrases = read_phrases()
    topics = {t for e in sent_emails(history) for t in question_rates(e)}
    assert OFF_TOPIC in topics and "customs-duties" in topics and "second-parcel" in topics
    for language in ("en", "zh-CN", "ru", "th"):
        for topic in topics:
            assert phrases[language][topic], (language, topic)
            for phrase in phrases[language][topic]:
                assert phrase.body


def test_customs_questions_follow_only_parcels_that_cross_customs(
    history: tuple[OrderState, ...],
) -> None:
    for email in sent_emails(history):
        rates = question_rates(email)
        assert all(0 < rate < 1 for rate in rates.values())
        assert ("customs-duties" in rates) == (
            email.crosses_customs and email.kind in (CONFIRMATION, SHIPPED)
        )
        assert ("second-parcel" in rates) == email.partial_shipment
    paris = Address(line1="1 rue de Rivoli", city="Paris", country_code="FR")
    assert not crosses_customs("DE", paris), "inside the EU a parcel passes no customs"


def test_tickets_are_deterministic_and_follow_their_email(
    history: tuple[OrderState, ...], tickets: list[SupportTicket]
) -> None:
    assert tickets == demo_tickets(history, NOW)
    assert tickets != demo_tickets(history, NOW, seed=12)
    assert 150 <= len(tickets) <= 400
    emails = sent_emails(history)
    by_order: dict[str, list[datetime]] = defaultdict(list)
    mailbox: dict[str, list[datetime]] = defaultdict(list)
    for email in emails:
        by_order[email.order_number].append(email.sent_at)
        mailbox[str(email.customer.email)].append(email.sent_at)
    for ticket in tickets:
        assert ticket.created_at.utcoffset() is not None
        assert ticket.created_at <= NOW
        assert ticket.customer_email is not None
        sent = sorted(mailbox[ticket.customer_email])
        before = [at for at in sent if at <= ticket.created_at]
        assert before, "a ticket follows an email"
        last = before[-1]
        assert timedelta(hours=2) <= ticket.created_at - last <= timedelta(days=10)
        if ticket.order_number is not None:
            assert ticket.order_number in by_order
    assert tickets == sorted(tickets, key=lambda t: t.created_at)


def test_tickets_name_orders_of_the_history_in_the_customers_language(
    history: tuple[OrderState, ...], tickets: list[SupportTicket]
) -> None:
    customers = {str(s.customer.email): s.customer for s in history}
    numbers = {s.order.number for s in history}
    for ticket in tickets:
        assert ticket.customer_email in customers
        customer = customers[ticket.customer_email]
        assert ticket.language == OWN_LANGUAGE.get(str(customer.locale), "en")
        assert ticket.order_number is None or ticket.order_number in numbers
        assert "{order}" not in ticket.body + ticket.subject
        assert "{name}" not in ticket.body + ticket.subject
        assert not re.search(r"(?<!#)FF-\d{4}", ticket.body), "order numbers come with '#'"
    languages = Counter(t.language for t in tickets)
    assert {"en", "zh-CN", "ru", "th"} <= set(languages)
    in_column = _share([t.order_number is not None for t in tickets])
    assert in_column == pytest.approx(0.8, abs=0.08)
    assert any(t.topic == OFF_TOPIC for t in tickets)


def test_the_drawn_rates_are_the_ground_truth() -> None:
    """Many draws over old orders (none cut off by ``now``) give the table's rates back.

    Counted on the tickets that name their order in its column, 80 % of them.
    """
    history = demo_history(NOW, orders=800)
    scale = 40.0
    drawn = demo_tickets(history, NOW, per_order_scale=scale)
    emails = sent_emails(history)
    recent = {e.order_number for e in emails if e.sent_at >= NOW - timedelta(days=11)}
    old = [e for e in emails if e.order_number not in recent]
    cases = [
        (CONFIRMATION, "customs-duties", lambda e: e.crosses_customs, 0.12),
        (CONFIRMATION, "when-ships", lambda e: True, 0.06),
        (CONFIRMATION, "bank-transfer", lambda e: e.payment_method == "bank_transfer", 0.10),
        (SHIPPED, "second-parcel", lambda e: e.partial_shipment, 0.25),
        (SHIPPED, "track-order", lambda e: True, 0.05),
        (DELIVERED, "returns-how", lambda e: True, 0.04),
        (REFUNDED, "refund-where", lambda e: True, 0.05),
    ]
    for kind, topic, applies, rate in cases:
        fitting = [e for e in old if e.kind == kind and applies(e)]
        assert fitting, topic
        orders = {e.order_number for e in fitting}
        asked = sum(
            1 for t in drawn if (t.after, t.topic) == (kind, topic) and t.order_number in orders
        )
        expected = len(fitting) * scale * rate * 0.8
        assert asked == pytest.approx(expected, rel=0.12), topic


def test_the_csv_is_a_helpdesk_export_the_csv_module_reads_back(
    tickets: list[SupportTicket], tmp_path: Path
) -> None:
    path = write_tickets_csv(tickets, tmp_path / "tickets.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"created_at,order_number,customer_email,subject,body\r\n")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == len(tickets) + 1
    for row, ticket in zip(rows[1:], tickets, strict=True):
        created = datetime.fromisoformat(row[0])
        assert created == ticket.created_at and created.utcoffset() is not None
        assert created.tzinfo is not None
        assert row[1] == (ticket.order_number or "")
        assert row[2] == ticket.customer_email
        assert (row[3], row[4]) == (ticket.subject, ticket.body)
    bodies = "".join(row[4] for row in rows)
    assert re.search("[\u4e00-\u9fff]", bodies) and re.search("[\u0e00-\u0e7f]", bodies)
    berlin = ZoneInfo("Europe/Berlin")
    assert all(t.created_at.tzinfo == berlin for t in tickets)


def test_a_hundred_thousand_tickets_for_benchmarks() -> None:
    # How long it takes is bench/faq_eval.py's to measure, not a test's (a busy CI core).
    many = bulk_tickets(100_000)
    assert len(many) == 100_000
    assert many == sorted(many, key=lambda t: t.created_at)
    topics = Counter(t.topic for t in many)
    assert topics["track-order"] > topics["wrong-item"] > 0, "the truth's proportions hold"
    assert len({t.customer_email for t in many}) > 1000
