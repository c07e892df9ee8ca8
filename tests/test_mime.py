"""The MIME message every transport sends: what a mail client will parse out of it.

The judge is the stdlib's parser (``policy.default``, as strict as a mail client): each test
parses the bytes ``build_mime`` wrote and asserts the headers, parts and encodings it finds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from aftercare.rendering.mime import Attachment, build_mime, new_message_id
from aftercare.rendering.rendered_email import RenderedEmail

SENDER = "Fern & Field <hello@fernandfield.example>"
RECIPIENT = "Ada Lovelace <ada@customer.example>"
REPLY_TO = "support@fernandfield.example"
SENT_AT = datetime(2026, 11, 22, 18, 30, 12, tzinfo=UTC)


def rendered(subject: str = "Your order #1001 is confirmed") -> RenderedEmail:
    return RenderedEmail(
        kind="order_confirmation",
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
    email = RenderedEmail("welcome", "Welcome", "", long_line, "Welcome")
    mime = build(email)

    assert max(len(line) for line in mime.split(b"\r\n")) <= 998
    assert body(parse(mime).get_body(("html",))) == long_line


INVOICE = Attachment("invoice-1001.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40)


def test_an_attachment_follows_the_bodies_in_a_mixed_message() -> None:
    # How the PDF invoice of an order confirmation is attached.
    email = rendered()
    mime = build(email, attachments=[INVOICE])
    message = parse(mime)

    assert message.get_content_type() == "multipart/mixed"
    assert not message.defects
    alternative, invoice = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert body(message.get_body(("plain",))) == email.text
    assert body(message.get_body(("html",))) == email.html
    assert list(message.iter_attachments()) == [invoice]
    assert invoice.get_content_type() == "application/pdf"
    assert invoice.get_content_disposition() == "attachment"
    assert invoice.get_filename() == "invoice-1001.pdf"
    assert invoice["Content-Transfer-Encoding"] == "base64"
    assert invoice.get_content() == INVOICE.content
    assert not any(part.defects for part in message.walk())
    # The headers are those of the message without attachments.
    plain = parse(build(email))
    for header in ("Subject", "From", "To", "Reply-To", "Date", "Message-ID", "X-Aftercare-Kind"):
        assert message[header] == plain[header]
    assert mime.isascii() and b"\n" not in mime.replace(b"\r\n", b"")
    assert max(len(line) for line in mime.split(b"\r\n")) <= 78


def test_several_attachments_keep_their_order_names_and_bytes() -> None:
    attachments = [
        INVOICE,
        Attachment("Rechnung Müller, Köln.pdf", "application/pdf", b"%PDF-1.7 zweite"),
        Attachment('returns "label".png', "IMAGE/PNG", b"\x89PNG\r\n\x1a\n"),
        Attachment("empty.txt", "text/plain", b""),
    ]
    message = parse(build(attachments=attachments))

    found = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in found] == [
        ("invoice-1001.pdf", "application/pdf"),
        ("Rechnung Müller, Köln.pdf", "application/pdf"),
        ('returns "label".png', "image/png"),
        ("empty.txt", "text/plain"),
    ]
    assert [a.get_payload(decode=True) for a in found] == [a.content for a in attachments]
    assert not any(part.defects for part in message.walk())


def test_a_line_break_in_an_attachment_name_cannot_add_a_header() -> None:
    sneaky = Attachment("invoice.pdf\r\nBcc: evil@attacker.example", "application/pdf", b"%PDF")
    mime = build(attachments=[sneaky])
    [invoice] = parse(mime).iter_attachments()

    assert invoice.get_filename() == "invoice.pdf Bcc: evil@attacker.example"
    assert b"\nBcc:" not in mime


@pytest.mark.parametrize(
    "attachment",
    [
        Attachment("invoice.pdf", "pdf", b"%PDF"),
        Attachment("invoice.pdf", "application/pdf; name=x", b"%PDF"),
        Attachment("invoice.pdf", "application/pdf\r\nBcc: x@y", b"%PDF"),
        Attachment("part.eml", "multipart/mixed", b""),
        Attachment("part.eml", "message/rfc822", b""),
        Attachment(" \r\n", "application/pdf", b"%PDF"),
    ],
)
def test_an_attachment_that_cannot_be_written_is_refused(attachment: Attachment) -> None:
    with pytest.raises(ValueError, match="attachment"):
        build(attachments=[attachment])


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
    ("a line that is our boundary", "--==_ac_{boundary}\n--==_ac_{boundary}--"),
]


@pytest.mark.parametrize(("name", "text"), TRICKY_BODIES, ids=[n for n, _ in TRICKY_BODIES])
@pytest.mark.parametrize("attachments", [(), (INVOICE,)], ids=["alternative", "mixed"])
def test_any_body_reaches_the_stdlib_parser_intact(
    name: str, text: str, attachments: tuple[Attachment, ...]
) -> None:
    message_id = "<abc123.aftercare@fernandfield.example>"
    boundary = hashlib.sha256(message_id.encode()).hexdigest()[:20]
    text = text.replace("{boundary}", boundary)
    email = RenderedEmail(
        kind="welcome",
        subject="Grüße, Ada — willkommen!",
        preheader="",
        html=f'<html><body><p style="color: #333">{text}</p></body></html>',
        text=text,
    )
    mime = build(email, message_id=message_id, attachments=attachments)
    message = parse(mime)

    assert message["Subject"] == "Grüße, Ada — willkommen!"
    assert message["Message-ID"] == message_id
    assert parsedate_to_datetime(message["Date"]) == SENT_AT
    assert not any(part.defects for part in message.walk())
    parts = [message.get_body((subtype,)) for subtype in ("plain", "html")]
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    for part, expected in zip(parts, (email.text, email.html), strict=True):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        # Line ends become CRLF on the wire (a lone CR too); a text body ends with one.
        assert body(part) == expected.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n")
        assert part.get_content().endswith("\n")
    assert [a.get_content() for a in message.iter_attachments()] == [a.content for a in attachments]
    assert all(len(line) <= 78 for line in mime.split(b"\r\n"))
    assert mime.isascii() and b"\n" not in mime.replace(b"\r\n", b"")


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


ATTACHMENT_NAMES = [
    "invoice-1001.pdf",
    "Rechnung 1001, Koln.pdf",
    "Rechnung 1001, Köln.pdf",
    'returns "label".pdf',
    "back\\slash.pdf",
    "semi;colon (x) <y>.pdf",
    "=?utf-8?q?x?=.pdf",
    "x" * 30 + ".pdf",  # 78 characters with the header's name and quotes
    "x" * 31 + ".pdf",  # one more: folded
]


@pytest.mark.parametrize("filename", ATTACHMENT_NAMES)
def test_an_attachment_name_written_directly_is_byte_for_byte_what_the_registry_writes(
    filename: str,
) -> None:
    from aftercare.rendering.mime import _POLICY, _disposition_line

    head = EmailMessage(policy=_POLICY)
    head["Content-Disposition"] = "attachment"
    head.set_param("filename", filename, header="Content-Disposition")
    assert _disposition_line(filename) == _POLICY.fold_binary(
        "Content-Disposition", head["Content-Disposition"]
    )
