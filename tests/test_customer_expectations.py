"""What customers expect from a store's emails (issue 18, point 8), as Shopify's own
notifications have it: how they paid and where the bill goes, the shipping method they
chose, a link to the order in every order email, where a refund went, who the email is
from (the store's legal name and postal address, which the EU asks of commercial
communication), optional UTM parameters on the store's own links, and pictures that
degrade to readable alt text with images off. Plus the details a customer noticed at
375 px and with a screen reader.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from aftercare.authoring.samples import sample_emails, sample_store_facts
from aftercare.emails import EmailKind, build_context
from aftercare.events import OrderEvent
from aftercare.order_state import merge_event
from aftercare.rendering.rendered_email import RenderedEmail
from aftercare.rendering.renderer import EmailRenderer
from aftercare.sample_store import orders
from aftercare.settings import StoreFacts
from tests import test_store_shopify as shopify
from tests import test_store_woocommerce as woocommerce
from tests.browser import _FLAGS, chromium
from tests.test_locale_layout import LONG_TITLES
from tests.test_rendering import TEMPLATES

ORDER_KINDS = [kind for kind in EmailKind if kind is not EmailKind.WELCOME]


def _confirmation(event: OrderEvent, store: StoreFacts | None = None) -> RenderedEmail:
    """The confirmation of the order in ``event``, as the pipeline would render it."""
    store = store or StoreFacts()
    state = merge_event(None, event)
    renderer = EmailRenderer(TEMPLATES)
    assert event.order is not None
    now = event.order.placed_at + timedelta(minutes=5)
    context = build_context(
        EmailKind.ORDER_CONFIRMATION,
        event,
        state,
        store,
        now,
        template_locales=renderer.available_locales(),
    )
    return renderer.render(EmailKind.ORDER_CONFIRMATION, context, context["locale"])


def _samples(
    locale: str = "en", store: StoreFacts | None = None
) -> list[tuple[str, EmailKind, dict[str, Any], RenderedEmail]]:
    store = store or sample_store_facts()
    renderer = EmailRenderer(TEMPLATES)
    available = renderer.available_locales()
    rendered = []
    for sample in sample_emails(locale=locale):
        context = sample.context(store, available)
        email = renderer.render(sample.kind, context, context["locale"])
        rendered.append((sample.name, sample.kind, context, email))
    return rendered


def _sample(kind: EmailKind, name: str, locale: str = "en") -> RenderedEmail:
    return next(e for n, k, _, e in _samples(locale) if k is kind and n == name)


def _visible_text(page: str) -> str:
    """The body's words as a reader sees them: no styles, no hidden preheader."""
    tree = lxml.html.fromstring(page)
    for hidden in tree.xpath("//style | //div[@class='preheader']"):
        hidden.drop_tree()
    return " ".join(tree.text_content().split())


# --- payment, billing address and shipping method, from the stores' own sample payloads --------


def test_a_shopify_card_payment_is_named_by_brand_and_last_four() -> None:
    """Shopify's REST sample order: ``payment_details`` says Visa, XXXX-XXXX-XXXX-4242."""
    payload = shopify.sample("rest_order")["order"]
    event = shopify.parse(shopify.delivery(payload, "orders/paid")).events[0]
    assert event.order is not None and event.order.payment is not None
    assert (event.order.payment.card_brand, event.order.payment.card_last_four) == ("Visa", "4242")
    email = _confirmation(event)
    text = _visible_text(email.html)
    assert "Payment method: Visa ending in 4242" in text
    assert "Payment method: Visa ending in 4242" in email.text
    assert "XXXX" not in email.html  # never more of the card than its last four digits


def test_the_shopify_webhook_order_shows_shipping_method_and_billing_address() -> None:
    """Shopify's orders/paid sample, shipped by "Generic Shipping"; its billing address is
    the shipping address, so the email says so; billed elsewhere, it prints that address."""
    payload = shopify.sample("orders_paid")
    event = shopify.only_event(shopify.delivery(payload, "orders/paid"))
    assert event.order is not None and event.order.shipping_method == "Generic Shipping"
    email = _confirmation(event)
    text = _visible_text(email.html)
    assert "Shipping method: Generic Shipping" in text
    assert "Shipping method: Generic Shipping" in email.text
    assert "Billing address: same as the shipping address" in text
    assert "Billing address: same as the shipping address" in email.text
    # The gateway ("bogus", Shopify's test card gateway) says a card, not which one.
    assert "Payment method: Card" in text

    payload["billing_address"] |= {"address1": "1 Billing Road", "city": "Louisville"}
    email = _confirmation(shopify.only_event(shopify.delivery(payload, "orders/paid")))
    billing = _visible_text(email.html).split("Billing address:", 1)[1]
    assert "1 Billing Road" in billing and "Louisville, Kentucky 40003" in billing
    assert "1 Billing Road" in email.text.split("Billing address:", 1)[1]


def test_a_woocommerce_order_names_its_method_and_shipping_line() -> None:
    """WooCommerce's sample order: Direct bank transfer (bacs), "Flat Rate" shipping."""
    payload = woocommerce.woo_order("processing")
    event = woocommerce.only_event(woocommerce.delivery(payload, "order.created"))
    assert event.order is not None
    assert event.order.shipping_method == "Flat Rate"
    assert event.order.payment is not None
    assert event.order.payment.title == "Direct bank transfer"
    email = _confirmation(event)
    text = _visible_text(email.html)
    assert "Payment method: Bank transfer" in text
    assert "Shipping method: Flat Rate" in text
    assert "Billing address:" in text


def test_a_billing_address_like_the_shipping_address_is_not_printed_twice() -> None:
    email = _sample(EmailKind.ORDER_CONFIRMATION, "domestic")
    text = _visible_text(email.html)
    assert "Billing address: same as the shipping address" in text
    assert text.count("Karl-Liebknecht-Str. 12") == 1


def test_a_method_that_is_none_of_ours_is_named_in_the_stores_words() -> None:
    text = _visible_text(_sample(EmailKind.ORDER_CONFIRMATION, "zero tax").html)
    assert "Payment method: Klarna Pay Later" in text


def test_payment_and_shipping_method_are_in_the_customers_language() -> None:
    text = _visible_text(_sample(EmailKind.ORDER_CONFIRMATION, "domestic", "ru").html)
    assert "Способ оплаты: карта Visa, последние цифры — 4242" in text
    assert "Способ доставки: DHL Paket" in text


# --- the refund's method ---------------------------------------------------------------------


def test_a_refund_names_the_card_or_account_it_went_back_to() -> None:
    refunds = {
        name: _visible_text(email.html)
        for name, kind, _, email in _samples()
        if kind is EmailKind.ORDER_REFUNDED
    }
    assert "to your Visa card ending in 4242, for your order #1001" in refunds["domestic"]
    assert "to your PayPal account, for your order #1001" in refunds["international"]
    assert "to your card ending in 5454" in refunds["discount"]


# --- a link to the order in every order email ---------------------------------------------------


@pytest.mark.parametrize("kind", ORDER_KINDS, ids=lambda kind: kind.value)
def test_every_order_email_links_to_the_order(kind: EmailKind) -> None:
    found = [(name, c, e) for name, k, c, e in _samples() if k is kind]
    assert found
    for name, context, email in found:
        url = context["order"]["status_url"]
        assert url, name
        links = lxml.html.fromstring(email.html).xpath("//a[@href=$url]", url=url)
        assert any("View your order" in a.text_content() for a in links), name
        assert f"View your order: {url}" in email.text, name


# --- who the email is from -----------------------------------------------------------------------


def test_every_email_names_the_stores_legal_name_and_postal_address() -> None:
    store = sample_store_facts()
    assert store.legal_name and store.postal_address
    for name, kind, _, email in _samples(store=store):
        footer = lxml.html.fromstring(email.html).xpath("//td[@class='footer']")[0]
        words = " ".join(footer.text_content().split())
        assert f"{store.legal_name} · {store.postal_address}" in words, (kind, name)
        assert f"{store.legal_name} - {store.postal_address}" in email.text, (kind, name)


def test_a_store_without_legal_details_shows_no_empty_line() -> None:
    store = sample_store_facts().model_copy(update={"legal_name": None, "postal_address": None})
    for _, _, _, email in _samples(store=store)[:3]:
        assert "GmbH" not in email.html and "·  ·" not in email.html
        assert "Karl-Heine" not in email.text


# --- UTM parameters on the store's own links only -------------------------------------------------


def _hrefs(page: str) -> list[str]:
    return [str(a.get("href")) for a in lxml.html.fromstring(page).xpath("//a[@href]")]


def test_utm_parameters_are_off_by_default() -> None:
    assert StoreFacts().utm is False
    for _, _, _, email in _samples():
        assert not [h for h in _hrefs(email.html) if "utm_" in h and "/products/" not in h]


def test_utm_parameters_go_on_store_links_only() -> None:
    store = sample_store_facts().model_copy(update={"utm": True})
    for name, kind, context, email in _samples(store=store):
        campaign = f"utm_source=aftercare&utm_medium=email&utm_campaign={kind.value}"
        hrefs = _hrefs(email.html)
        for link in ("website_url", "faq_url", "support_url", "return_policy_url"):
            assert context["store"][link].endswith(campaign), (name, link)
            assert context["store"][link] in hrefs or link == "support_url", (name, link)
        if context["order"] is not None:
            assert context["order"]["status_url"].endswith(campaign)
        not_store = []
        if context["tracking"]:
            not_store += [parcel["url"] for parcel in context["tracking"]["parcels"]]
        if context["rating"]:
            not_store += list(context["rating"].values())
        if context["delay"]:
            not_store += [url for url in context["delay"]["options"].values() if url]
        for url in not_store:
            assert "utm_" not in url, (name, url)
        assert not [h for h in hrefs if "utm_" in h and h.startswith("mailto:")]


# --- pictures beside the names they show ---------------------------------------------------------


def test_a_product_picture_beside_its_name_is_decorative() -> None:
    pictures = 0
    for name, _, _, email in _samples():
        for img in lxml.html.fromstring(email.html).xpath("//img[contains(@class, 'thumb')]"):
            pictures += 1
            assert img.get("alt") == "", name
    assert pictures


# --- in Chromium: images off, and amounts at 375 px -----------------------------------------------

_LAYOUT = """
window.addEventListener("load", () => {
  const found = [...document.querySelectorAll("iframe")].map(frame => {
    const page = frame.contentDocument;
    const canvas = page.createElement("canvas").getContext("2d");
    const pictures = [...page.querySelectorAll("img")].map(img => {
      const style = getComputedStyle(img);
      canvas.font = style.font;
      const words = img.alt.split(/\\s+/).filter(Boolean);
      const widest = Math.max(0, ...words.map(w => canvas.measureText(w).width));
      const box = img.getBoundingClientRect();
      return {alt: img.alt, widest, width: box.width, height: box.height,
              lines: parseFloat(style.lineHeight), loaded: img.naturalWidth > 0};
    });
    const amounts = [...page.querySelectorAll("td.amount")].map(cell => {
      const range = page.createRange();
      range.selectNodeContents(cell);
      const height = range.getBoundingClientRect().height;
      return {text: cell.innerText, height, line: parseFloat(getComputedStyle(cell).lineHeight)};
    });
    return {name: frame.name, pictures, amounts};
  });
  document.documentElement.setAttribute("data-evaluated", JSON.stringify(found));
});
"""


def _lay_out(emails: list[tuple[str, str]], width: int) -> list[dict[str, Any]]:
    frames = "".join(
        f'<iframe name="{html.escape(name)}" width="{width}" height="3000"'
        f' style="border:0;display:block" srcdoc="{html.escape(page)}"></iframe>'
        for name, page in emails
    )
    page = f"<!DOCTYPE html><html><body>{frames}<script>{_LAYOUT}</script></body></html>"
    with tempfile.TemporaryDirectory(prefix="aftercare-expectations-") as folder:
        path = Path(folder) / "layout.html"
        path.write_text(page, encoding="utf-8")
        dumped = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={folder}/profile", "--dump-dom", path.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    found = re.search(r'data-evaluated="([^"]*)"', dumped)
    assert found, f"Chromium did not lay the page out: {dumped[:300]!r}"
    return json.loads(html.unescape(found.group(1)))


def _with_long_names(locale: str) -> list[tuple[str, str]]:
    """Every sample in ``locale``, its first item named at length (the narrowest price
    column), the confirmation, delay, refund and 200-line emails among them."""
    store = sample_store_facts()
    renderer = EmailRenderer(TEMPLATES)
    available = renderer.available_locales()
    title = LONG_TITLES[locale.split("_")[0].split("-")[0]]
    emails = []
    for sample in sample_emails(locale=locale):
        context = sample.context(store, available)
        for key in ("order", "refund"):
            part = context.get(key)
            if part and part.get("line_items"):
                part["line_items"][0] = {**part["line_items"][0], "title": title}
        email = renderer.render(sample.kind, context, context["locale"])
        emails.append((f"{locale} {sample.kind.value} / {sample.name}", email.html))
    return emails


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_with_images_off_no_alt_text_is_cut_and_no_amount_wraps_at_375_px(locale: str) -> None:
    """Chromium runs with images off (tests/browser.py): the logo shows the store's name in
    its own font, wrapped between words if at all; pictures beside names show nothing to
    cut; an amount ("10 553,90 €", its space a no-break one) stays on one line."""
    emails = _with_long_names(locale)
    measured = _lay_out(emails, 375)
    assert len(measured) == len(emails)
    cut, wrapped, logos = [], [], 0
    for frame in measured:
        for picture in frame["pictures"]:
            assert not picture["loaded"]
            if picture["alt"]:
                logos += 1
                if picture["widest"] > picture["width"]:
                    cut.append(f"{frame['name']}: {picture['alt']!r} in {picture['width']} px")
                # Tall enough for the alt text's lines: never shown as a clipped sliver.
                assert picture["height"] >= picture["lines"], frame["name"]
            elif picture["width"] == 56:
                assert picture["alt"] == ""
        for amount in frame["amounts"]:
            if amount["height"] > 1.5 * amount["line"]:
                wrapped.append(f"{frame['name']}: {amount['text']!r}")
    assert logos
    assert not cut, "\n".join(cut)
    assert not wrapped, "\n".join(wrapped)


# --- the sentences a customer noticed ----------------------------------------------------------


def _duties_charged_to_the_united_states() -> RenderedEmail:
    apron = orders.line_items()[0]
    subtotal = apron.line_total
    costs = orders.costs(
        subtotal=subtotal,
        shipping=Decimal("19.00"),
        duties=Decimal("12.40"),
        total=subtotal + Decimal("31.40"),
    )
    address = orders.address(
        line1="350 Fifth Avenue",
        city="New York",
        region="NY",
        postal_code="10118",
        country_code="US",
    )
    order = orders.order(line_items=(apron,), costs=costs, shipping_address=address)
    return _confirmation(orders.placed(order=order))


def test_duties_name_the_country_without_needing_an_article() -> None:
    email = _duties_charged_to_the_united_states()
    text = _visible_text(email.html)
    assert "Import duties for your country (United States) are paid with this order" in text
    assert "for United States" not in text and "for United States" not in email.text
    assert "Import duties for your country (United States)" in email.text


def test_customs_notice_names_the_country_in_parentheses() -> None:
    text = _visible_text(_sample(EmailKind.ORDER_CONFIRMATION, "international").html)
    assert "to your country (Switzerland)." in text
    assert "to Switzerland" not in text


def test_one_included_tax_is_said_once() -> None:
    text = _visible_text(_sample(EmailKind.ORDER_CONFIRMATION, "domestic").html)
    assert "Includes VAT 19%: €7.01." in text
    assert "in taxes" not in text
    ru = _visible_text(_sample(EmailKind.ORDER_CONFIRMATION, "domestic", "ru").html)
    assert ru.count("7,01") == 1


def test_the_shipped_email_names_the_carrier_once() -> None:
    for name in ("domestic", "partial shipment", "international"):
        text = _visible_text(_sample(EmailKind.ORDER_SHIPPED, name).html)
        assert text.count("DHL") == 1, (name, text)
        assert "Carrier:" not in text


def test_a_partial_shipment_says_when_the_rest_leaves() -> None:
    name, _, context, email = next(
        s for s in _samples() if s[1] is EmailKind.ORDER_SHIPPED and s[0] == "partial shipment"
    )
    ship_by = context["promise"]["ship_by"]
    expected = f"These items are not in this parcel. We expect to send them by {ship_by}"
    assert expected in _visible_text(email.html)
    assert expected in " ".join(email.text.split())


def test_a_partial_shipment_past_its_promise_says_the_store_will_email() -> None:
    store = sample_store_facts()
    renderer = EmailRenderer(TEMPLATES)
    sample = next(
        s
        for s in sample_emails()
        if s.kind is EmailKind.ORDER_SHIPPED and s.name == "partial shipment"
    )
    context = sample.context(store, renderer.available_locales())
    context["promise"] = None  # the ship-by date had passed
    email = renderer.render(sample.kind, context, "en")
    text = _visible_text(email.html)
    assert "we will email you again with their own tracking link as soon as they ship" in text
    assert "We expect to send them by" not in text
