"""An email kind lives in one place: its spec plans it and fills its facts; templates and
samples exist for every registered kind; the record of a composed email says why it says
what it says."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from aftercare.authoring.samples import SENT_AT, sample_emails, sample_enrichment
from aftercare.drain import renderer_for
from aftercare.emails import (
    CrossSellItem,
    EmailKind,
    LikelyQuestion,
    compose_email,
    plan_emails,
)
from aftercare.emails.kinds import REGISTERED, SPECS
from aftercare.enrichment.tracking.links import LinkSource
from aftercare.events import EventKind, ShipmentStatus, ShipmentUpdate
from aftercare.sample_store import orders
from aftercare.settings import StoreFacts

TEMPLATES = Path(__file__).resolve().parent.parent / "email_templates"


def test_every_email_kind_is_registered_exactly_once() -> None:
    kinds = [spec.kind for spec in REGISTERED]
    assert sorted(kinds) == sorted(EmailKind) and len(kinds) == len(set(kinds))


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_registered_kind_has_its_template_pair_and_samples(kind: EmailKind) -> None:
    for part in ("html", "txt"):
        assert (TEMPLATES / "en" / f"{kind.value}.{part}").is_file()
    assert [s for s in sample_emails() if s.kind is kind], f"no sample for {kind.value}"


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        (orders.welcome(), [EmailKind.WELCOME]),
        (orders.placed(), [EmailKind.ORDER_CONFIRMATION]),
        (orders.shipped(), [EmailKind.ORDER_SHIPPED]),
        (orders.delayed(), [EmailKind.ORDER_DELAYED]),
        (orders.refunded(), [EmailKind.ORDER_REFUNDED]),
    ],
    ids=lambda value: getattr(value, "source_event_id", None) or "",
)
def test_each_event_calls_for_its_email_and_no_other(event, kinds) -> None:  # noqa: ANN001
    assert [planned.kind for planned in plan_emails(event)] == kinds


def test_a_carrier_report_calls_for_a_delay_email_only_for_trouble_with_a_notice() -> None:
    report = orders.carrier_report(status=ShipmentStatus.DELAYED)
    assert plan_emails(report) == []  # the drain attaches the store's notice first
    with_notice = report.model_copy(update={"delay": orders.delayed().delay})
    assert [p.kind for p in plan_emails(with_notice)] == [EmailKind.ORDER_DELAYED]
    in_transit = with_notice.model_copy(
        update={
            "shipment_update": ShipmentUpdate.model_validate(
                {**report.shipment_update.model_dump(), "status": ShipmentStatus.IN_TRANSIT}
            )
        }
    )
    assert plan_emails(in_transit) == []


def test_events_that_only_update_the_order_call_for_no_email() -> None:
    cancelled = orders.placed().model_copy(update={"kind": EventKind.ORDER_UPDATED})
    assert plan_emails(cancelled) == []


def test_a_repeated_event_gets_the_same_key_and_another_parcel_a_new_one() -> None:
    first = plan_emails(orders.shipped())[0]
    again = plan_emails(orders.shipped("evt-retry"))[0]
    other = plan_emails(orders.shipped(fulfilment_id="f-2"))[0]
    assert first.idempotency_key == again.idempotency_key != other.idempotency_key


def test_the_composed_email_records_which_answers_and_products_were_chosen_and_why() -> None:
    sample = next(
        s for s in sample_emails() if s.kind is EmailKind.ORDER_SHIPPED and s.name == "multi-item"
    )
    store = StoreFacts()
    planned = plan_emails(sample.event.model_copy(update={"source": "shopify"}))[0]
    enrichment = sample_enrichment(store)
    composed = compose_email(
        planned, sample.event, sample.state, store, renderer_for(TEMPLATES), SENT_AT, enrichment
    )
    record = composed.explanation.as_record()
    assert [q["id"] for q in record["likely_questions"]] == ["change-address", "returns"]
    assert all(q["why"] for q in record["likely_questions"])
    assert [p["id"] for p in record["cross_sell"]] == [
        "oak-spoon",
        "linen-tea-towel",
        "stoneware-bowl",
    ]
    # The store sent DHL's page for the parcel: its own link wins over the carrier's.
    assert record["tracking"] == LinkSource.STORE_URL.value
    assert record["event"] == {
        "source": "sample",
        "id": sample.event.source_event_id,
        "kind": "order_shipped",
    }
    message = email.message_from_bytes(composed.mime, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    assert "Can I change my delivery address?" in html and "Oak spoon" in html
    assert "anna.keller@example.com" not in repr(composed)


def test_an_enrichment_item_without_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="id of the snippet"):
        LikelyQuestion(snippet_id="", question="Where is my order?", answer_html="<p>…</p>")
    with pytest.raises(ValueError, match="id of the product"):
        CrossSellItem(product_id="", title="Mug", url="https://shop.example/mug", price="€9")


def test_every_spec_fills_only_keys_the_shared_context_declares() -> None:
    from aftercare.emails.context import build_context

    for sample in sample_emails():
        context = build_context(sample.kind, sample.event, sample.state, StoreFacts(), SENT_AT)
        spec = SPECS[sample.kind]
        assert spec.kind is sample.kind
        assert set(context) == set(
            build_context(EmailKind.WELCOME, sample_emails()[0].event, None, StoreFacts(), SENT_AT)
        )
