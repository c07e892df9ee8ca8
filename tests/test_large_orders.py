"""Large orders stay readable (issue 18, point 9).

Gmail clips a message above about 102 KB and hides everything after the cut: the FAQ
answers, the footer, the reply-time promise (hteumeuleu/email-bugs#41). Past the store's
``max_item_lines`` an email lists the first lines, sums up the rest ("and 180 more items")
and links to the whole order; the costs stay the whole order's. Given a café's order of
50, 200 or 1000 lines, every email about it stays under 90 KB as sent, in every language.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from aftercare.authoring.check import MAX_HTML_BYTES, check_templates
from aftercare.authoring.samples import (
    DELIVERED_AT,
    LARGE_ORDER_LINES,
    SampleEmail,
    large_order,
    sample_enrichment,
    sample_store_facts,
)
from aftercare.emails.context import build_context
from aftercare.emails.facts import share_lines
from aftercare.emails.kinds import EmailKind
from aftercare.events import LineItem, Order, OrderEvent, RefundItem, ShipmentStatus
from aftercare.rendering.locale_format import format_money
from aftercare.rendering.mime import encoded_size
from aftercare.rendering.renderer import EmailRenderer, RenderedEmail
from aftercare.sample_store import orders
from aftercare.sample_store.orders import SHIPPED_AT, state_after
from aftercare.settings import MAX_ITEM_LINES, Settings, StoreFacts
from tests.test_rendering import TEMPLATES

LIMIT = 20
STORE = sample_store_facts().model_copy(update={"max_item_lines": LIMIT})
RENDERER = EmailRenderer(TEMPLATES)
LOCALES = sorted(RENDERER.available_locales())
STATUS_URL = "https://fernandfield.example/account/orders/1001"


def _with_quantity(order: Order, quantity: int) -> Order:
    items = tuple(item.model_copy(update={"quantity": quantity}) for item in order.line_items)
    return order.model_copy(update={"line_items": items})


def _placed(order: Order, locale: str = "en") -> OrderEvent:
    return orders.placed(customer=orders.customer(locale=locale, first_name="Anna"), order=order)


def _every_email(order: Order, locale: str) -> list[SampleEmail]:
    """Each kind that lists items, about ``order``: confirmed, shipped in one parcel, late,
    delivered, refunded line by line; with FAQ answers and cards, the largest they get."""
    placed = _placed(order, locale)
    shipped = orders.shipped(lines=tuple((i.line_id, i.quantity) for i in order.line_items))
    delayed = orders.delayed()
    delivered = orders.carrier_report(
        "evt-delivered", status=ShipmentStatus.DELIVERED, at=DELIVERED_AT, fulfilment_id="f-1"
    )
    refunded = orders.refunded(
        amount=order.costs.total,
        items=tuple(
            RefundItem(line_id=i.line_id, quantity=i.quantity, amount=i.line_total)
            for i in order.line_items
        ),
    )
    return [
        SampleEmail(EmailKind.ORDER_CONFIRMATION, "c", placed, state_after(placed), True),
        SampleEmail(EmailKind.ORDER_SHIPPED, "s", shipped, state_after(placed, shipped), True),
        SampleEmail(EmailKind.ORDER_DELAYED, "l", delayed, state_after(placed, delayed), True),
        SampleEmail(
            EmailKind.ORDER_DELIVERED,
            "d",
            delivered,
            state_after(placed, shipped, delivered),
            True,
        ),
        SampleEmail(EmailKind.ORDER_REFUNDED, "r", refunded, state_after(placed, refunded), True),
    ]


def _render(sample: SampleEmail, store: StoreFacts = STORE) -> tuple[dict[str, Any], RenderedEmail]:
    context = sample.context(store, RENDERER.available_locales())
    return context, RENDERER.render(sample.kind, context, context["locale"])


def _confirmation(order: Order, locale: str = "en", store: StoreFacts = STORE) -> Any:
    placed = _placed(order, locale)
    return _render(
        SampleEmail(EmailKind.ORDER_CONFIRMATION, "c", placed, state_after(placed)), store
    )


def _text(html: str) -> str:
    """The words of an HTML part, as a reader sees them (tags gone, spaces collapsed)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ").split())


@pytest.mark.parametrize("lines", [50, 200, 1000])
@pytest.mark.parametrize("locale", LOCALES)
def test_every_email_about_a_large_order_stays_under_90_kb_in_every_language(
    lines: int, locale: str
) -> None:
    order = large_order(lines)
    for sample in _every_email(order, locale):
        _, email = _render(sample, sample_store_facts())  # the store's default setting
        assert encoded_size(email.html) < MAX_HTML_BYTES, (sample.kind, encoded_size(email.html))
        assert encoded_size(email.text) < MAX_HTML_BYTES, sample.kind
        # Everything after the list is there, and in what Gmail shows: the footer's contact.
        assert "mailto:support@fernandfield.example" in email.html


def test_even_the_largest_setting_keeps_a_1000_line_order_under_90_kb_in_thai() -> None:
    store = StoreFacts.model_validate(
        {**sample_store_facts().model_dump(mode="json"), "max_item_lines": MAX_ITEM_LINES}
    )
    for locale in LOCALES:
        for sample in _every_email(large_order(1000), locale):
            _, email = _render(sample, store)
            assert encoded_size(email.html) < MAX_HTML_BYTES, (locale, sample.kind)


def test_the_confirmation_lists_the_first_lines_and_sums_up_the_rest() -> None:
    order = large_order(200)
    context, email = _confirmation(order)
    listed = context["order"]["line_items"]
    assert [item["line_id"] for item in listed] == [f"L{n}" for n in range(1, LIMIT + 1)]
    rest = order.line_items[LIMIT:]
    pieces = sum(item.quantity for item in rest)
    assert context["order"]["more_items"] == {"lines": 180, "quantity": pieces}
    assert context["order"]["line_count"] == 200
    words = _text(email.html)
    assert f"and 180 more items ({pieces} pieces)" in words
    link = re.search(r'<a [^>]*href="([^"]+)"[^>]*>See your whole order</a>', email.html)
    assert link and link.group(1) == STATUS_URL
    assert words.count("Quantity:") == LIMIT  # one row per listed line


def test_the_text_part_sums_up_the_rest_and_gives_the_link() -> None:
    order = large_order(200)
    pieces = sum(item.quantity for item in order.line_items[LIMIT:])
    _, email = _confirmation(order)
    assert f"and 180 more items ({pieces} pieces)" in email.text
    assert f"See your whole order: {STATUS_URL}" in email.text
    assert email.text.count(" x ") == LIMIT  # one "2 x Enamel mug" line per listed item


def test_lines_of_one_piece_each_are_summed_up_without_the_pieces() -> None:
    _, email = _confirmation(_with_quantity(large_order(200), 1))
    assert "and 180 more items" in _text(email.html)
    assert "pieces" not in email.html and "pieces" not in email.text


def test_the_totals_are_the_whole_orders() -> None:
    order = large_order(200)
    context, email = _confirmation(order)
    costs = context["order"]["costs"]
    assert costs["subtotal"] == format_money(order.costs.subtotal, "EUR", "en")
    assert costs["total"] == format_money(order.costs.total, "EUR", "en")
    assert order.costs.subtotal == sum((i.unit_price * i.quantity for i in order.line_items), 0)
    assert costs["total"] in _text(email.html) and costs["total"] in email.text


@pytest.mark.parametrize("lines", [LIMIT - 1, LIMIT, LIMIT + 1])
def test_the_list_is_cut_only_past_the_setting(lines: int) -> None:
    order = _with_quantity(large_order(lines), 1)
    context, email = _confirmation(order)
    assert len(context["order"]["line_items"]) == min(lines, LIMIT)
    if lines <= LIMIT:
        assert context["order"]["more_items"] is None
        assert "more item" not in email.html and "See your whole order" not in email.text
    else:
        assert context["order"]["more_items"] == {"lines": 1, "quantity": 1}
        assert "and 1 more item" in _text(email.html) and "and 1 more item" in email.text
        assert "more items" not in email.html + email.text


@pytest.mark.parametrize(
    ("rest", "words"),
    [(1, "и ещё 1 товар"), (3, "и ещё 3 товара"), (5, "и ещё 5 товаров"), (21, "и ещё 21 товар")],
)
def test_russian_counts_the_rest_in_its_three_plural_forms(rest: int, words: str) -> None:
    _, email = _confirmation(_with_quantity(large_order(LIMIT + rest), 1), "ru")
    assert words in _text(email.html) and words in email.text
    assert "Посмотреть весь заказ" in email.html


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("ru", "и ещё 180 товаров (всего {} шт.)"),
        ("zh-CN", "还有180种商品（共{}件）"),
        ("th", "และสินค้าอีก 180 รายการ (รวม {} ชิ้น)"),
    ],
)
def test_every_language_sums_up_the_rest_in_its_own_words(locale: str, words: str) -> None:
    order = large_order(200)
    pieces = sum(item.quantity for item in order.line_items[LIMIT:])
    context, email = _confirmation(order, locale)
    assert context["locale"] != "en"
    assert words.format(pieces) in _text(email.html)
    assert "See your whole order" not in email.html


def test_a_parcel_of_many_items_and_many_to_come_share_the_lines() -> None:
    order = large_order(200)
    placed = _placed(order)
    first = orders.shipped(lines=tuple((i.line_id, i.quantity) for i in order.line_items[:120]))
    context, email = _render(
        SampleEmail(EmailKind.ORDER_SHIPPED, "s", first, state_after(placed, first), True)
    )
    shipment = context["shipment"]
    assert len(shipment["line_items"]) == len(shipment["still_to_come"]) == LIMIT // 2
    in_parcel = order.line_items[LIMIT // 2 : 120]
    to_come = order.line_items[120 + LIMIT // 2 :]
    assert shipment["more_items"] == {
        "lines": 110,
        "quantity": sum(i.quantity for i in in_parcel),
    }
    assert shipment["more_to_come"] == {"lines": 70, "quantity": sum(i.quantity for i in to_come)}
    assert shipment["is_partial"] and not shipment["completes_order"]
    words = _text(email.html)
    assert "and 110 more items" in words and "and 70 more items" in words
    assert encoded_size(email.html) < MAX_HTML_BYTES


def test_a_whole_order_in_one_parcel_and_its_delivery_list_the_first_lines() -> None:
    order = large_order(200)
    for sample in _every_email(order, "en"):
        context, email = _render(sample)
        listing = context["shipment"] or context["delivery"]
        if listing is None:
            continue
        assert len(listing["line_items"]) == LIMIT
        assert listing["more_items"]["lines"] == 180
        assert listing["still_to_come"] == [] and listing["more_to_come"] is None
        assert "and 180 more items" in _text(email.html)


def test_a_parcel_with_a_few_items_leaves_its_share_to_the_list_still_to_come() -> None:
    order = large_order(200)
    placed = _placed(order)
    first = orders.shipped(lines=tuple((i.line_id, i.quantity) for i in order.line_items[:3]))
    context, _ = _render(
        SampleEmail(EmailKind.ORDER_SHIPPED, "s", first, state_after(placed, first))
    )
    shipment = context["shipment"]
    assert len(shipment["line_items"]) == 3 and shipment["more_items"] is None
    assert len(shipment["still_to_come"]) == LIMIT - 3
    assert shipment["more_to_come"]["lines"] == 197 - (LIMIT - 3)


@pytest.mark.parametrize(
    ("limit", "lengths", "shares"),
    [
        (20, (200, 200), (10, 10)),
        (20, (3, 200), (3, 17)),
        (20, (200, 3), (17, 3)),
        (20, (0, 50), (0, 20)),
        (20, (5,), (5,)),
        (21, (200, 200), (11, 10)),
        (1, (5, 5), (1, 1)),  # a list with lines never shows none
        (20, (0, 0), (0, 0)),
    ],
)
def test_lists_share_the_lines_an_email_shows(
    limit: int, lengths: tuple[int, ...], shares: tuple[int, ...]
) -> None:
    assert share_lines(limit, *lengths) == shares


def test_a_refund_of_every_line_lists_the_first_and_keeps_the_whole_amount() -> None:
    order = large_order(200)
    sample = _every_email(order, "en")[-1]
    context, email = _render(sample)
    refund = context["refund"]
    assert len(refund["line_items"]) == LIMIT
    assert refund["more_items"]["lines"] == 180
    assert refund["amount"] == format_money(order.costs.total, "EUR", "en")
    assert refund["amount"] in _text(email.html)
    assert "and 180 more items" in _text(email.html) and "and 180 more items" in email.text


def _split_delay(waiting: int) -> SampleEmail:
    """A delay notice for an order whose first line is ready and ``waiting`` lines are not."""
    ready = LineItem(line_id="R1", title="Oak spoon", quantity=1, unit_price=Decimal("14.00"))
    backordered = tuple(
        item.model_copy(update={"backordered": True}) for item in large_order(waiting).line_items
    )
    order = large_order(1).model_copy(update={"line_items": (ready, *backordered)})
    placed = _placed(order)
    delayed = orders.delayed()
    return SampleEmail(EmailKind.ORDER_DELAYED, "l", delayed, state_after(placed, delayed))


def test_the_ready_now_choice_names_the_waiting_items_only_when_few() -> None:
    few, _ = _render(_split_delay(3))
    assert few["delay"]["waiting_items"] == ["Enamel mug", "Enamel mug", "Enamel mug"]
    many, email = _render(_split_delay(150))
    assert many["delay"]["options"]["ship_ready_now"] is not None
    assert many["delay"]["waiting_items"] == []
    assert "Send what is ready now, the rest when it arrives" in email.html
    assert encoded_size(email.html) < MAX_HTML_BYTES


@pytest.mark.parametrize("value", [0, -3, MAX_ITEM_LINES + 1, 500])
def test_a_setting_past_what_fits_in_an_email_is_refused_with_the_reason(value: int) -> None:
    with pytest.raises(ValidationError) as raised:
        StoreFacts(max_item_lines=value)
    message = str(raised.value)
    assert "max_item_lines must be between 1 and" in message and "Gmail" in message


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_STORE__MAX_ITEM_LINES", "12")
    assert Settings(_env_file=None).store.max_item_lines == 12
    monkeypatch.setenv("AFTERCARE_STORE__MAX_ITEM_LINES", "lots")
    with pytest.raises(ValidationError, match="max_item_lines"):
        Settings(_env_file=None)


def test_the_sample_order_of_200_lines_is_in_the_template_check() -> None:
    report = check_templates(TEMPLATES)
    assert not [f for f in report.errors if f.rule == "html-size"]
    store = sample_store_facts().model_copy(update={"max_item_lines": LARGE_ORDER_LINES})
    uncut = check_templates(TEMPLATES, store)  # every line listed: Gmail would clip it
    too_large = {(f.template, f.sample) for f in uncut.errors if f.rule == "html-size"}
    assert ("en/order_confirmation.html", f"{LARGE_ORDER_LINES} lines") in too_large


def test_a_store_without_an_order_page_still_gets_the_summary() -> None:
    order = large_order(200).model_copy(update={"status_url": None})
    context, email = _confirmation(order)
    assert context["order"]["status_url"] is None
    assert "and 180 more items" in _text(email.html)
    assert "See your whole order" not in email.html + email.text


def test_context_building_stays_quick_for_a_huge_order() -> None:
    """1000 lines are formatted only as far as the email lists them."""
    order = large_order(1000)
    placed = _placed(order)
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        placed,
        state_after(placed),
        STORE,
        SHIPPED_AT - timedelta(days=2),
        template_locales=RENDERER.available_locales(),
        enrichment=sample_enrichment(STORE),
    )
    assert len(context["order"]["line_items"]) == LIMIT
    assert context["order"]["more_items"]["lines"] == 1000 - LIMIT
