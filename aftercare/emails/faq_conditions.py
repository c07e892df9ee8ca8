"""The facts about one order that decide which FAQ answers fit its email.

The names are the conditions of ``faq_snippets/README.md``. They come from the order as
Aftercare knows it and from the email's own facts (the shipped email already worked out
whether items are still to come; the context says whether it carries a tracking link), so a
snippet and the email around it never disagree. A fact an email cannot tell is left out
(``delay_stage`` outside a delay notice; every order fact in a welcome email): a snippet
that needs it does not fit.
"""

from __future__ import annotations

from typing import Any

from aftercare.enrichment.customs import crosses_customs
from aftercare.enrichment.promises import is_international
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts


def order_conditions(
    state: OrderState | None,
    store: StoreFacts,
    context: dict[str, Any],
    orders_before: int | None = None,
) -> dict[str, bool | str]:
    """The condition values for the email whose template ``context`` this is.

    ``orders_before``: how many orders the customer placed before this one, when known
    (the drain counts them in the database); unknown, ``first_order`` is left out.
    """
    if state is None:
        return {}
    order = state.order
    destination = order.shipping_address
    items = order.line_items
    digital = [not item.requires_shipping for item in items]
    facts: dict[str, bool | str] = {
        "international": is_international(destination.country_code if destination else None, store),
        "crosses_customs": crosses_customs(store.ships_from_country, destination),
        # Duties paid at checkout or in the prices: the email says there is nothing more to
        # pay, so an answer saying customs may charge on arrival would contradict it.
        "duties_prepaid": order.costs.duties > 0 or order.costs.duties_included,
        "payment_due_later": order.payment_due_later,
        "has_digital": any(digital),
        "all_digital": all(digital),
        "has_discount": bool(order.costs.discount_codes) or order.costs.discounts > 0,
        "has_tracking": context.get("tracking") is not None,
        "several_parcels": len(state.fulfilments) > 1
        or any(len(f.tracking_numbers) > 1 for f in state.fulfilments),
    }
    if order.payment_method is not None:
        facts["payment_method"] = order.payment_method.value
    facts["has_backorder"] = any(item.backordered for item in items)
    if orders_before is not None:
        facts["first_order"] = orders_before == 0
    shipment = context.get("shipment")
    if shipment is not None:
        facts["partial_shipment"] = bool(shipment.get("is_partial"))
    refund = context.get("refund")
    if refund is not None:
        facts["partial_refund"] = not refund.get("is_full_refund", True)
        facts["refund_method"] = str(refund["method"])
    delay = context.get("delay")
    if delay is not None:
        facts["delay_stage"] = "in_transit" if delay.get("already_shipped") else "before_shipping"
    return facts
