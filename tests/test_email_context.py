"""What each email's template is given: the facts the customer needs, formatted for them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.dates import format_date, format_interval
from babel.numbers import format_currency

from aftercare.emails.context import build_context
from aftercare.emails.kinds import EmailKind
from aftercare.enrichment.promises import DeliveryPromiseRules
from aftercare.enrichment.tracking.links import TrackingLinkSettings
from aftercare.errors import InvalidEventError, OrderNotYetKnownError
from aftercare.events import RefundItem, RefundMethod, ShipmentItem
from aftercare.sample_store import orders
from aftercare.settings import StoreFacts

# Five minutes after the order was placed: sent as the pipeline sends, without delay.
NOW = orders.PLACED_AT + timedelta(minutes=5)


def confirmation(**order_overrides: object) -> dict:
    placed = orders.placed(**order_overrides)
    return build_context(
        EmailKind.ORDER_CONFIRMATION,
        placed,
        orders.state_after(placed),
        StoreFacts(),
        NOW,
    )


def shipped(*fulfilments, store=None) -> dict:
    placed = orders.placed()
    events = [orders.shipped(fulfilment=f) for f in fulfilments]
    state = orders.state_after(placed, *events)
    return build_context(EmailKind.ORDER_SHIPPED, events[-1], state, store or StoreFacts(), NOW)


def refunded(refund, customer=None) -> dict:
    placed = orders.placed(customer=customer)
    event = orders.refunded(refund=refund)
    state = orders.state_after(placed, event)
    return build_context(EmailKind.ORDER_REFUNDED, event, state, StoreFacts(), NOW)


# --- every email ---------------------------------------------------------------------------


def test_every_email_context_has_the_same_keys_so_shared_partials_can_rely_on_them() -> None:
    welcome = build_context(EmailKind.WELCOME, orders.welcome(), None, StoreFacts(), NOW)
    assert welcome.keys() == confirmation().keys()
    assert welcome["order"] is None and welcome["tracking"] is None


def test_the_context_is_plain_data_a_sandboxed_template_can_only_read() -> None:
    context = confirmation()
    assert json.loads(json.dumps(context)) == context


def test_every_email_carries_the_support_promise_and_where_the_store_ships_from() -> None:
    store = StoreFacts()
    facts = confirmation()["store"]
    assert facts["support_reply_time"] == store.support_reply_time
    assert facts["ships_from"] == store.ships_from
    assert facts["return_policy_summary"] == store.return_policy_summary
    assert all(
        facts[link].startswith("https://")
        for link in ("website_url", "support_url", "faq_url", "return_policy_url")
    )


def test_enrichment_slots_start_empty() -> None:
    context = confirmation()
    assert context["likely_questions"] == []
    assert context["cross_sell"] == []


def test_the_greeting_uses_the_first_name_and_has_none_when_the_store_sent_no_name() -> None:
    named = build_context(EmailKind.WELCOME, orders.welcome(), None, StoreFacts(), NOW)
    anonymous = build_context(
        EmailKind.WELCOME,
        orders.welcome(first_name=None, last_name=None),
        None,
        StoreFacts(),
        NOW,
    )
    assert named["customer"] == {"first_name": "Anna"}
    assert anonymous["customer"] == {"first_name": None}


def test_locale_and_direction_follow_the_customer_else_the_store() -> None:
    arabic = build_context(
        EmailKind.WELCOME,
        orders.welcome(locale="ar_EG"),
        None,
        StoreFacts(),
        NOW,
        template_locales=("en", "ar"),
    )
    default = build_context(
        EmailKind.WELCOME,
        orders.welcome(),
        None,
        StoreFacts(default_locale="de_AT"),
        NOW,
        template_locales=("en", "de"),
    )
    assert (arabic["locale"], arabic["lang"], arabic["dir"]) == ("ar_EG", "ar-EG", "rtl")
    assert (default["locale"], default["lang"], default["dir"]) == ("de_AT", "de-AT", "ltr")


def test_without_a_translation_the_email_is_english_formatted_for_the_customer_region() -> None:
    swiss_german = orders.customer(locale="de_CH")
    placed = orders.placed(customer=swiss_german)
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        placed,
        orders.state_after(placed),
        StoreFacts(),
        NOW,
        template_locales=("en",),
    )
    assert (context["locale"], context["lang"]) == ("en_CH", "en-CH")
    subtotal = format_currency(Decimal("112.50"), "EUR", locale="en_CH")
    assert subtotal != format_currency(Decimal("112.50"), "EUR", locale="de_CH")
    assert context["order"]["costs"]["subtotal"] == subtotal
    assert context["order"]["placed_on"] == format_date(date(2024, 6, 4), "full", locale="en_CH")
    assert context["order"]["shipping_address"]["country"] == "Germany"


def test_welcome_tells_processing_and_transit_times_by_region() -> None:
    store = StoreFacts(
        processing_days_min=1, processing_days_max=2, international_transit_days=(5, 12)
    )
    context = build_context(EmailKind.WELCOME, orders.welcome(), None, store, NOW)
    times = context["shipping_times"]
    assert times["processing_days"] == "1\u20132"
    assert times["domestic_region"] == "Germany"
    assert times["international_transit_days"] == "5\u201312"


def test_a_welcome_email_needs_a_customer() -> None:
    placed = orders.placed()
    no_customer = placed.model_copy(update={"customer": None})
    with pytest.raises(InvalidEventError, match="customer"):
        build_context(EmailKind.WELCOME, no_customer, None, StoreFacts(), NOW)


def test_an_order_email_without_order_state_is_retried_not_sent_half_empty() -> None:
    with pytest.raises(OrderNotYetKnownError):
        build_context(EmailKind.ORDER_SHIPPED, orders.shipped(), None, StoreFacts(), NOW)


# --- confirmation ----------------------------------------------------------------------------


def test_a_confirmation_shows_every_cost_line_formatted_for_the_customer() -> None:
    costs = confirmation()["order"]["costs"]
    money = lambda amount: format_currency(Decimal(amount), "EUR", locale="en")  # noqa: E731
    assert costs["subtotal"] == money("112.50")
    assert costs["discounts"] == money("-10.00")
    assert costs["discount_codes"] == ["WELCOME10"]
    assert costs["shipping"] == money("4.90")
    assert costs["taxes"] == money("17.15")
    assert costs["taxes_included"] is True
    assert costs["total"] == money("107.40")


def test_money_is_formatted_in_the_customer_locale() -> None:
    german = orders.customer(locale="de_DE")
    placed = orders.placed(
        customer=german,
        costs=orders.costs(subtotal=Decimal("1234.50"), total=Decimal("1234.50")),
    )
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        placed,
        orders.state_after(placed),
        StoreFacts(),
        NOW,
        template_locales=("en", "de"),
    )
    expected = format_currency(Decimal("1234.50"), "EUR", locale="de_DE")
    assert expected == "1.234,50\xa0€"
    assert context["order"]["costs"]["subtotal"] == expected


def test_an_international_confirmation_warns_about_duties_not_included() -> None:
    swiss = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    context = confirmation(shipping_address=swiss)
    assert context["order"]["is_international"] is True
    assert context["order"]["destination_country"] == "Switzerland"
    assert context["order"]["costs"]["duties_status"] == "due_on_delivery"
    assert context["order"]["costs"]["duties_notice"] is True


def test_a_parcel_within_the_eu_gets_no_duties_warning_though_it_goes_abroad() -> None:
    french = orders.address(city="Lyon", postal_code="69001", country_code="FR")
    context = confirmation(shipping_address=french)
    assert StoreFacts().ships_from_country == "DE"
    assert context["order"]["is_international"] is True  # transit times are international
    assert context["order"]["costs"]["duties_status"] == "none"
    assert context["order"]["costs"]["duties_notice"] is False


def test_a_parcel_to_the_canary_islands_gets_the_duties_warning() -> None:
    canarian = orders.address(city="Las Palmas", postal_code="35001", country_code="ES")
    context = confirmation(shipping_address=canarian)
    assert context["order"]["costs"]["duties_status"] == "due_on_delivery"
    assert context["order"]["costs"]["duties_notice"] is True


def test_duties_paid_at_checkout_are_a_cost_line_not_a_warning() -> None:
    swiss = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    costs = confirmation(
        shipping_address=swiss,
        costs=orders.costs(duties=Decimal("8.20"), total=Decimal("115.60")),
    )["order"]["costs"]
    assert costs["duties"] == format_currency(Decimal("8.20"), "EUR", locale="en")
    assert costs["duties_status"] == "charged"
    assert costs["duties_notice"] is False


def test_a_domestic_confirmation_says_nothing_about_duties() -> None:
    costs = confirmation()["order"]["costs"]
    assert costs["duties"] is None
    assert costs["duties_notice"] is False


def test_tax_lines_keep_their_rate() -> None:
    from aftercare.events import TaxLine

    costs = confirmation(
        costs=orders.costs(
            tax_lines=(TaxLine(title="MwSt", rate=Decimal("0.081"), amount=Decimal("8.05")),)
        )
    )["order"]["costs"]
    assert costs["tax_lines"][0]["title"] == "MwSt"
    assert costs["tax_lines"][0]["rate"] == "8.1%"


def test_a_confirmation_promises_a_ship_date_and_a_delivery_window() -> None:
    # Placed Tuesday 4 June 2024 (Berlin); 3 processing days -> Friday 7 June;
    # 1-3 domestic transit days -> Monday 10 to Wednesday 12 June.
    promise = confirmation()["promise"]
    assert promise["ship_by"] == format_date(date(2024, 6, 7), "full", locale="en")
    assert promise["delivery_window"] == format_interval(
        date(2024, 6, 10), date(2024, 6, 12), "yMMMMd", locale="en"
    )


def test_a_promise_stored_with_the_order_wins_over_a_fresh_computation() -> None:
    from dataclasses import replace

    placed = orders.placed()
    state = replace(
        orders.state_after(placed),
        promised_ship_by=date(2024, 6, 5),
        promised_deliver_by=date(2024, 6, 14),
    )
    context = build_context(EmailKind.ORDER_CONFIRMATION, placed, state, StoreFacts(), NOW)
    assert context["promise"]["ship_by"] == format_date(date(2024, 6, 5), "full", locale="en")
    assert context["promise"]["deliver_by"] == format_date(date(2024, 6, 14), "full", locale="en")


def test_the_order_number_and_status_link_are_given_and_the_address_is_printable() -> None:
    order = confirmation()["order"]
    assert order["number"] == "1001"
    assert order["status_url"] == "https://fernandfield.example/account/orders/1001"
    assert order["shipping_address"]["lines"] == [
        "Anna Keller",
        "Karl-Liebknecht-Str. 12",
        "04107 Leipzig",
        "Germany",
    ]


def test_a_us_address_reads_city_state_zip() -> None:
    us = orders.address(
        name="Ann Lee",
        line1="1 Main St",
        city="Portland",
        region="OR",
        postal_code="97201",
        country_code="US",
    )
    assert confirmation(shipping_address=us)["order"]["shipping_address"]["lines"][2:] == [
        "Portland, OR 97201",
        "United States",
    ]


def test_a_plain_http_status_link_is_dropped_rather_than_sent() -> None:
    assert confirmation(status_url="http://fernandfield.example/o/1")["order"]["status_url"] is None


# --- shipped --------------------------------------------------------------------------------


def test_a_partial_shipment_lists_only_its_items_and_what_is_still_to_come() -> None:
    first_parcel = orders.fulfilment(
        items=(ShipmentItem(line_id="L1", quantity=1), ShipmentItem(line_id="L2", quantity=1))
    )
    shipment = shipped(first_parcel)["shipment"]
    assert [(i["title"], i["quantity"]) for i in shipment["line_items"]] == [
        ("Linen apron", 1),
        ("Beeswax wraps", 1),
    ]
    assert [(i["title"], i["quantity"]) for i in shipment["still_to_come"]] == [
        ("Beeswax wraps", 2),
        ("Enamel mug", 2),
    ]
    assert shipment["is_partial"] is True


def test_the_last_parcel_completes_the_order() -> None:
    first = orders.fulfilment(external_id="f-1", items=(ShipmentItem(line_id="L1", quantity=1),))
    second = orders.fulfilment(
        external_id="f-2",
        items=(ShipmentItem(line_id="L2", quantity=3), ShipmentItem(line_id="L3", quantity=2)),
    )
    shipment = shipped(first, second)["shipment"]
    assert [i["title"] for i in shipment["line_items"]] == ["Beeswax wraps", "Enamel mug"]
    assert shipment["still_to_come"] == []
    assert shipment["completes_order"] is True


def test_shipment_items_carry_no_prices() -> None:
    item = shipped(orders.fulfilment())["shipment"]["line_items"][0]
    assert item["line_total"] is None and item["unit_price"] is None


def test_the_store_https_tracking_page_is_the_tracking_link() -> None:
    parcel = orders.fulfilment()
    tracking = shipped(parcel)["tracking"]
    assert tracking.pop("parcels") == [tracking]  # one box, one link
    assert tracking == {
        "url": parcel.tracking_urls[0],
        "number": "00340434161094042557",
        "carrier": "DHL",
        "source": "store_url",
        # A DHL Paket number: no format in the carrier table, so nothing more to say.
        "format": None,
        "check_digit_ok": None,
    }


def test_without_an_https_tracking_page_the_number_goes_to_a_universal_tracker() -> None:
    parcel = orders.fulfilment(
        tracking_numbers=("RR 123/456 DE",), tracking_urls=("http://track.example/RR123",)
    )
    tracking = shipped(parcel)["tracking"]
    assert tracking["url"] == "https://t.17track.net/en#nums=RR123%2F456DE"
    assert tracking["source"] == "universal"


def test_a_recognized_number_without_a_link_goes_to_the_carrier_page() -> None:
    parcel = orders.fulfilment(
        carrier=None, tracking_numbers=("1Z 999 AA1 01 2345 6784",), tracking_urls=()
    )
    tracking = shipped(parcel)["tracking"]
    assert tracking.pop("parcels") == [tracking]
    assert tracking == {
        "url": "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums=1Z999AA10123456784",
        "number": "1Z999AA10123456784",
        "carrier": "UPS",  # the store named none; the number did
        "source": "carrier",
        "format": "UPS",
        "check_digit_ok": True,
    }


class StoreWithIssue5Settings(StoreFacts):
    """``StoreFacts`` with the settings issue 5 adds, whether or not it has them yet."""

    tracking_links: TrackingLinkSettings = TrackingLinkSettings()
    delivery_promise: DeliveryPromiseRules = DeliveryPromiseRules()


def store_with(**settings: object) -> StoreFacts:
    return StoreWithIssue5Settings(**(StoreFacts().model_dump() | settings))


def test_the_store_own_tracking_page_wins_and_gets_the_order_number() -> None:
    store = store_with(
        tracking_links=TrackingLinkSettings(
            store_page_template="https://fernandfield.example/track?order={order}&n={number}"
        )
    )
    tracking = shipped(orders.fulfilment(), store=store)["tracking"]
    assert tracking["url"] == (
        "https://fernandfield.example/track?order=1001&n=00340434161094042557"
    )
    assert tracking["source"] == "store_page"


def test_a_hostile_tracking_number_gives_no_link_and_is_not_repeated() -> None:
    parcel = orders.fulfilment(
        tracking_numbers=('"><script>alert(1)</script>',), tracking_urls=("javascript:alert(1)",)
    )
    assert shipped(parcel)["tracking"] is None


def test_an_order_after_the_cut_off_is_promised_a_day_later() -> None:
    # orders.PLACED_AT is Tuesday 4 June 2024, 09:00 in Berlin: before a 14:00 cut-off,
    # after an 08:00 one. Tuesday + 3 business days = Friday 7th; Wednesday + 3 = Monday 10th.
    early = store_with(delivery_promise=DeliveryPromiseRules(order_cutoff=time(8, 0)))
    placed = orders.placed()
    state = orders.state_after(placed)
    default = build_context(EmailKind.ORDER_CONFIRMATION, placed, state, StoreFacts(), NOW)
    late = build_context(EmailKind.ORDER_CONFIRMATION, placed, state, early, NOW)
    assert default["promise"]["ship_by"] == format_date(date(2024, 6, 7), "full", locale="en")
    assert late["promise"]["ship_by"] == format_date(date(2024, 6, 10), "full", locale="en")


def test_a_shipment_in_several_boxes_links_every_box() -> None:
    parcel = orders.fulfilment(
        carrier="UPS",
        tracking_numbers=("1Z999AA10123456784", " ", "1Z 999 AA1 01 2345 6784", "RR123456785DE"),
        tracking_urls=(),
    )
    tracking = shipped(parcel)["tracking"]
    # The blank number is skipped and the same number written twice is one box.
    assert [p["number"] for p in tracking["parcels"]] == ["1Z999AA10123456784", "RR123456785DE"]
    ups, second = tracking["parcels"]
    assert ups["url"].endswith("trackNums=1Z999AA10123456784") and ups["source"] == "carrier"
    # The store named UPS for the shipment; an S10 number is no UPS number: a universal link.
    assert second["url"] == "https://t.17track.net/en#nums=RR123456785DE"
    assert tracking["url"] == ups["url"] and tracking["number"] == ups["number"]


def test_each_box_gets_the_store_link_given_with_its_number() -> None:
    parcel = orders.fulfilment(
        carrier="DHL",
        tracking_numbers=("00340434161094042557", "00340434161094042564"),
        tracking_urls=(
            "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094042557",
            "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094042564",
        ),
    )
    parcels = shipped(parcel)["tracking"]["parcels"]
    assert [p["url"] for p in parcels] == list(parcel.tracking_urls)
    assert {p["source"] for p in parcels} == {"store_url"}


def test_boxes_with_numbers_that_cannot_be_linked_keep_their_own_store_pages() -> None:
    parcel = orders.fulfilment(
        carrier="Local courier",
        tracking_numbers=("Box 1 of order #1001 <fragile>", "Box 2 of order #1001 <fragile>"),
        tracking_urls=(
            "https://fernandfield.example/shipments/a",
            "https://fernandfield.example/shipments/b",
        ),
    )
    parcels = shipped(parcel)["tracking"]["parcels"]
    assert [(p["url"], p["number"]) for p in parcels] == [
        ("https://fernandfield.example/shipments/a", None),
        ("https://fernandfield.example/shipments/b", None),
    ]


def test_a_store_link_without_any_number_is_still_a_link() -> None:
    parcel = orders.fulfilment(
        tracking_numbers=(), tracking_urls=("https://fernandfield.example/track/1001",)
    )
    tracking = shipped(parcel)["tracking"]
    assert tracking["url"] == "https://fernandfield.example/track/1001"
    assert tracking["number"] is None and len(tracking["parcels"]) == 1


def test_a_parcel_without_tracking_has_no_tracking_block() -> None:
    parcel = orders.fulfilment(tracking_numbers=(), tracking_urls=())
    assert shipped(parcel)["tracking"] is None


def test_estimated_delivery_comes_from_the_carrier_when_it_gave_one() -> None:
    parcel = orders.fulfilment(estimated_delivery_at=datetime(2024, 6, 6, 22, 30, tzinfo=UTC))
    shipment = shipped(parcel)["shipment"]
    # 22:30 UTC is already 7 June in Berlin, the store's (and so the customer's) time zone.
    assert shipment["estimated_delivery"] == format_date(date(2024, 6, 7), "full", locale="en")


def test_estimated_delivery_otherwise_is_the_transit_window_from_the_ship_date() -> None:
    # Shipped Wednesday 5 June; 1-3 domestic business days -> 6 to 10 June.
    shipment = shipped(orders.fulfilment())["shipment"]
    assert shipment["estimated_delivery"] == format_interval(
        date(2024, 6, 6), date(2024, 6, 10), "yMMMMd", locale="en"
    )


def test_a_shipment_naming_a_line_the_order_lacks_is_a_clear_error() -> None:
    parcel = orders.fulfilment(items=(ShipmentItem(line_id="L9", quantity=1),))
    with pytest.raises(InvalidEventError, match="L9"):
        shipped(parcel)


# --- delayed --------------------------------------------------------------------------------


def delayed(notice=None) -> dict:
    placed = orders.placed()
    event = orders.delayed(notice=notice)
    state = orders.state_after(placed, event)
    return build_context(EmailKind.ORDER_DELAYED, event, state, StoreFacts(), NOW)


def test_a_delay_offers_keep_waiting_refund_and_faster_reship_as_support_links() -> None:
    options = delayed()["delay"]["options"]
    support = urlsplit(str(StoreFacts().support_url))
    # sending part of the order now is offered only when part of it waits for stock
    assert options.pop("ship_ready_now") is None
    for choice, url in options.items():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", support.netloc, support.path)
        assert parse_qs(parts.query) == {"order": ["1001"], "choice": [choice]}
    assert set(options) == {"keep_waiting", "refund", "reship_faster"}


def test_a_delay_gives_the_reason_the_new_date_and_the_coupon() -> None:
    delay = delayed()["delay"]
    assert delay["reason"] == orders.delay_notice().reason
    assert delay["new_estimated_delivery"] == format_date(date(2024, 6, 21), "full", locale="en")
    assert delay["coupon"] == {"code": "SORRY15", "description": "15% off your next order"}


def test_an_unshipped_delay_names_the_missed_ship_date_a_shipped_one_the_delivery_date() -> None:
    from dataclasses import replace

    placed = orders.placed()
    event = orders.delayed()
    state = replace(
        orders.state_after(placed, event),
        promised_ship_by=date(2024, 6, 12),
        promised_deliver_by=date(2024, 6, 18),
    )
    store = StoreFacts()
    waiting = build_context(EmailKind.ORDER_DELAYED, event, state, store, NOW)["delay"]
    assert waiting["already_shipped"] is False
    assert waiting["previous_estimate"] == format_date(date(2024, 6, 12), "full", locale="en")
    on_its_way = replace(state, fulfilments=(orders.fulfilment(),))
    moving = build_context(EmailKind.ORDER_DELAYED, event, on_its_way, store, NOW)["delay"]
    assert moving["already_shipped"] is True
    assert moving["previous_estimate"] == format_date(date(2024, 6, 18), "full", locale="en")


def test_a_delay_without_a_coupon_has_none() -> None:
    assert delayed(orders.delay_notice(coupon_code=None))["delay"]["coupon"] is None


# --- refunded -------------------------------------------------------------------------------


def test_a_card_refund_says_when_it_appears_on_the_statement() -> None:
    # Refunded Wednesday 12 June; 5-10 business days -> 19 to 26 June.
    refund = refunded(orders.refund(method=RefundMethod.CARD))["refund"]
    assert refund["appears_immediately"] is False
    assert refund["statement_days"] == "5\u201310"
    assert refund["expected_between"] == format_interval(
        date(2024, 6, 19), date(2024, 6, 26), "yMMMMd", locale="en"
    )


def test_store_credit_is_available_at_once() -> None:
    refund = refunded(orders.refund(method=RefundMethod.STORE_CREDIT))["refund"]
    assert refund["appears_immediately"] is True
    assert refund["expected_between"] is None


def test_a_refund_lists_its_items_with_amount_and_currency() -> None:
    mug_and_shipping = orders.refund(
        amount=Decimal("22.90"),
        items=(RefundItem(line_id="L3", quantity=1, amount=Decimal("18.00")),),
    )
    refund = refunded(mug_and_shipping)["refund"]
    assert refund["amount"] == format_currency(Decimal("22.90"), "EUR", locale="en")
    assert refund["currency"] == "EUR"
    assert refund["line_items"] == [
        {
            "title": "Enamel mug",
            "variant_title": None,
            "quantity": 1,
            "amount": format_currency(Decimal("18.00"), "EUR", locale="en"),
        }
    ]
    assert refund["is_full_refund"] is False


def test_refund_dates_are_the_customer_day() -> None:
    tokyo = orders.customer(time_zone="Asia/Tokyo")
    late_utc = orders.refund(created_at=datetime(2024, 6, 12, 22, 0, tzinfo=UTC))
    refund = refunded(late_utc, customer=tokyo)["refund"]
    assert refund["refunded_on"] == format_date(date(2024, 6, 13), "full", locale="en")


def test_a_refund_of_the_whole_total_is_a_full_refund() -> None:
    refund = refunded(orders.refund(amount=Decimal("107.40")))["refund"]
    assert refund["is_full_refund"] is True
