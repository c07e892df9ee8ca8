"""The customs answer never contradicts the email around it: when duties were paid with
the order (or are in its prices), the confirmation says nothing more is due, so "your
country may charge import VAT on arrival" must not be shown beside it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aftercare.emails.faq_conditions import order_conditions
from aftercare.enrichment.faq.selection import conditions_hold
from aftercare.enrichment.faq.snippets import load_snippets
from aftercare.sample_store import orders
from aftercare.settings import PROJECT_ROOT, StoreFacts

LIBRARY = load_snippets(PROJECT_ROOT / "faq_snippets")


def _facts(**costs: object) -> dict[str, bool | str]:
    order = orders.order(
        shipping_address=orders.address(country_code="CH", postal_code="8001", city="Zürich"),
        costs=orders.costs(**costs),
    )
    state = orders.state_after(orders.placed(order=order))
    return order_conditions(state, StoreFacts(), {})


@pytest.mark.parametrize("locale", ["en", "ru", "th", "zh-CN"])
def test_the_customs_answer_shows_only_where_duties_may_still_be_due(locale: str) -> None:
    answer = LIBRARY.get(locale, "customs-duties")
    assert answer is not None
    due = _facts()
    prepaid = _facts(duties=Decimal("15.00"), total=Decimal("122.40"))
    in_prices = _facts(duties_included=True)
    assert due["crosses_customs"] and not due["duties_prepaid"]
    assert prepaid["duties_prepaid"] and in_prices["duties_prepaid"]
    assert conditions_hold(answer.when, due)
    assert not conditions_hold(answer.when, prepaid)
    assert not conditions_hold(answer.when, in_prices)
