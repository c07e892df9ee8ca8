"""Marketers' templates cannot run code; customers' data cannot inject markup or headers.

The payloads are the well-known Jinja server-side template injection (SSTI) chains, each
planted in a real template the way an attacker with template access would; every one must
stop with a TemplateError naming the file and line, and none may run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lxml.html
import pytest

from aftercare.authoring.samples import sample_emails
from aftercare.emails import EmailKind
from aftercare.errors import TemplateError
from aftercare.events import Address, Customer
from aftercare.rendering.renderer import MAX_SUBJECT_CHARS, EmailRenderer
from aftercare.settings import PROJECT_ROOT, StoreFacts

TEMPLATES = PROJECT_ROOT / "email_templates"

# Each would run a shell command, read a file or reach the process's globals if it worked.
PAYLOADS = {
    "mro to subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "class base subclasses": "{{ ''.__class__.__base__.__subclasses__()[0] }}",
    "dunder in a loop": "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "cycler globals to os": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "joiner globals to os": "{{ joiner.__init__.__globals__.os.system('touch PWNED') }}",
    "namespace globals": "{{ namespace.__init__.__globals__.os.system('touch PWNED') }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "range self": "{{ range.__self__.__import__('os').system('touch PWNED') }}",
    "dict mro": "{{ dict.mro()[-1].__subclasses__() }}",
    "flask config": "{{ config.items() }}",
    "flask request": "{{ request.application.__globals__.__builtins__.__import__('os') }}",
    "flask url_for": "{{ url_for.__globals__.os.system('touch PWNED') }}",
    "template reference context": "{{ self._TemplateReference__context }}",
    "self init globals": "{{ self.__init__.__globals__.__builtins__ }}",
    "attr filter": "{{ ''|attr('__class__')|attr('__mro__') }}",
    "attr filter with escapes": "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "item access to dunder": "{{ customer['__class__']['__init__'] }}",
    "str.format attribute walk": "{{ '{0.__class__.__mro__}'.format(customer) }}",
    "format_map attribute walk": "{{ '{x.__class__}'.format_map({'x': customer}) }}",
    "Markup format walk": "{{ ('{0.__class__}'|safe).format(customer) }}",
    "loop internals": "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "context mutation": "{{ customer.update({'first_name': 'X'}) }}",
    "list mutation": "{% set l = [1] %}{{ l.append(2) }}",
    "memory bomb by repetition": "{{ 'x' * 1000000000 }}",
    "memory bomb by range": "{{ range(1000000000)|list|length }}",
    "cpu bomb by power": "{{ 2 ** 100000000 }}",
    "include outside the folder": "{% include '../../../../etc/passwd' %}",
    "import python module": "{% import 'os' as os %}{{ os.system('touch PWNED') }}",
}


def welcome_context(**customer: Any) -> tuple[EmailKind, dict[str, Any]]:
    sample = next(s for s in sample_emails() if s.kind is EmailKind.WELCOME)
    if customer:
        event = sample.event.model_copy(
            update={"customer": sample.event.customer.model_copy(update=customer)}
        )
        sample = type(sample)(sample.kind, sample.name, event, None)
    return sample.kind, sample.context(StoreFacts(), {"en"})


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_template_injection_payload_fails_with_a_template_error_and_never_runs(
    templates_copy: Path, payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where 'touch PWNED' would land
    path = templates_copy / "en" / "welcome.html"
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "<h1>" in text) + 1
    lines.insert(line - 1, payload)
    path.write_text("\n".join(lines) + "\n")
    kind, context = welcome_context()

    with pytest.raises(TemplateError) as caught:
        EmailRenderer(templates_copy).render(kind, context, "en")

    message = str(caught.value)
    assert "en/welcome.html" in message, message
    clear = ("refused by the sandbox", "is undefined", "has no attribute", "not found", "MAX_RANGE")
    assert f"line {line}" in message or "not found" in message, message
    assert any(reason in message for reason in clear), message
    assert not (tmp_path / "PWNED").exists()


def test_the_sandbox_error_says_what_was_refused(templates_copy: Path) -> None:
    path = templates_copy / "en" / "welcome.html"
    path.write_text(path.read_text().replace("<h1>", "{{ cycler.__init__ }}<h1>", 1))
    kind, context = welcome_context()
    with pytest.raises(TemplateError, match=r"refused by the sandbox.*__init__"):
        EmailRenderer(templates_copy).render(kind, context, "en")


# --- customer data ---------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>"\'><b>{{ 7*7 }}</b>'


def test_customer_fields_with_markup_are_shown_as_text_never_as_html() -> None:
    renderer = EmailRenderer(TEMPLATES)
    sample = next(
        s for s in sample_emails() if s.name == "multi-item" and s.kind.value == "order_shipped"
    )
    hostile_address = Address(
        name=HOSTILE[:200],
        company=HOSTILE[:200],
        line1=HOSTILE,
        line2=HOSTILE,
        city=HOSTILE,
        postal_code="<b>1</b>",
        country_code="DE",
    )
    state = sample.state
    assert state is not None
    order = state.order.model_copy(
        update={
            "shipping_address": hostile_address,
            "line_items": tuple(
                item.model_copy(update={"title": HOSTILE, "variant_title": HOSTILE})
                for item in state.order.line_items
            ),
        }
    )
    customer = state.customer.model_copy(update={"first_name": HOSTILE[:200]})
    hostile = type(sample)(
        sample.kind,
        sample.name,
        sample.event,
        type(state)(**{**state.__dict__, "order": order, "customer": customer}),
    )
    context = hostile.context(StoreFacts(), {"en"})
    email = renderer.render(sample.kind, context, "en")

    document = lxml.html.document_fromstring(email.html)
    assert document.findall(".//script") == []
    assert [img.get("src") for img in document.iter("img") if img.get("src") == "x"] == []
    assert not any(el.get("onerror") for el in document.iter())
    assert "<b>{{ 7*7 }}</b>" in document.text_content()  # shown, literally
    assert "49" not in document.text_content()  # and never evaluated
    assert HOSTILE in email.text  # the text part is plain text: shown as typed


def test_line_breaks_in_a_name_cannot_add_a_header_and_the_subject_stays_one_line() -> None:
    kind, context = welcome_context(first_name="Anna\r\nBcc: everyone@example.com\u2028X")
    email = EmailRenderer(TEMPLATES).render(kind, context, "en")
    assert "\r" not in email.subject and "\n" not in email.subject
    assert "\u2028" not in email.subject
    assert "Anna Bcc: everyone@example.com X" in email.subject


def test_a_very_long_name_keeps_the_subject_capped_and_the_email_intact() -> None:
    kind, context = welcome_context(first_name="A" * 200)
    store = StoreFacts(name="Fern & Field " * 20)
    context["store"]["name"] = store.name
    email = EmailRenderer(TEMPLATES).render(kind, context, "en")
    assert len(email.subject) == MAX_SUBJECT_CHARS and email.subject.endswith("\u2026")
    assert "A" * 200 in email.html  # shown in full in the body, wrapped by the layout
    content = lxml.html.document_fromstring(email.html).find_class("content")[0]
    assert "word-break:break-word" in content.get("style", "").replace(" ", "")


def test_a_quote_in_data_cannot_leave_its_attribute() -> None:
    sample = next(
        s
        for s in sample_emails()
        if s.name == "multi-item" and s.kind.value == "order_confirmation"
    )
    context = sample.context(StoreFacts(), {"en"})
    # A product picture's alt is empty (decorative beside its name): the data that stands
    # in an attribute is its address.
    picture = 'https://cdn.example/apron.jpg" onmouseover="alert(1)'
    context["order"]["line_items"][0]["image_url"] = picture
    html = EmailRenderer(TEMPLATES).render(sample.kind, context, "en").html
    images = [
        img
        for img in lxml.html.document_fromstring(html).iter("img")
        if "apron" in (img.get("src") or "")
    ]
    assert images and images[0].get("src") == picture
    assert images[0].get("onmouseover") is None


def test_a_customer_cannot_smuggle_a_link_scheme() -> None:
    assert Customer  # the models carry no links from customers; the store's are checked:
    sample = next(
        s for s in sample_emails() if s.name == "domestic" and s.kind.value == "order_confirmation"
    )
    state = sample.state
    assert state is not None
    order = state.order.model_copy(update={"status_url": "javascript:alert(1)"})
    unsafe = type(sample)(
        sample.kind, sample.name, sample.event, type(state)(**{**state.__dict__, "order": order})
    )
    html = (
        EmailRenderer(TEMPLATES)
        .render(sample.kind, unsafe.context(StoreFacts(), {"en"}), "en")
        .html
    )
    hrefs = [a.get("href") for a in lxml.html.document_fromstring(html).iter("a")]
    assert not any(href.startswith("javascript:") for href in hrefs)
