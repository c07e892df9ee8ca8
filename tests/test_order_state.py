"""How each event changes what Aftercare knows about an order (pure, no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftercare.errors import OrderNotYetKnownError
from aftercare.events import EventKind, OrderEvent
from aftercare.order_state import merge_event
from tests import order_events
from tests.order_events import T0


def test_a_refund_before_its_shipment_keeps_both() -> None:
    state = merge_event(None, order_events.placed())
    state = merge_event(state, order_events.refunded(at=T0 + timedelta(days=1)))
    state = merge_event(state, order_events.shipped(at=T0 + timedelta(hours=2)))
    assert [r.external_id for r in state.refunds] == ["ref-1"]
    assert [f.external_id for f in state.fulfilments] == ["ful-1"]


def test_an_older_order_snapshot_does_not_overwrite_a_newer_one() -> None:
    newer = order_events.placed("e-new", at=T0 + timedelta(hours=1), note="leave at the door")
    older = order_events.placed("e-old", at=T0, note=None)
    state = merge_event(merge_event(None, newer), older)
    assert state.order.note == "leave at the door"
    assert state.updated_at == T0 + timedelta(hours=1)


def test_a_shipment_for_an_unknown_order_waits() -> None:
    with pytest.raises(OrderNotYetKnownError, match="order-1"):
        merge_event(None, order_events.shipped())


def test_a_carrier_report_moves_the_parcel_status_and_estimate() -> None:
    state = merge_event(merge_event(None, order_events.placed()), order_events.shipped())
    estimate = T0 + timedelta(days=6)
    state = merge_event(state, order_events.carrier_report(status="in_transit", estimated=estimate))
    (parcel,) = state.fulfilments
    assert parcel.status == "in_transit" and parcel.estimated_delivery_at == estimate


def test_an_older_carrier_report_arriving_late_changes_nothing() -> None:
    state = merge_event(merge_event(None, order_events.placed()), order_events.shipped())
    state = merge_event(
        state, order_events.carrier_report("a", status="delivered", at=T0 + timedelta(days=4))
    )
    state = merge_event(
        state, order_events.carrier_report("b", status="in_transit", at=T0 + timedelta(days=2))
    )
    assert state.fulfilments[0].status == "delivered"


def test_a_carrier_report_for_an_unknown_parcel_waits() -> None:
    state = merge_event(None, order_events.placed())
    with pytest.raises(OrderNotYetKnownError, match="parcel ful-9"):
        merge_event(state, order_events.carrier_report(fulfilment_id="ful-9"))


def test_cancellation_is_recorded_once() -> None:
    state = merge_event(None, order_events.placed())
    cancel = OrderEvent(
        kind=EventKind.ORDER_CANCELLED,
        source="test",
        source_event_id="c",
        occurred_at=T0 + timedelta(days=1),
        order_id="order-1",
    )
    state = merge_event(state, cancel)
    assert state.order.cancelled_at == T0 + timedelta(days=1)
    again = merge_event(state, cancel.model_copy(update={"occurred_at": T0 + timedelta(days=2)}))
    assert again.order.cancelled_at == T0 + timedelta(days=1)


def test_a_welcome_event_changes_no_order() -> None:
    assert merge_event(None, order_events.welcome()) is None
