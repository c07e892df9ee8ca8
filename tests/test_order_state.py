"""How each event changes what Aftercare knows about an order (pure, no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftercare.errors import OrderNotYetKnownError
from aftercare.events import EventKind, OrderEvent
from aftercare.order_state import merge_event
from aftercare.sample_store import orders
from aftercare.sample_store.orders import PLACED_AT


def test_a_refund_before_its_shipment_keeps_both() -> None:
    state = merge_event(None, orders.placed())
    state = merge_event(state, orders.refunded(at=PLACED_AT + timedelta(days=1)))
    state = merge_event(state, orders.shipped(at=PLACED_AT + timedelta(hours=2)))
    assert [r.external_id for r in state.refunds] == ["r-1"]
    assert [f.external_id for f in state.fulfilments] == ["f-1"]


def test_an_older_order_snapshot_does_not_overwrite_a_newer_one() -> None:
    newer = orders.placed("e-new", at=PLACED_AT + timedelta(hours=1), note="leave at the door")
    older = orders.placed("e-old", at=PLACED_AT, note=None)
    state = merge_event(merge_event(None, newer), older)
    assert state.order.note == "leave at the door"
    assert state.updated_at == PLACED_AT + timedelta(hours=1)


def test_a_shipment_for_an_unknown_order_waits() -> None:
    with pytest.raises(OrderNotYetKnownError, match="o-1001"):
        merge_event(None, orders.shipped())


def test_a_carrier_report_moves_the_parcel_status_and_estimate() -> None:
    state = merge_event(merge_event(None, orders.placed()), orders.shipped())
    estimate = PLACED_AT + timedelta(days=6)
    state = merge_event(state, orders.carrier_report(status="in_transit", estimated=estimate))
    (parcel,) = state.fulfilments
    assert parcel.status == "in_transit" and parcel.estimated_delivery_at == estimate


def test_an_older_carrier_report_arriving_late_changes_nothing() -> None:
    state = merge_event(merge_event(None, orders.placed()), orders.shipped())
    state = merge_event(
        state, orders.carrier_report("a", status="delivered", at=PLACED_AT + timedelta(days=4))
    )
    state = merge_event(
        state, orders.carrier_report("b", status="in_transit", at=PLACED_AT + timedelta(days=2))
    )
    assert state.fulfilments[0].status == "delivered"


def test_a_carrier_report_for_an_unknown_parcel_waits() -> None:
    state = merge_event(None, orders.placed())
    with pytest.raises(OrderNotYetKnownError, match="parcel f-9"):
        merge_event(state, orders.carrier_report(fulfilment_id="f-9"))


def test_cancellation_is_recorded_once() -> None:
    state = merge_event(None, orders.placed())
    cancel = OrderEvent(
        kind=EventKind.ORDER_CANCELLED,
        source=orders.SOURCE,
        source_event_id="c",
        occurred_at=PLACED_AT + timedelta(days=1),
        order_id="o-1001",
    )
    state = merge_event(state, cancel)
    assert state.order.cancelled_at == PLACED_AT + timedelta(days=1)
    again = merge_event(
        state, cancel.model_copy(update={"occurred_at": PLACED_AT + timedelta(days=2)})
    )
    assert again.order.cancelled_at == PLACED_AT + timedelta(days=1)


def test_a_welcome_event_changes_no_order() -> None:
    assert merge_event(None, orders.welcome()) is None
