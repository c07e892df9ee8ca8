"""The demo store's support tickets: what Fern & Field's customers wrote after its emails.

``aftercare faq learn`` reads a helpdesk's export and learns how often each FAQ question
follows each email. To show that on the demo, the tickets must come from somewhere that
knows the answer: this module holds a hidden *ground truth* (how likely a customer is to
ask each question after each email, given the order's facts), draws tickets from it over
the history of ``history.demo_history`` and writes them as a helpdesk would export them.
The truth is the demo's, not the product's: the snippets' own ``priority`` values in
``faq_snippets/`` are the store's guesses and deliberately differ, so learning has
something to correct.

The ground truth, per email received (rates are per email; "international" means outside
Germany, "customs" a parcel that crosses a customs border, ``enrichment/customs.py``):

=================== ===================== =====================================
email               question (topic)      rate
=================== ===================== =====================================
order_confirmation  when-ships            6 %
                    change-or-cancel      4 %
                    change-address        3 %
                    shipping-times        3 % if international
                    customs-duties        12 % if customs
                    bank-transfer         10 % if paid by bank transfer
                    cash-on-delivery      6 % if cash on delivery
                    invoice               2 %
                    double-charge         0.5 % if paid by card or PayPal
                    backorder             15 % if an item is back-ordered
                    digital-download      12 % if an item is digital
                    discount-code         3 % if a discount code was used
                    holiday-cutoff        1 %; 4 % if placed 1 to 20 December
order_shipped       track-order           5 %
                    tracking-not-updating 5 % at home; 8 % elsewhere in the EU; 12 % customs
                    second-parcel         25 % if items are still to come
                    missed-delivery       3 %
                    not-home              2 %
                    lost-parcel           1.5 %; 3 % customs
                    customs-duties        6 % if customs (the duties bill arrives with it)
                    cash-on-delivery      4 % if cash on delivery
order_delivered     damaged-item          2.5 %
                    wrong-item            1.5 %
                    returns-how           4 %
                    exchanges             3 %
                    lost-parcel           0.5 % ("it says delivered, but it isn't here")
order_refunded      refund-timing         20 % if back to the card, PayPal or bank
                    refund-store-credit   15 % if store credit or a gift card
                    partial-refund        15 % if part of the order
                    refund-where          5 %
any of them         (off-topic, no topic) 1 %
=================== ===================== =====================================

How a ticket is drawn, so a learner's result can be checked against the table: each
(email, question) pair is an independent draw at its rate (times ``per_order_scale``). A
ticket is written 2 hours to 10 days after its email, usually within the first day or two
(a truncated exponential, mean about 30 hours), and before the next email the same customer
gets (a customer who writes after the next email is answering that one); a ticket that would
come after ``now`` has not been written yet and is left out. Customers whose locale is
Chinese, Russian or Thai write in their language, everyone else in English; 80 % of tickets
name the order in the helpdesk's order column (the rest only by the customer's address,
though the text often names it too).
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from aftercare.enrichment.customs import crosses_customs
from aftercare.events import Customer, RefundMethod, ShipmentStatus
from aftercare.order_state import OrderState
from aftercare.sample_store import SAMPLE_STORE_TIME_ZONE
from aftercare.sample_store.history import DEFAULT_ORDERS, demo_history

__all__ = [
    "CSV_HEADER",
    "Phrase",
    "SentEmail",
    "SupportTicket",
    "bulk_tickets",
    "demo_tickets",
    "question_rates",
    "read_phrases",
    "sent_emails",
    "write_tickets_csv",
]

CSV_HEADER = ("created_at", "order_number", "customer_email", "subject", "body")

# The kinds as ``EmailKind`` names them (a test holds them equal); plain strings, so the
# demo's data does not import the whole email package.
CONFIRMATION, SHIPPED, REFUNDED = "order_confirmation", "order_shipped", "order_refunded"
DELIVERED = "order_delivered"
OFF_TOPIC = ""  # the phrase bank's key for tickets that ask no FAQ question

_SHIPS_FROM = "DE"  # Fern & Field ships from Leipzig (``StoreFacts.ships_from_country``)
_WRITES_OWN_LANGUAGE = {"zh": "zh-CN", "ru": "ru", "th": "th"}
_BACK_TO_SENDER = {RefundMethod.ORIGINAL_PAYMENT, RefundMethod.CARD, RefundMethod.BANK_TRANSFER}
_CREDIT = {RefundMethod.STORE_CREDIT, RefundMethod.GIFT_CARD}

_EARLIEST = timedelta(hours=2)
_LATEST = timedelta(days=10)
_MEAN_WAIT_HOURS = 30.0
_ORDER_COLUMN_SHARE = 0.8


@dataclass(frozen=True)
class SupportTicket:
    """One ticket as a helpdesk exports it, plus the truth the export does not carry.

    ``topic`` (empty for an off-topic ticket) and ``after`` (the email kind it follows) are
    what the ticket was drawn for: a benchmark compares what a learner found with them.
    """

    created_at: datetime
    order_number: str | None
    customer_email: str | None
    subject: str
    body: str
    language: str
    topic: str = ""
    after: str = ""


@dataclass(frozen=True)
class SentEmail:
    """An email the history implies a customer got, with the facts the truth depends on."""

    kind: str
    sent_at: datetime  # UTC, so that the history read back from a database draws the same
    order_number: str
    customer: Customer
    placed_on: date
    international: bool
    crosses_customs: bool
    payment_method: str | None
    has_backorder: bool
    has_digital: bool
    has_discount: bool
    partial_shipment: bool = False
    refund_method: RefundMethod | None = None
    partial_refund: bool = False


@dataclass(frozen=True)
class Phrase:
    subject: str
    body: str


def sent_emails(history: Iterable[OrderState]) -> list[SentEmail]:
    """The confirmation, shipped, delivered and refunded emails each order's history implies.

    The same emails ``aftercare faq learn`` infers from the stored orders: a confirmation
    when the order was placed, one shipped email per parcel, one delivered email per parcel
    the carrier scanned delivered, one refunded email per refund.
    """
    emails: list[SentEmail] = []
    for state in history:
        order = state.order
        destination = order.shipping_address
        base = {
            "order_number": order.number,
            "customer": state.customer,
            "placed_on": order.placed_at.astimezone(SAMPLE_STORE_TIME_ZONE).date(),
            "international": destination is not None and destination.country_code != _SHIPS_FROM,
            "crosses_customs": crosses_customs(_SHIPS_FROM, destination),
            "payment_method": order.payment_method.value if order.payment_method else None,
            "has_backorder": any(item.backordered for item in order.line_items),
            "has_digital": any(not item.requires_shipping for item in order.line_items),
            "has_discount": bool(order.costs.discount_codes) or order.costs.discounts > 0,
        }
        emails.append(SentEmail(CONFIRMATION, _utc(order.placed_at), **base))
        to_ship = sum(i.quantity for i in order.line_items if i.requires_shipping)
        shipped = 0
        for parcel in sorted(state.fulfilments, key=lambda f: f.created_at):
            shipped += sum(item.quantity for item in parcel.items)
            emails.append(
                SentEmail(
                    SHIPPED, _utc(parcel.created_at), **base, partial_shipment=shipped < to_ship
                )
            )
            if parcel.status == ShipmentStatus.DELIVERED and parcel.status_at is not None:
                emails.append(SentEmail(DELIVERED, _utc(parcel.status_at), **base))
        refunded = 0
        for refund in sorted(state.refunds, key=lambda r: r.created_at):
            refunded += refund.amount
            emails.append(
                SentEmail(
                    REFUNDED,
                    _utc(refund.created_at),
                    **base,
                    refund_method=refund.method,
                    partial_refund=refunded < order.costs.total,
                )
            )
    return emails


def _utc(moment: datetime) -> datetime:
    """In UTC: Python subtracts two times of one zone by their wall clocks, so across a
    daylight-saving change two Berlin times are an hour off; UTC has no such day."""
    return moment.astimezone(UTC)


def question_rates(email: SentEmail) -> dict[str, float]:
    """The ground truth: how likely this email's customer asks each question (the table in
    the module docstring); the empty topic is an off-topic ticket."""
    rates: dict[str, float] = {}
    paid = email.payment_method
    if email.kind == CONFIRMATION:
        rates |= {"when-ships": 0.06, "change-or-cancel": 0.04, "change-address": 0.03}
        rates["invoice"] = 0.02
        december_rush = email.placed_on.month == 12 and email.placed_on.day <= 20
        rates["holiday-cutoff"] = 0.04 if december_rush else 0.01
        if email.international:
            rates["shipping-times"] = 0.03
        if email.crosses_customs:
            rates["customs-duties"] = 0.12
        if paid == "bank_transfer":
            rates["bank-transfer"] = 0.10
        if paid == "cod":
            rates["cash-on-delivery"] = 0.06
        if paid in ("card", "paypal"):
            rates["double-charge"] = 0.005
        if email.has_backorder:
            rates["backorder"] = 0.15
        if email.has_digital:
            rates["digital-download"] = 0.12
        if email.has_discount:
            rates["discount-code"] = 0.03
    elif email.kind == SHIPPED:
        rates["track-order"] = 0.05
        if email.crosses_customs:
            rates["tracking-not-updating"] = 0.12
        else:
            rates["tracking-not-updating"] = 0.08 if email.international else 0.05
        if email.partial_shipment:
            rates["second-parcel"] = 0.25
        rates |= {"missed-delivery": 0.03, "not-home": 0.02}
        rates["lost-parcel"] = 0.03 if email.crosses_customs else 0.015
        if email.crosses_customs:
            rates["customs-duties"] = 0.06
        if paid == "cod":
            rates["cash-on-delivery"] = 0.04
    elif email.kind == DELIVERED:
        rates |= {"damaged-item": 0.025, "wrong-item": 0.015, "lost-parcel": 0.005}
        rates |= {"returns-how": 0.04, "exchanges": 0.03}
    elif email.kind == REFUNDED:
        if email.refund_method in _BACK_TO_SENDER:
            rates["refund-timing"] = 0.20
        if email.refund_method in _CREDIT:
            rates["refund-store-credit"] = 0.15
        if email.partial_refund:
            rates["partial-refund"] = 0.15
        rates["refund-where"] = 0.05
    rates[OFF_TOPIC] = 0.01
    return rates


@cache
def read_phrases() -> Mapping[str, Mapping[str, tuple[Phrase, ...]]]:
    """``ticket_phrases.json``: for each language and topic ("" for off-topic), the tickets
    customers write, with ``{order}`` and ``{name}`` to fill in."""
    text = resources.files(__package__).joinpath("ticket_phrases.json").read_text("utf-8")
    raw = json.loads(text)
    bank: dict[str, Mapping[str, tuple[Phrase, ...]]] = {}
    for language, topics in raw.items():
        bank[language] = MappingProxyType(
            {
                topic: tuple(Phrase(str(p["subject"]), str(p["body"])) for p in phrases)
                for topic, phrases in topics.items()
            }
        )
    return MappingProxyType(bank)


def _language(customer: Customer) -> str:
    """The language a customer writes in: their own for the three the phrase bank has
    beyond English, English for everyone else (a Dutch customer writes to a German shop in
    English)."""
    primary = (customer.locale or "en").replace("-", "_").split("_")[0].lower()
    return _WRITES_OWN_LANGUAGE.get(primary, "en")


def _successes(rng: random.Random, rate: float, scale: float) -> int:
    """How many tickets one (email, question) pair yields: ``ceil(scale)`` trials whose
    expected total is ``rate * scale``, counted by jumping from success to success (geometric
    gaps), so a large scale costs one step per ticket rather than one per trial."""
    trials = max(1, math.ceil(scale))
    p = min(1.0, rate * scale / trials)
    if p <= 0:
        return 0
    if p >= 1:
        return trials
    log_miss = math.log1p(-p)
    count, position = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_miss) + 1
        if position > trials:
            return count
        count += 1


def _wait(rng: random.Random, longest: timedelta) -> timedelta:
    """2 hours plus a truncated exponential wait, never past ``longest``."""
    span = (longest - _EARLIEST).total_seconds() / 3600
    tail = 1.0 - math.exp(-span / _MEAN_WAIT_HOURS)
    hours = -_MEAN_WAIT_HOURS * math.log(1.0 - rng.random() * tail)
    return _EARLIEST + timedelta(hours=min(hours, span))


def _fill(text: str, order: str, name: str) -> str:
    return text.replace("{order}", f"#{order}").replace("{name}", name).strip()


def demo_tickets(
    history: Sequence[OrderState],
    now: datetime,
    seed: int = 11,
    per_order_scale: float = 1.0,
) -> list[SupportTicket]:
    """Support tickets over ``history`` drawn from the ground truth, oldest first.

    ``per_order_scale`` multiplies every rate (a benchmark's many tickets from a modest
    history). Deterministic for the same history, ``now`` and seed: each email draws from
    its own ``random.Random``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("demo_tickets needs a timezone-aware now")
    if per_order_scale < 0:
        raise ValueError("per_order_scale must not be negative")
    phrases = read_phrases()
    emails = sent_emails(history)
    by_customer: dict[str, list[SentEmail]] = defaultdict(list)
    for email in emails:
        by_customer[str(email.customer.email).casefold()].append(email)
    tickets: list[SupportTicket] = []
    for mailbox in by_customer.values():
        mailbox.sort(key=lambda e: e.sent_at)
        for email, following in zip(mailbox, [*mailbox[1:], None], strict=True):
            longest = _LATEST if following is None else following.sent_at - email.sent_at
            longest = min(longest, _LATEST)
            if longest <= _EARLIEST:
                continue  # the next email came at once: anything asked is about that one
            tickets += _tickets_after(email, longest, now, seed, per_order_scale, phrases)
    tickets.sort(key=lambda t: (t.created_at, t.order_number or "", t.subject, t.body))
    return tickets


def _tickets_after(
    email: SentEmail,
    longest: timedelta,
    now: datetime,
    seed: int,
    scale: float,
    phrases: Mapping[str, Mapping[str, tuple[Phrase, ...]]],
) -> list[SupportTicket]:
    rng = random.Random(f"{seed}/{email.order_number}/{email.kind}/{email.sent_at.isoformat()}")
    customer = email.customer
    language = _language(customer)
    name = customer.first_name or ""
    found = []
    for topic, rate in question_rates(email).items():
        for _ in range(_successes(rng, rate, scale)):
            created_at = (email.sent_at + _wait(rng, longest)).replace(microsecond=0)
            if created_at > now:
                continue  # not written yet
            choices = phrases.get(language, {}).get(topic) or phrases["en"][topic]
            phrase = rng.choice(choices)
            in_column = rng.random() < _ORDER_COLUMN_SHARE
            found.append(
                SupportTicket(
                    created_at=created_at.astimezone(SAMPLE_STORE_TIME_ZONE),
                    order_number=email.order_number if in_column else None,
                    customer_email=str(customer.email),
                    subject=_fill(phrase.subject, email.order_number, name),
                    body=_fill(phrase.body, email.order_number, name),
                    language=language,
                    topic=topic,
                    after=email.kind,
                )
            )
    return found


def write_tickets_csv(tickets: Iterable[SupportTicket], path: Path) -> Path:
    """Write ``tickets`` as a helpdesk export: UTF-8 CSV, ISO 8601 times with their offset,
    the columns ``aftercare faq learn`` looks for by name (``CSV_HEADER``)."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_HEADER)
        for t in tickets:
            writer.writerow(
                (
                    t.created_at.isoformat(),
                    t.order_number or "",
                    t.customer_email or "",
                    t.subject,
                    t.body,
                )
            )
    return path


BULK_NOW = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
"""The fixed "now" of ``bulk_tickets``: a benchmark's input must not change with the day."""
_BULK_TICKETS_PER_ORDER = 25
_BULK_MAX_ORDERS = 4000


def bulk_tickets(count: int, seed: int = 11) -> list[SupportTicket]:
    """``count`` tickets for benchmarks, oldest first, in a few seconds even for 100,000.

    A history of up to ``_BULK_MAX_ORDERS`` orders, each email drawn from many times
    (``per_order_scale``), keeps the ground truth's proportions while most of the cost is
    writing the tickets rather than building orders.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    orders = min(max(DEFAULT_ORDERS, count // _BULK_TICKETS_PER_ORDER), _BULK_MAX_ORDERS)
    history = demo_history(BULK_NOW, orders=orders, seed=seed)
    expected = sum(sum(question_rates(e).values()) for e in sent_emails(history))
    scale = max(1.0, count / expected * 1.2)  # the margin covers tickets not yet written
    tickets = demo_tickets(history, BULK_NOW, seed, scale)
    while len(tickets) < count:
        scale *= 1.5 * count / max(1, len(tickets))
        tickets = demo_tickets(history, BULK_NOW, seed, scale)
    kept = random.Random(seed).sample(range(len(tickets)), count)
    return [tickets[i] for i in sorted(kept)]
