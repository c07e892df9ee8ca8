"""The refund email: what was refunded, how, and when the money shows up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.emails.facts import (
    Reader,
    check_lines,
    cut_lines,
    line_items_by_id,
    more_items,
    payment_facts,
    required,
)
from aftercare.enrichment.promises import add_business_days
from aftercare.events import EventKind, Order, OrderEvent, PaymentMethod, Refund, RefundMethod
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts

# Money that lands without a bank in between: the customer can use it at once.
_IMMEDIATE_REFUNDS = frozenset(
    {RefundMethod.STORE_CREDIT, RefundMethod.GIFT_CARD, RefundMethod.CASH}
)


def idempotency_key(event: OrderEvent) -> str | None:
    if event.kind is not EventKind.ORDER_REFUNDED:
        return None
    assert event.refund is not None  # the event model guarantees it
    return f"{event.source}:order:{event.order_id}:refund:{event.refund.external_id}:refunded"


def facts(given: KindFacts) -> dict[str, Any]:
    refund = required(given.event.refund, "refund", EmailKind.ORDER_REFUNDED)
    facts = _refund_facts(refund, given.state, given.store, given.reader)
    if facts["expected_by"] is not None and facts["expected_by_day"] < given.today:
        # Sent after the last day it could take: it should be there already. Saying "by"
        # a day gone reads as a broken promise; the template says "should already show".
        given.notes.append("statement dates had passed: left out")
        facts.update(expected_between=None, expected_by=None, should_show_already=True)
    del facts["expected_by_day"]
    return {"refund": facts}


def _refund_facts(
    refund: Refund, state: OrderState, store: StoreFacts, reader: Reader
) -> dict[str, Any]:
    """What was refunded, how, and when the customer will see the money.

    Card and bank refunds take the store's ``refund_statement_days`` business days to show
    on a statement; store credit, gift cards and cash are there at once.
    """
    order = state.order
    check_lines(order, [i.line_id for i in refund.items], f"refund {refund.external_id}")
    items_by_id = line_items_by_id(order)
    shown, rest = cut_lines(refund.items, store.max_item_lines)
    refunded_on = reader.day_of(refund.created_at)
    immediate = refund.method in _IMMEDIATE_REFUNDS
    refunds = [r for r in state.refunds if r.external_id != refund.external_id] + [refund]
    total_refunded = sum((r.amount for r in refunds), Decimal(0))
    facts: dict[str, Any] = {
        "amount": reader.money(refund.amount, refund.currency),
        "currency": refund.currency,
        "method": refund.method.value,
        # Where "the payment method you used" is, as the store reported it: the card of the
        # refund's own transaction, else the order's payment (a card, PayPal, …).
        "paid_back_to": _paid_back_to(refund, order),
        "refunded_on": reader.day(refunded_on),
        "reason": refund.reason,
        "line_items": [
            {
                "title": items_by_id[item.line_id].title,
                "variant_title": items_by_id[item.line_id].variant_title,
                "quantity": item.quantity,
                "amount": reader.money(item.amount, refund.currency),
            }
            for item in shown
        ],
        # ``amount`` stays the whole refund's, however many of its lines are listed.
        "more_items": more_items([item.quantity for item in rest]),
        "appears_immediately": immediate,
        "statement_days": None,
        "expected_between": None,
        "expected_by": None,
        "should_show_already": False,
        "expected_by_day": None,  # a date, for ``facts`` to compare; removed before templates
        "is_full_refund": total_refunded >= order.costs.total,
        "total_refunded": reader.money(total_refunded, refund.currency),
    }
    if not immediate:
        fastest, slowest = store.refund_statement_days
        country = store.ships_from_country
        first = add_business_days(refunded_on, fastest, country)
        last = add_business_days(refunded_on, slowest, country)
        facts["statement_days"] = reader.count(fastest, slowest)
        facts["expected_between"] = reader.days(first, last)
        facts["expected_by"] = reader.day(last)
        facts["expected_by_day"] = last
    return facts


def _paid_back_to(refund: Refund, order: Order) -> dict[str, Any] | None:
    """The payment a refund to the original payment method (or to a card) went back to;
    ``None`` for the other methods, which the email names on their own."""
    if refund.method not in (RefundMethod.ORIGINAL_PAYMENT, RefundMethod.CARD):
        return None
    if refund.payment is not None:
        return payment_facts(PaymentMethod.CARD, refund.payment)
    if refund.method is RefundMethod.CARD and order.payment_method is not PaymentMethod.CARD:
        return payment_facts(PaymentMethod.CARD, None)
    return payment_facts(order.payment_method, order.payment)


SPEC = EmailKindSpec(EmailKind.ORDER_REFUNDED, idempotency_key, facts)
