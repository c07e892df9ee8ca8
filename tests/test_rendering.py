"""Rendering: the five emails as a customer receives them, and templates as marketers edit them."""

from __future__ import annotations

import html
import pickle
import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from babel.numbers import format_currency

from aftercare.emails import EmailKind, build_context
from aftercare.enrichment.tracking.links import choose_tracking_link
from aftercare.errors import TemplateError
from aftercare.events import OrderEvent, ShipmentItem, ShipmentStatus
from aftercare.order_state import OrderState
from aftercare.rendering.css import inline_css
from aftercare.rendering.rendered_email import RenderedEmail
from aftercare.rendering.renderer import MAX_SUBJECT_CHARS, EmailRenderer
from aftercare.sample_store import orders
from aftercare.settings import PROJECT_ROOT, StoreFacts
from tests.template_edits import insert_line

# Five minutes after the order was placed: sent as the pipeline sends, without delay.
NOW = orders.PLACED_AT + timedelta(minutes=5)

TEMPLATES = PROJECT_ROOT / "email_templates"
GMAIL_CLIP_BYTES = 102 * 1024


def scenario(
    kind: EmailKind, store: StoreFacts | None = None, **customer_overrides: Any
) -> tuple[OrderEvent, OrderState | None, StoreFacts]:
    """A typical event of ``kind`` and the order state it arrives on."""
    store = store or StoreFacts()
    placed = orders.placed(customer=orders.customer(**customer_overrides))
    match kind:
        case EmailKind.WELCOME:
            return orders.welcome(**customer_overrides), None, store
        case EmailKind.ORDER_CONFIRMATION:
            return placed, orders.state_after(placed), store
        case EmailKind.ORDER_SHIPPED:
            event = orders.shipped()
        case EmailKind.ORDER_DELAYED:
            event = orders.delayed()
        case EmailKind.ORDER_REFUNDED:
            event = orders.refunded()
        case EmailKind.ORDER_DELIVERED:
            shipped = orders.shipped()
            event = orders.carrier_report(status=ShipmentStatus.DELIVERED, message=None)
            return event, orders.state_after(placed, shipped, event), store
    return event, orders.state_after(placed, event), store


def render(
    kind: EmailKind,
    renderer: EmailRenderer | None = None,
    event: OrderEvent | None = None,
    state: OrderState | None = None,
    store: StoreFacts | None = None,
    **customer_overrides: Any,
) -> RenderedEmail:
    if event is None:
        event, state, store = scenario(kind, store, **customer_overrides)
    renderer = renderer or EmailRenderer(TEMPLATES)
    context = build_context(
        kind,
        event,
        state,
        store or StoreFacts(),
        NOW,
        template_locales=renderer.available_locales(),
    )
    return renderer.render(kind, context, context["locale"])


class _Links(HTMLParser):
    """Every link and image in an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.html_attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.html_attrs = found
        if tag == "a" and found.get("href"):
            self.urls.append(str(found["href"]))
        if tag == "img":
            self.images.append(found)
            self.urls.append(str(found.get("src")))


def links_of(document: str) -> _Links:
    parser = _Links()
    parser.feed(document)
    return parser


class _Text(HTMLParser):
    """The words a reader sees: body text, without markup, styles or the <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.words.extend(data.split())


def visible_text(document: str) -> str:
    parser = _Text()
    parser.feed(document)
    return " ".join(parser.words)


# --- every email ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_a_complete_readable_email(kind: EmailKind) -> None:
    email = render(kind)
    store = StoreFacts()
    links = links_of(email.html)

    assert email.kind is kind
    assert email.subject and email.preheader
    assert email.preheader in html.unescape(email.html)  # the hidden preview line
    assert links.html_attrs.get("lang") == "en" and links.html_attrs.get("dir") == "ltr"
    support = f"mailto:{store.reply_to}"
    assert support in links.urls  # the footer's contact link
    web_links = [url for url in links.urls if url != support]
    assert web_links and all(url.startswith("https://") for url in web_links), links.urls
    # Every picture has an alt; a product's beside its printed name is decorative (alt="").
    assert all("alt" in image for image in links.images)
    assert all(image.get("alt") for image in links.images if image.get("class") != "thumb")
    assert len(email.html.encode()) < GMAIL_CLIP_BYTES
    for part in (visible_text(email.html), email.text):
        assert store.support_reply_time in part
        assert store.ships_from in part
    assert "{{" not in email.text and "{%" not in email.html


@pytest.mark.parametrize("kind", list(EmailKind))
def test_the_text_part_spells_out_every_link_it_mentions(kind: EmailKind) -> None:
    email = render(kind)
    assert str(StoreFacts().support_url) in email.text
    assert "<a " not in email.text and "&amp;" not in email.text


def test_the_text_part_contains_the_tracking_url() -> None:
    email = render(EmailKind.ORDER_SHIPPED)
    assert orders.fulfilment().tracking_urls[0] in email.text


def test_a_shipped_email_links_to_the_tracking_page_not_only_a_number() -> None:
    email = render(EmailKind.ORDER_SHIPPED)
    assert orders.fulfilment().tracking_urls[0] in links_of(email.html).urls
    assert "DHL" in visible_text(email.html)


def test_a_shipment_in_two_boxes_links_both_in_html_and_text() -> None:
    boxes = orders.fulfilment(
        carrier=None,
        tracking_numbers=("1Z999AA10123456784", "RR123456785DE"),
        tracking_urls=(),
    )
    event = orders.shipped(fulfilment=boxes)
    placed = orders.placed()
    email = render(EmailKind.ORDER_SHIPPED, event=event, state=orders.state_after(placed, event))
    # Each box's link as the tracking-link rules choose it (tested in test_tracking_links).
    ups, s10 = (choose_tracking_link(n).url for n in boxes.tracking_numbers)
    assert ups != s10
    for url in (ups, s10):
        assert url in links_of(email.html).urls
        assert url in email.text
    text = visible_text(email.html)
    assert "2 boxes" in text and "Track box 1 of 2" in text and "Track box 2 of 2" in text
    assert "Track box 2 of 2: " + s10 in email.text


# --- content each email must carry (DESIGN.md) ----------------------------------------------


def test_welcome_greets_by_name_and_says_what_to_expect() -> None:
    email = render(EmailKind.WELCOME)
    text = visible_text(email.html)
    assert "Hi Anna," in text
    assert "1–3 business days" in text  # processing
    assert "4–10 business days" in text  # international transit
    assert StoreFacts().return_policy_summary in text


def test_welcome_without_a_name_uses_a_neutral_greeting() -> None:
    email = render(EmailKind.WELCOME, first_name=None, last_name=None)
    assert "Hello," in email.text and "None" not in email.text and "None" not in email.html


def test_a_confirmation_shows_items_costs_address_promise_and_status_link() -> None:
    email = render(EmailKind.ORDER_CONFIRMATION)
    text = visible_text(email.html)
    money = lambda amount: format_currency(Decimal(amount), "EUR", locale="en")  # noqa: E731
    for fact in ("Linen apron", "Beeswax wraps", "Enamel mug", "Quantity: 3"):
        assert fact in text
    for amount in ("112.50", "-10.00", "4.90", "17.15", "107.40"):
        assert money(amount) in text
    assert "Karl-Liebknecht-Str. 12" in text
    assert "Ships by" in text and "Expected delivery" in text
    assert "https://fernandfield.example/account/orders/1001" in links_of(email.html).urls


def test_an_international_confirmation_names_duties() -> None:
    swiss = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    placed = orders.placed(shipping_address=swiss)
    email = render(EmailKind.ORDER_CONFIRMATION, event=placed, state=orders.state_after(placed))
    for part in (visible_text(email.html), email.text):
        assert "import duties" in part.lower()
        assert "not included" in part
        assert "Switzerland" in part


def test_a_confirmation_to_the_canary_islands_from_spain_warns_without_naming_spain_twice() -> None:
    store = StoreFacts().model_copy(
        update={"ships_from_country": "ES", "ships_from": "our workshop in Madrid, Spain"}
    )
    canarian = orders.address(city="Las Palmas", postal_code="35001", country_code="ES")
    placed = orders.placed(shipping_address=canarian)
    email = render(
        EmailKind.ORDER_CONFIRMATION, event=placed, state=orders.state_after(placed), store=store
    )
    for part in (email.text, visible_text(email.html)):
        assert "passes customs on its way from our workshop in Madrid, Spain." in part
        assert "to Spain" not in part


def test_a_domestic_confirmation_does_not_mention_customs() -> None:
    email = render(EmailKind.ORDER_CONFIRMATION)
    assert "customs" not in email.text.lower() and "customs" not in email.html.lower()


def test_a_partial_shipment_lists_only_shipped_items_and_says_what_is_still_to_come() -> None:
    parcel = orders.fulfilment(items=(ShipmentItem(line_id="L1", quantity=1),))
    placed = orders.placed()
    event = orders.shipped(fulfilment=parcel)
    email = render(EmailKind.ORDER_SHIPPED, event=event, state=orders.state_after(placed, event))

    text = visible_text(email.html)
    in_parcel = text[text.index("In this parcel") : text.index("Still to come")]
    still_to_come = text[text.index("Still to come") : text.index("Delivering to")]
    assert "Linen apron" in in_parcel
    assert "Enamel mug" not in in_parcel and "Beeswax wraps" not in in_parcel
    assert "Enamel mug" in still_to_come and "Beeswax wraps" in still_to_come
    assert "Part of your order" in email.subject
    assert "Still to come" in email.text


def test_a_delay_email_apologises_explains_and_offers_three_choices() -> None:
    email = render(EmailKind.ORDER_DELAYED)
    text = visible_text(email.html)
    notice = orders.delay_notice()
    assert "sorry" in email.subject.lower() and "sorry" in text.lower()
    assert notice.reason in text and notice.what_we_will_do in text
    assert "SORRY15" in text
    assert "we will" in text.lower() and "you need to" not in text.lower()
    choices = [url for url in links_of(email.html).urls if "choice=" in url]
    assert len(choices) == 3


def test_a_refund_email_says_how_much_how_and_when_it_shows_up() -> None:
    email = render(EmailKind.ORDER_REFUNDED)
    text = visible_text(email.html)
    assert format_currency(Decimal("18.00"), "EUR", locale="en") in email.subject
    assert "(EUR)" in text
    assert "payment method you used" in text
    assert "5–10 business days" in text


def test_money_in_a_rendered_email_is_formatted_for_the_customer_locale(
    templates_copy: Path,
) -> None:
    german = templates_copy / "de"
    german.mkdir()
    for part in ("order_confirmation.html", "order_confirmation.txt"):
        shutil.copy(templates_copy / "en" / part, german / part)
    customer = orders.customer(locale="de_DE")
    placed = orders.placed(
        customer=customer,
        costs=orders.costs(subtotal=Decimal("1234.50"), total=Decimal("1234.50")),
    )
    email = render(
        EmailKind.ORDER_CONFIRMATION,
        renderer=EmailRenderer(templates_copy),
        event=placed,
        state=orders.state_after(placed),
    )
    expected = format_currency(Decimal("1234.50"), "EUR", locale="de_DE")
    assert expected == "1.234,50\xa0€"
    assert expected in html.unescape(email.html)
    assert expected in email.text


def test_a_customer_without_a_translation_gets_english_with_regional_money() -> None:
    customer = orders.customer(locale="de_CH")
    placed = orders.placed(customer=customer)
    email = render(EmailKind.ORDER_CONFIRMATION, event=placed, state=orders.state_after(placed))
    assert links_of(email.html).html_attrs["lang"] == "en-CH"
    assert format_currency(Decimal("107.40"), "EUR", locale="en_CH") in email.text
    assert "Thank you for your order" in email.text


def test_a_right_to_left_customer_gets_a_right_to_left_document(templates_copy: Path) -> None:
    arabic = templates_copy / "ar"
    arabic.mkdir()
    for part in ("welcome.html", "welcome.txt"):
        shutil.copy(templates_copy / "en" / part, arabic / part)
    email = render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy), locale="ar")
    assert links_of(email.html).html_attrs == {"lang": "ar", "dir": "rtl"}


# --- customer data cannot inject ------------------------------------------------------------


def test_a_customer_name_with_markup_is_escaped_and_the_subject_stays_one_line() -> None:
    name = "<script>alert(1)</script>\r\nBcc: victim@example.com"
    email = render(EmailKind.WELCOME, first_name=name)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "\r" not in email.subject and "\n" not in email.subject
    assert "<script>alert(1)</script> Bcc: victim@example.com" in email.subject


def test_an_ampersand_in_the_store_name_is_plain_text_in_subject_and_text_part() -> None:
    email = render(EmailKind.WELCOME)
    assert "Fern & Field" in email.subject
    assert "Fern & Field" in email.text and "&amp;" not in email.text
    assert "Fern &amp; Field" in email.html


def test_a_subject_is_capped_at_200_characters() -> None:
    store = StoreFacts(name="Fern & Field " * 30)
    email = render(EmailKind.WELCOME, store=store)
    assert len(email.subject) == MAX_SUBJECT_CHARS
    assert email.subject.endswith("\u2026")


def test_faq_answers_are_trusted_html_but_questions_are_escaped() -> None:
    event, state, store = scenario(EmailKind.ORDER_SHIPPED)
    context = build_context(EmailKind.ORDER_SHIPPED, event, state, store, NOW)
    context["likely_questions"] = [
        {"question": "What if I'm <not> home?", "answer_html": "<p>We <em>leave a note</em>.</p>"}
    ]
    email = EmailRenderer(TEMPLATES).render(EmailKind.ORDER_SHIPPED, context, "en")
    assert "<em" in email.html and "leave a note</em>" in email.html
    assert "<not>" not in email.html
    assert "What if I'm <not> home?" in visible_text(email.html)
    assert "We leave a note." in email.text


def test_cross_sell_cards_appear_only_when_there_are_products() -> None:
    event, state, store = scenario(EmailKind.ORDER_CONFIRMATION)
    context = build_context(EmailKind.ORDER_CONFIRMATION, event, state, store, NOW)
    renderer = EmailRenderer(TEMPLATES)
    without = renderer.render(EmailKind.ORDER_CONFIRMATION, context, "en")
    assert "You might also like" not in without.html
    context["cross_sell"] = [
        {
            "title": "Oak spoon",
            "url": "https://fernandfield.example/products/oak-spoon",
            "image_url": "https://cdn.fernandfield.example/spoon.jpg",
            "price": "€14.00",
            "left": None,
        }
    ]
    email = renderer.render(EmailKind.ORDER_CONFIRMATION, context, "en")
    assert "You might also like" in email.html
    assert "https://fernandfield.example/products/oak-spoon" in email.text


# --- CSS ------------------------------------------------------------------------------------


def test_css_is_inlined_and_the_mobile_media_query_survives() -> None:
    email = render(EmailKind.ORDER_CONFIRMATION)
    style_block = email.html[email.html.index("<style>") : email.html.index("</style>")]
    assert "@media only screen and (max-width: 620px)" in style_block
    assert "width: 100% !important" in style_block
    container = lxml.html.fromstring(email.html).find_class("container")[0]
    assert "width:600px" in container.get("style", "").replace(" ", "")


def test_inline_css_keeps_important_and_leaves_no_inlinable_rule_behind() -> None:
    document = (
        "<html><head><style>.note { color: #2f5d50 !important; }"
        " @media (max-width: 400px) { .note { font-size: 18px !important; } }</style>"
        '</head><body><p class="note">Hi</p></body></html>'
    )
    inlined = inline_css(document)
    assert 'style="color:#2f5d50 !important"' in inlined.replace("; ", ";")
    assert "@media (max-width: 400px)" in inlined
    assert ".note { color" not in inlined


# --- templates as marketers edit them -------------------------------------------------------


def test_an_undefined_variable_raises_template_error_naming_file_and_line(
    templates_copy: Path,
) -> None:
    line = insert_line(
        templates_copy / "en" / "welcome.html", "<h1>", "<p>{{ customer.nickname }}</p>"
    )
    with pytest.raises(TemplateError) as caught:
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))
    message = str(caught.value)
    assert "en/welcome.html" in message
    assert f"line {line}" in message
    assert "nickname" in message
    assert (caught.value.template, caught.value.line) == ("en/welcome.html", line)
    assert "nickname" in caught.value.problem and "welcome.html" not in caught.value.problem


def test_an_error_in_a_partial_names_the_partial(templates_copy: Path) -> None:
    line = insert_line(
        templates_copy / "partials" / "address.html", "<p class", "{{ address.postcode_typo }}"
    )
    with pytest.raises(TemplateError, match=rf"partials/address.html, line {line}") as caught:
        render(EmailKind.ORDER_CONFIRMATION, renderer=EmailRenderer(templates_copy))
    assert (caught.value.template, caught.value.line) == ("partials/address.html", line)


def test_an_undefined_variable_in_the_subject_names_file_and_line(templates_copy: Path) -> None:
    path = templates_copy / "en" / "welcome.html"
    source = path.read_text()
    path.write_text(source.replace("{% block subject %}", "{% block subject %}{{ oops }}"))
    line = next(i for i, text in enumerate(source.splitlines(), 1) if "block subject" in text)
    with pytest.raises(TemplateError, match=rf"en/welcome.html, line {line}: 'oops' is undefined"):
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))


def test_a_syntax_error_names_file_and_line(templates_copy: Path) -> None:
    line = insert_line(templates_copy / "en" / "order_shipped.txt", "Good news", "{% if %}")
    with pytest.raises(
        TemplateError, match=rf"en/order_shipped.txt, line {line}: syntax error"
    ) as caught:
        render(EmailKind.ORDER_SHIPPED, renderer=EmailRenderer(templates_copy))
    assert (caught.value.template, caught.value.line) == ("en/order_shipped.txt", line)
    assert caught.value.problem.startswith("syntax error: ")


def test_the_sandbox_refuses_python_internals(templates_copy: Path) -> None:
    insert_line(templates_copy / "en" / "welcome.html", "<h1>", "{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match=r"en/welcome.html, line \d+: refused by the sandbox"):
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))


def test_a_template_cannot_change_the_facts_it_was_given(templates_copy: Path) -> None:
    insert_line(
        templates_copy / "en" / "welcome.html", "<h1>", "{{ customer.update(first_name='X') }}"
    )
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))


def test_a_locale_falls_back_to_its_language_then_english(templates_copy: Path) -> None:
    german = templates_copy / "de"
    german.mkdir()
    (german / "welcome.html").write_text(
        '{% extends "base.html" %}{% block subject %}Willkommen bei {{ store.name }}{% endblock %}'
        "{% block preheader %}Schön, dass Sie da sind.{% endblock %}"
        "{% block body %}<p>Hallo!</p>{% endblock %}"
    )
    (german / "welcome.txt").write_text("Hallo!")
    renderer = EmailRenderer(templates_copy)
    assert render(EmailKind.WELCOME, renderer=renderer, locale="de_AT").subject.startswith(
        "Willkommen"
    )
    assert render(EmailKind.WELCOME, renderer=renderer, locale="fr_FR").subject.startswith(
        "Welcome"
    )


def test_html_and_text_come_from_the_same_locale_folder(templates_copy: Path) -> None:
    german = templates_copy / "de"
    german.mkdir()
    shutil.copy(templates_copy / "en" / "welcome.html", german / "welcome.html")
    with pytest.raises(TemplateError, match="de/welcome.txt"):
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy), locale="de")


def test_a_missing_template_is_a_template_error(templates_copy: Path) -> None:
    (templates_copy / "en" / "order_refunded.html").unlink()
    with pytest.raises(TemplateError, match="en/order_refunded.html"):
        render(EmailKind.ORDER_REFUNDED, renderer=EmailRenderer(templates_copy))


def test_a_template_without_a_subject_block_is_a_template_error(templates_copy: Path) -> None:
    path = templates_copy / "en" / "welcome.html"
    source = path.read_text()
    start = source.index("{% block subject %}")
    end = source.index("{% endblock %}", start) + len("{% endblock %}")
    path.write_text(source[:start] + source[end:])
    with pytest.raises(TemplateError, match="subject") as caught:
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))
    assert (caught.value.template, caught.value.line) == ("en/welcome.html", None)


def test_content_outside_every_block_is_an_error_not_silently_dropped(
    templates_copy: Path,
) -> None:
    path = templates_copy / "en" / "welcome.html"
    path.write_text(path.read_text() + "\n<p>P.S. {{ no_such_variable }}</p>\n")
    line = len(path.read_text().splitlines())
    with pytest.raises(TemplateError) as caught:
        render(EmailKind.WELCOME, renderer=EmailRenderer(templates_copy))
    message = str(caught.value)
    assert f"en/welcome.html, line {line}" in message
    assert "no_such_variable" in message and "outside every {% block %}" in message
    assert (caught.value.template, caught.value.line) == ("en/welcome.html", line)


def test_a_template_error_message_puts_file_line_and_problem_together() -> None:
    located = TemplateError("'oops' is undefined", template="en/welcome.html", line=12)
    assert str(located) == "template en/welcome.html, line 12: 'oops' is undefined"
    assert (located.template, located.line, located.problem) == (
        "en/welcome.html",
        12,
        "'oops' is undefined",
    )
    assert str(TemplateError("no subject", template="de/welcome.html")) == (
        "template de/welcome.html: no subject"
    )
    unplaced = TemplateError("no template for this email: looked for en/welcome.html")
    assert str(unplaced) == unplaced.problem
    assert (unplaced.template, unplaced.line) == (None, None)
    # Errors cross process boundaries (flow runs): the attributes travel with the message.
    restored = pickle.loads(pickle.dumps(located))
    assert (str(restored), restored.template, restored.line, restored.problem) == (
        str(located),
        located.template,
        located.line,
        located.problem,
    )


# --- right-to-left and CJK: the layout takes them without change ----------------------------

_PHYSICAL_SIDE = re.compile(
    r"(^|;)\s*[\w-]*(left|right)[\w-]*\s*:|(text-align|float)\s*:\s*(left|right)"
)


def translated_copy(templates_copy: Path, locale: str) -> EmailRenderer:
    """The English templates filed under ``locale``: only the layout is under test."""
    shutil.copytree(templates_copy / "en", templates_copy / locale)
    return EmailRenderer(templates_copy)


def sample_for(kind: EmailKind, name: str, **customer: Any) -> tuple[EmailKind, dict[str, Any]]:
    from aftercare.authoring.samples import sample_emails, sample_store_facts

    sample = next(s for s in sample_emails(**customer) if s.kind is kind and s.name == name)
    return kind, sample.context(sample_store_facts(), {"en", "ar", "ja"})


def test_a_right_to_left_email_mirrors_through_dir_alone(templates_copy: Path) -> None:
    renderer = translated_copy(templates_copy, "ar")
    kind, context = sample_for(EmailKind.ORDER_CONFIRMATION, "multi-item", locale="ar")
    email = renderer.render(kind, context, context["locale"])
    document = lxml.html.document_fromstring(email.html)

    assert (document.get("lang"), document.get("dir")) == ("ar", "rtl")
    wrapper = document.find_class("wrapper")[0]  # Gmail drops <html>: dir is repeated
    assert (wrapper.get("lang"), wrapper.get("dir")) == ("ar", "rtl")
    amounts = document.find_class("amount")
    assert amounts and {cell.get("align") for cell in amounts} == {"left"}
    sided = [
        (element.tag, element.get("style"))
        for element in document.iter()
        if isinstance(element.tag, str) and _PHYSICAL_SIDE.search(element.get("style") or "")
    ]
    assert sided == []  # nothing pinned to a side: dir="rtl" mirrors everything


def test_a_left_to_right_email_puts_amounts_on_the_right() -> None:
    kind, context = sample_for(EmailKind.ORDER_CONFIRMATION, "multi-item")
    document = lxml.html.document_fromstring(
        EmailRenderer(TEMPLATES).render(kind, context, "en").html
    )
    assert document.get("dir") == "ltr"
    assert {cell.get("align") for cell in document.find_class("amount")} == {"right"}


def test_cjk_text_and_dates_come_through_unchanged(templates_copy: Path) -> None:
    from babel.dates import format_date

    renderer = translated_copy(templates_copy, "ja")
    kind, context = sample_for(
        EmailKind.ORDER_CONFIRMATION, "domestic", locale="ja", first_name="さくら"
    )
    context["store"]["name"] = "ファーン・アンド・フィールド"
    email = renderer.render(kind, context, context["locale"])
    document = lxml.html.document_fromstring(email.html)
    assert document.get("lang") == "ja"
    text = document.text_content()
    assert "Hi さくら," in text and "The ファーン・アンド・フィールド team" in text
    # Placed Tuesday 4 June 2024 with up to 3 business days of packing: Friday 7 June.
    assert format_date(date(2024, 6, 7), format="full", locale="ja") in text
    assert "さくら" in email.subject and "さくら" in email.text


def test_dates_are_the_customer_day_in_their_time_zone() -> None:
    # The refund is made at 10:00 UTC on Wednesday 12 June: already Thursday at UTC+14.
    kind, context = sample_for(EmailKind.ORDER_REFUNDED, "partial refund")
    kind, far_east = sample_for(
        EmailKind.ORDER_REFUNDED, "partial refund", time_zone="Pacific/Kiritimati"
    )
    renderer = EmailRenderer(TEMPLATES)
    assert "On Wednesday, June 12, 2024 we refunded" in renderer.render(kind, context, "en").text
    assert "On Thursday, June 13, 2024 we refunded" in renderer.render(kind, far_east, "en").text


def test_the_refund_email_asks_for_a_one_click_rating_with_three_links() -> None:
    kind, context = sample_for(EmailKind.ORDER_REFUNDED, "partial refund")
    email = EmailRenderer(TEMPLATES).render(kind, context, "en")
    links = {
        a.text_content().split()[-1]: a.get("href")
        for a in lxml.html.document_fromstring(email.html).find_class("rating-link")
    }
    assert set(links) == {"Great", "Okay", "good"}  # "Not good" ends in "good"
    assert set(links.values()) == set(context["rating"].values())
    for url in context["rating"].values():
        assert url in email.text


def test_the_footer_carries_the_support_promise_contact_and_social_links() -> None:
    kind, context = sample_for(EmailKind.WELCOME, "new customer")
    email = EmailRenderer(TEMPLATES).render(kind, context, "en")
    footer = lxml.html.document_fromstring(email.html).find_class("footer")[0]
    hrefs = [a.get("href") for a in footer.iter("a")]
    assert f"mailto:{context['store']['support_email']}" in hrefs
    assert context["store"]["social_links"], "the sample store has social links"
    for link in context["store"]["social_links"]:
        assert link["url"] in hrefs and link["url"] in email.text
    assert context["store"]["support_reply_time"] in footer.text_content()


def test_a_store_without_social_links_gets_a_footer_without_them() -> None:
    kind, context = sample_for(EmailKind.WELCOME, "new customer")
    with_links = EmailRenderer(TEMPLATES).render(kind, context, "en")
    assert "Instagram" in with_links.text
    context["store"]["social_links"] = []
    email = EmailRenderer(TEMPLATES).render(kind, context, "en")
    assert "Follow us" not in email.html and "Instagram" not in email.text
