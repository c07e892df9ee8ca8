"""The MIME message every transport sends: what a mail client will parse out of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from aftercare.emails.kinds import EmailKind
from aftercare.rendering.mime import build_mime, compose_message, new_message_id
from aftercare.rendering.rendered_email import RenderedEmail

SENDER = "Fern & Field <hello@fernandfield.example>"
RECIPIENT = "Ada Lovelace <ada@customer.example>"
REPLY_TO = "support@fernandfield.example"
SENT_AT = datetime(2026, 11, 22, 18, 30, 12, tzinfo=UTC)


def rendered(subject: str = "Your order #1001 is confirmed") -> RenderedEmail:
    return RenderedEmail(
        kind=EmailKind.ORDER_CONFIRMATION,
        subject=subject,
        preheader="Ships within 1-3 business days",
        html="<html><body><p>Thank you, Ada! Your order #1001 ships soon.</p></body></html>",
        text="Thank you, Ada!\n\nYour order #1001 ships soon.",
    )


def build(email: RenderedEmail | None = None, **overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "sender": SENDER,
        "recipient": RECIPIENT,
        "reply_to": REPLY_TO,
        "message_id": new_message_id(
            "shopify:order:1001:order_confirmation", "fernandfield.example"
        ),
        "headers": {"X-Aftercare-Kind": "order_confirmation"},
        "date": SENT_AT,
    }
    arguments.update(overrides)
    return build_mime(email or rendered(), **arguments)  # type: ignore[arg-type]


def parse(mime: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(mime)
    assert isinstance(message, EmailMessage)
    return message


def body(part: object) -> str:
    """A text part's content as the template wrote it (on the wire, lines end in CRLF)."""
    assert isinstance(part, EmailMessage)
    return part.get_content().replace("\r\n", "\n").removesuffix("\n")


def test_plain_text_then_html_as_alternatives_of_one_message() -> None:
    email = rendered()
    message = parse(build(email))

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert body(parts[0]) == email.text
    assert body(parts[1]) == email.html
    # A client that prefers HTML finds it; one that cannot show HTML gets the text.
    assert message.get_body(("html",)) is parts[1]
    assert message.get_body(("plain",)) is parts[0]


def test_carries_every_header_a_mail_client_and_the_outbox_need() -> None:
    message_id = new_message_id("shopify:order:1001:order_confirmation", "fernandfield.example")
    message = parse(build(message_id=message_id))

    assert message["Subject"] == "Your order #1001 is confirmed"
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Fern & Field", "hello@fernandfield.example")
    [recipient] = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("Ada Lovelace", "ada@customer.example")
    assert message["Reply-To"].addresses[0].addr_spec == REPLY_TO
    assert parsedate_to_datetime(message["Date"]) == SENT_AT
    assert message["Message-ID"] == message_id
    assert message["MIME-Version"] == "1.0"
    assert message["X-Aftercare-Kind"] == "order_confirmation"


def test_no_reply_to_header_when_the_store_has_no_reply_address() -> None:
    assert "Reply-To" not in parse(build(reply_to=None))


def test_date_defaults_to_now_and_keeps_the_given_offset() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    default_date = parsedate_to_datetime(parse(build(date=None))["Date"])
    assert before <= default_date <= datetime.now(UTC) + timedelta(seconds=1)

    berlin_evening = datetime(2026, 11, 22, 19, 30, tzinfo=timezone(timedelta(hours=1)))
    assert parsedate_to_datetime(parse(build(date=berlin_evening))["Date"]) == berlin_evening


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(date=datetime(2026, 11, 22, 18, 30))


def test_non_ascii_subject_and_names_round_trip_in_a_7bit_message() -> None:
    subject = "Ihre Bestellung ist unterwegs – Größe M 🚚"
    mime = build(
        rendered(subject),
        sender="Bäckerei Müller, Köln <hallo@baeckerei.example>",
        recipient="Zoë Ångström <zoe@customer.example>",
    )
    message = parse(mime)

    assert mime.isascii()  # encoded words and quoted-printable: safe for any SMTP hop
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Bäckerei Müller, Köln"
    assert message["To"].addresses[0].display_name == "Zoë Ångström"


@pytest.mark.parametrize(
    "sender",
    [
        "Fern, Field & Co <hello@fernandfield.example>",
        '"Fern, Field & Co" <hello@fernandfield.example>',
        '"Fern, Field \\"&\\" Co" <hello@fernandfield.example>',
    ],
)
def test_a_store_name_with_a_comma_or_quotes_stays_one_sender(sender: str) -> None:
    [address] = parse(build(sender=sender))["From"].addresses

    assert address.addr_spec == "hello@fernandfield.example"
    assert address.display_name.replace('"', "") == "Fern, Field & Co"


def test_a_bare_address_gets_no_display_name() -> None:
    [address] = parse(build(recipient="ada@customer.example"))["To"].addresses
    assert (address.display_name, address.addr_spec) == ("", "ada@customer.example")


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r", "\r\n\t", "\u2028", "\x0b"])
def test_a_line_break_in_the_subject_cannot_add_a_header(line_break: str) -> None:
    mime = build(rendered(f"Hi{line_break}Bcc: evil@attacker.example"))
    message = parse(mime)

    assert "Bcc" not in message
    assert message["Subject"] == "Hi Bcc: evil@attacker.example"
    assert b"\nBcc:" not in mime


@pytest.mark.parametrize(
    "overrides",
    [
        {"sender": "Fern\r\nBcc: evil@attacker.example <hello@fernandfield.example>"},
        {"recipient": "Ada\nBcc: evil@attacker.example <ada@customer.example>"},
        {"reply_to": "Support\r\nBcc: evil@attacker.example <support@fernandfield.example>"},
        {"headers": {"X-Aftercare-Kind": "welcome\r\nBcc: evil@attacker.example"}},
    ],
)
def test_a_line_break_in_a_name_or_extra_header_cannot_add_a_header(
    overrides: dict[str, object],
) -> None:
    mime = build(**overrides)
    message = parse(mime)

    assert "Bcc" not in message
    assert b"\nBcc:" not in mime
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


@pytest.mark.parametrize(
    "address",
    ["", "not an address", "Ada <>", "ada@customer.example\r\nBcc: evil@attacker.example"],
)
def test_an_unusable_recipient_address_is_refused_without_repeating_it(address: str) -> None:
    with pytest.raises(ValueError, match="recipient address") as raised:
        build(recipient=address)
    assert "customer.example" not in str(raised.value)


def test_an_unusable_sender_address_is_named_so_the_store_owner_can_fix_it() -> None:
    with pytest.raises(ValueError, match="sender address 'hello at fernandfield.example'"):
        build(sender="Fern & Field <hello at fernandfield.example>")


@pytest.mark.parametrize("name", ["Bcc", "From", "subject", "Content-Type", "X Bad", "X:Bad"])
def test_extra_headers_cannot_replace_or_break_the_ones_build_mime_sets(name: str) -> None:
    with pytest.raises(ValueError, match="extra header"):
        build(headers={name: "value"})


def test_long_html_lines_are_wrapped_under_the_smtp_line_limit() -> None:
    # premailer puts a whole element's inlined CSS on one line; SMTP allows 998 octets a line.
    long_line = "<p style='color:#2f5d50'>" + "Fern & Field – " * 2000 + "</p>"
    email = RenderedEmail(EmailKind.WELCOME, "Welcome", "", long_line, "Welcome")
    mime = build(email)

    assert max(len(line) for line in mime.split(b"\r\n")) <= 998
    assert body(parse(mime).get_body(("html",))) == long_line


def test_an_attachment_can_be_added_without_disturbing_the_bodies() -> None:
    # How the PDF invoice of an order confirmation will be attached.
    email = rendered()
    message = compose_message(
        email,
        sender=SENDER,
        recipient=RECIPIENT,
        reply_to=None,
        message_id=new_message_id("key", "fernandfield.example"),
    )
    message.add_attachment(
        b"%PDF-1.7 invoice", maintype="application", subtype="pdf", filename="invoice-1001.pdf"
    )
    parsed = parse(message.as_bytes())

    assert parsed.get_content_type() == "multipart/mixed"
    assert body(parsed.get_body(("plain",))) == email.text
    assert body(parsed.get_body(("html",))) == email.html
    [invoice] = list(parsed.iter_attachments())
    assert invoice.get_filename() == "invoice-1001.pdf"
    assert invoice.get_content() == b"%PDF-1.7 invoice"


def test_message_id_is_the_same_for_every_retry_of_one_email() -> None:
    key = "shopify:order:1001:order_confirmation"
    first = new_message_id(key, "fernandfield.example")

    assert new_message_id(key, "fernandfield.example") == first
    assert new_message_id("shopify:order:1002:order_confirmation", "fernandfield.example") != first
    assert new_message_id(key, "other-store.example") != first


def test_message_id_is_a_valid_header_value_that_hides_the_key() -> None:
    key = "shopify:customer:4242:welcome"
    message_id = new_message_id(key, "FernAndField.example")

    assert message_id.startswith("<") and message_id.endswith("@fernandfield.example>")
    assert "4242" not in message_id
    assert parse(build(message_id=message_id))["Message-ID"] == message_id


def test_message_id_domain_may_be_internationalised() -> None:
    assert new_message_id("k", "bäckerei.example").endswith("@xn--bckerei-5wa.example>")


@pytest.mark.parametrize("domain", ["", "shop.example\r\nBcc: x@y", "a b.example", "<x>"])
def test_message_id_refuses_a_domain_that_would_break_the_header(domain: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        new_message_id("key", domain)


def test_message_id_needs_a_key() -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        new_message_id("", "fernandfield.example")


@pytest.mark.parametrize("message_id", ["no-brackets@x", "<no-at-sign>", "<a@b>\r\nBcc: x@y"])
def test_a_malformed_message_id_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message_id"):
        build(message_id=message_id)


TRICKY_BODIES = [
    ("plain ascii", "Hello\nworld"),
    ("non-ASCII and emoji", "Grüße aus Leipzig – 39,00 € 🎉\nこんにちは\nمرحبا"),
    ("equals signs and dots", "a=b\n.\n..starts with dots\n=3D"),
    ("trailing spaces and tabs", "line with trailing spaces   \nand a tab\t\nend"),
    ("one very long line", "x" * 5000 + " " + "é" * 700),
    ("CRLF and lone CR", "windows\r\nmac\runix\n"),
    ("a line that looks like our boundary", "--==_ac_ x\n--"),
]


@pytest.mark.parametrize(("name", "text"), TRICKY_BODIES, ids=[n for n, _ in TRICKY_BODIES])
def test_the_fast_writer_equals_the_stdlib_message(name: str, text: str) -> None:
    email = RenderedEmail(
        kind=EmailKind.WELCOME,
        subject="Grüße, Ada — willkommen!",
        preheader="",
        html=f'<html><body><p style="color: #333">{text}</p></body></html>',
        text=text,
    )
    arguments = dict(
        sender=SENDER,
        recipient=RECIPIENT,
        reply_to=REPLY_TO,
        message_id="<abc123.aftercare@fernandfield.example>",
        headers={"X-Aftercare-Kind": "welcome"},
        date=SENT_AT,
    )
    fast = build_mime(email, **arguments)  # type: ignore[arg-type]
    reference = compose_message(email, **arguments)  # type: ignore[arg-type]
    fast_message = parse(fast)
    for header in ("Subject", "From", "To", "Reply-To", "Date", "Message-ID", "X-Aftercare-Kind"):
        assert fast_message[header] == reference[header]
    assert fast_message.get_content_type() == "multipart/alternative"
    for subtype in ("plain", "html"):
        ours = fast_message.get_body((subtype,))
        theirs = reference.get_body((subtype,))
        assert ours.get_content_charset() == "utf-8"
        assert ours.get_content().replace("\r\n", "\n") == theirs.get_content().replace(
            "\r\n", "\n"
        )
    assert all(len(line) <= 78 for line in fast.split(b"\r\n"))
    assert fast.isascii() and b"\n" not in fast.replace(b"\r\n", b"")


PLAIN_AND_TRICKY_SUBJECTS = [
    "Your order #1001 is confirmed",
    "Order #1001 has shipped: track it here",
    "Welcome to Fern & Field, Ada!",
    "x" * 69,  # exactly 78 characters with "Subject: "
    "x" * 70,  # one more: folded
    "A subject with =?utf-8?q?x?= in it",
    "Grüße aus Leipzig",
    "tab\tand  double  spaces",
    "ends with a space ",
    'semicolon; comma, (parens) <angles> "quotes" \\ backslash',
    "a " * 45,
]
PLAIN_AND_TRICKY_ADDRESSES = [
    "ada@example.org",
    "Ada Lovelace <ada@example.org>",
    "Fern & Field <hello@fernandfield.example>",
    "Fern, Field & Co <hello@fernandfield.example>",
    "J. Smith <j.smith@example.org>",
    '"Quoted Name" <q@example.org>',
    "Zoë Müller <zoe@example.de>",
    "first.last+tag@sub.example.co.uk",
    "O'Brien <o'brien@example.ie>",
    "A Very Long Display Name That Goes On And On And On <someone@a-long-domain.example>",
    "user@xn--bcher-kva.example",
]


@pytest.mark.parametrize("subject", PLAIN_AND_TRICKY_SUBJECTS)
def test_a_header_written_directly_is_byte_for_byte_what_the_registry_writes(subject: str) -> None:
    from aftercare.rendering.mime import _header_line, _registry_line, _single_line

    value = _single_line(subject)
    assert _header_line("Subject", value) == _registry_line("Subject", value)


@pytest.mark.parametrize("value", PLAIN_AND_TRICKY_ADDRESSES)
def test_an_address_written_directly_is_byte_for_byte_what_the_registry_writes(
    value: str,
) -> None:
    from aftercare.rendering.mime import _address, _address_line, _registry_line

    for name in ("From", "To", "Reply-To"):
        expected = _registry_line(name, _address(value, role="sender"))
        assert _address_line(name, value, "sender") == expected
