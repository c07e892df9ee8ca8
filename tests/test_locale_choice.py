"""Which language an email is written in: the customer's, else their shipping country's main
language, else the store's default; regional variants and Traditional Chinese by the store's
rules, and the choice recorded with the email.

Given a store offering the four product locales (en, zh-CN, ru, th) and real store payloads.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency

from aftercare.emails import EmailKind, build_context, compose_email
from aftercare.emails.context import email_locale_choice
from aftercare.emails.email_kind import PlannedEmail
from aftercare.emails.locale_choice import choose_locale
from aftercare.order_state import merge_event
from aftercare.rendering.renderer import EmailRenderer
from aftercare.sample_store import orders
from aftercare.settings import PROJECT_ROOT, StoreFacts
from tests import test_store_shopify as shopify
from tests import test_store_woocommerce as woocommerce

FOUR = ("en", "zh-CN", "ru", "th")
STORE = StoreFacts(offered_locales=FOUR)
NOW = orders.PLACED_AT + timedelta(minutes=5)


def shopify_order(customer_locale: str | None, country: str | None = None):  # noqa: ANN201
    """Shopify's orders/paid sample with the customer's locale (and shipping country) set."""
    payload = copy.deepcopy(shopify.sample("orders_paid"))
    payload["customer_locale"] = customer_locale
    if country is not None:
        payload["shipping_address"] |= {"country_code": country, "province_code": None}
    event = shopify.only_event(shopify.delivery(payload, "orders/paid"))
    return event, merge_event(None, event)


def choice_for(event, state, store: StoreFacts = STORE):  # noqa: ANN001, ANN201
    return email_locale_choice(EmailKind.ORDER_CONFIRMATION, event, state, store, FOUR)


# --- the customer's own locale -----------------------------------------------------------------


def test_a_shopify_customer_in_traditional_chinese_gets_the_default_unless_the_store_allows():
    event, state = shopify_order("zh-TW")
    assert state.customer.locale == "zh_TW"

    refused = choice_for(event, state)
    assert refused.locale == "en" and refused.fell_back
    assert refused.as_record() == {
        "wanted": "zh-TW",
        "chose": "en",
        "source": "store_default",
        "because": "the store does not allow zh-TW → zh-CN; the store's default, en",
    }

    allowed = choice_for(
        event, state, STORE.model_copy(update={"allow_traditional_to_simplified": True})
    )
    assert (allowed.locale, allowed.source, allowed.wanted) == ("zh-CN", "customer", "zh-TW")
    assert allowed.fell_back  # another script than asked: recorded as a fallback
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        event,
        state,
        STORE.model_copy(update={"allow_traditional_to_simplified": True}),
        NOW,
        template_locales=FOUR,
    )
    assert context["lang"] == "zh-Hans-CN"


def test_a_store_offering_traditional_chinese_writes_it_without_any_allowance() -> None:
    chosen = choose_locale("zh_HK", None, offered=(*FOUR, "zh-TW"), default="en")
    assert chosen.locale == "zh-TW" and not chosen.fell_back


@pytest.mark.parametrize("tag", ["zh_SG", "zh_Hans", "zh_Hans_CN", "zh_CN"])
def test_simplified_chinese_of_any_region_is_written_in_zh_cn(tag: str) -> None:
    chosen = choose_locale(tag, None, offered=FOUR, default="en")
    assert chosen.locale == "zh-CN" and not chosen.fell_back


def test_russian_in_ukraine_is_written_in_russian_and_formatted_for_ukraine() -> None:
    event, state = shopify_order("ru-UA")
    chosen = choice_for(event, state)
    assert (chosen.locale, chosen.formatting, chosen.fell_back) == ("ru", "ru_UA", False)
    assert chosen.because == "the customer's locale ru-UA, in the store's ru"
    context = build_context(
        EmailKind.ORDER_CONFIRMATION, event, state, STORE, NOW, template_locales=FOUR
    )
    assert context["locale"] == "ru_UA"


def test_a_language_the_store_does_not_offer_gets_the_default_not_the_country_language() -> None:
    # German, shipping to Thailand: Thai would not help; the store's English does.
    chosen = choose_locale("de_DE", "TH", offered=FOUR, default="en")
    assert (chosen.locale, chosen.source, chosen.wanted) == ("en", "store_default", "de-DE")
    assert chosen.because == "the store does not offer de-DE; the store's default, en"


def test_an_unknown_locale_counts_as_none() -> None:
    assert choose_locale("xx_YY", "TH", offered=FOUR, default="en").locale == "th"


# --- without one: the shipping country ---------------------------------------------------------


def test_without_a_locale_a_parcel_to_thailand_is_written_in_thai_when_the_store_offers_it():
    event, state = shopify_order(None, country="TH")
    assert state.customer.locale is None
    thai = choice_for(event, state)
    assert (thai.locale, thai.source, thai.formatting) == ("th", "shipping_country", "th_TH")

    english_only = choice_for(event, state, StoreFacts(offered_locales=("en",)))
    assert (english_only.locale, english_only.source) == ("en", "store_default")
    assert english_only.wanted == "th-TH" and english_only.fell_back
    assert "th-TH, the main language of TH: the store does not offer th-TH" in (
        english_only.because
    )


def test_a_parcel_to_taiwan_follows_the_traditional_chinese_rule_too() -> None:
    assert choose_locale(None, "TW", offered=FOUR, default="en").locale == "en"
    allowed = choose_locale(
        None, "TW", offered=FOUR, default="en", allow_traditional_to_simplified=True
    )
    assert allowed.locale == "zh-CN"


def test_the_welcome_email_reads_the_country_of_the_customers_own_address() -> None:
    payload = copy.deepcopy(shopify.sample("customers_create"))
    payload["default_address"] |= {
        "country_code": "RU",
        "province_code": "PRI",
        "city": "Vladivostok",
    }
    event = shopify.only_event(shopify.delivery(payload, "customers/create"))
    assert event.customer.locality.country_code == "RU"
    chosen = email_locale_choice(EmailKind.WELCOME, event, None, STORE, FOUR)
    assert (chosen.locale, chosen.source) == ("ru", "shipping_country")


def test_unset_offered_locales_mean_every_template_language() -> None:
    event, state = shopify_order(None, country="RU")
    chosen = email_locale_choice(
        EmailKind.ORDER_CONFIRMATION, event, state, StoreFacts(), ("en", "ru")
    )
    assert chosen.locale == "ru"
    assert (
        email_locale_choice(
            EmailKind.ORDER_CONFIRMATION, event, state, StoreFacts(), ("en",)
        ).locale
        == "en"
    )


def test_the_default_is_offered_even_when_not_listed() -> None:
    chosen = choose_locale("de_AT", None, offered=("en",), default="de_AT")
    assert (chosen.locale, chosen.formatting) == ("de-AT", "de_AT")


def test_formatting_keeps_the_customers_region_in_the_default_language() -> None:
    # A Swiss German customer of an English-only store: English, Swiss money.
    swiss = orders.customer(locale="de_CH")
    placed = orders.placed(customer=swiss)
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        placed,
        orders.state_after(placed),
        StoreFacts(offered_locales=("en",)),
        NOW,
        template_locales=FOUR,
    )
    assert context["locale"] == "en_CH"
    assert context["order"]["costs"]["subtotal"] == format_currency(
        Decimal("112.50"), "EUR", locale="en_CH"
    )


# --- WooCommerce: the language plugins' meta -------------------------------------------------


def test_a_woocommerce_order_carries_wpmls_language() -> None:
    payload = woocommerce.woo_order("processing")
    payload["meta_data"] = [
        {"id": 1, "key": "_download_permissions_granted", "value": "yes"},
        {"id": 2, "key": "wpml_language", "value": "zh-hans"},
    ]
    event = woocommerce.only_event(woocommerce.delivery(payload, "order.created"))
    assert event.customer.locale == "zh_Hans"
    state = merge_event(None, event)
    assert choice_for(event, state).locale == "zh-CN"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("pll_language", "ru", "ru"),
        ("trp_language", "th_TH", "th_TH"),
        ("_wpml_language", "ru", "ru"),
        ("wpml_language", "klingon", None),  # not a locale: the store's applies
    ],
)
def test_every_language_plugins_order_meta_is_read(key: str, value: str, expected: str) -> None:
    payload = woocommerce.woo_order("processing")
    payload["meta_data"] = [{"id": 7, "key": key, "value": value}]
    event = woocommerce.only_event(woocommerce.delivery(payload, "order.created"))
    assert event.customer.locale == expected


def test_a_new_woocommerce_customer_has_their_wordpress_locale_and_address() -> None:
    payload = woocommerce.sample("customers__01_create_a_customer")
    payload["meta_data"] = [{"id": 3, "key": "locale", "value": "ru_RU"}]
    event = woocommerce.only_event(woocommerce.delivery(payload, "customer.created"))
    assert event.customer.locale == "ru_RU"
    assert event.customer.locality is not None
    assert event.customer.locality.country_code == payload["shipping"]["country"]
    assert event.customer.locality.region == payload["shipping"]["state"]


# --- recorded with the email -----------------------------------------------------------------


def test_the_choice_is_recorded_in_the_emails_explanation() -> None:
    event, state = shopify_order("zh-TW")
    renderer = EmailRenderer(PROJECT_ROOT / "email_templates")
    planned = PlannedEmail(
        kind=EmailKind.ORDER_CONFIRMATION, idempotency_key="shopify:order:test:confirmation"
    )
    email = compose_email(planned, event, state, STORE, renderer, NOW)
    record = email.explanation.as_record()
    assert record["locale_choice"]["wanted"] == "zh-TW"
    assert record["locale_choice"]["chose"] == "en"
    assert "does not allow zh-TW → zh-CN" in record["locale_choice"]["because"]
