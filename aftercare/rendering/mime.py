"""Turn a rendered email into the RFC 5322 bytes a transport hands over.

Both transports take the same bytes: the ``.eml`` file a developer opens is exactly what SES
would have sent. Header values carry customer data (a name in the greeting, an order number
in the subject), so every one of them is forced onto a single line here, and the stdlib
header registry does the RFC 2047 encoding of non-ASCII and special characters.

``build_mime`` is the one writer. The stdlib generator (``EmailMessage.as_bytes``) writes
the same message at about fifteen times the cost, more than rendering the email
(docs/decisions/0001-one-mime-writer.md); the tests parse what ``build_mime`` writes with
the stdlib parser instead, so the stdlib still has the last word on what is valid.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from types import MappingProxyType

from aftercare.rendering.rendered_email import RenderedEmail

# CRLF line endings and 78-character folding: what SMTP and SES expect on the wire.
_POLICY = policy.SMTP

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

# RFC 5322 section 3.6.8: a field name is printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")

# Headers build_mime sets itself (or that would redirect the email); an extra header with one
# of these names would make a second, conflicting copy.
_RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Sender",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Return-Path",
    )
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# RFC 2045 section 5.1: type "/" subtype, each a token.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")


@dataclass(frozen=True)
class Attachment:
    """A file sent with the email, such as the order confirmation's PDF invoice.

    ``content_type`` is ``type/subtype`` without parameters (``application/pdf``); the
    content travels base64-encoded whatever it is, so it may be any bytes.
    """

    filename: str
    content_type: str
    content: bytes


def new_message_id(idempotency_key: str, domain: str) -> str:
    """A Message-ID derived from the idempotency key, e.g. ``<3f2a….aftercare@shop.example>``.

    Deterministic so that a retry of the same logical email carries the same Message-ID, and a
    mail client or archive that sees both treats them as one message. The key itself is hashed
    because it names the store's customer and order ids, which have no business in a header.
    Amazon SES replaces Message-ID with its own on sending (see "Amazon SES header fields" in
    the SES developer guide); the id still identifies the ``.eml`` outbox copy and our records.
    """
    if not idempotency_key:
        raise ValueError("idempotency_key is empty: a Message-ID must name one logical email")
    ascii_domain = _ascii_domain(domain)
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.aftercare@{ascii_domain}>"


def build_mime(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    reply_to: str | None,
    message_id: str,
    headers: Mapping[str, str] = _NO_HEADERS,
    date: datetime | None = None,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """The email as RFC 5322 bytes with CRLF line endings, ready for SES raw content or a file.

    multipart/alternative, plain text first and HTML last (a client shows the last part it
    can display); with ``attachments``, that alternative is the first part of a
    multipart/mixed and each attachment follows it. The stdlib generator would spend about
    2.5 ms per email re-parsing the part headers and writing the quoted-printable bodies
    line by line, more than rendering the email; here the headers still go through the
    header registry when they need encoding, and the bodies are encoded by
    ``binascii.b2a_qp`` (C) and joined once. ``date`` defaults to now (UTC).

    ``sender`` and ``recipient`` are a bare address or ``Display Name <address>``; the display
    name may contain commas, quotes or non-ASCII (``Fern, Field & Co <hello@…>``). Raises
    ``ValueError`` for an address, header or attachment that cannot be written.
    """
    # Headers that carry people's words need RFC 2047 encoding and folding when they hold
    # non-ASCII or special characters; the header registry does that. Plain short values,
    # most of them, are written as the registry would write them, without its cost.
    out = [_header_line("Subject", _single_line(rendered.subject))]
    out.append(_address_line("From", sender, "sender"))
    out.append(_address_line("To", recipient, "recipient"))
    if reply_to:
        out.append(_address_line("Reply-To", reply_to, "reply_to"))
    for name, value in headers.items():
        _check_extra_header_name(name)
        out.append(_header_line(name, _single_line(value)))
    attached = [_attachment_part(attachment) for attachment in attachments]
    # A boundary must not occur in any part: quoted-printable never writes "==_", base64
    # has no "_", the digest ties it to this message id, and neither boundary starts with
    # the other.
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    alternative = "==_ac_" + digest[:20]
    mixed = "==_acm_" + digest[20:40]
    out.append(
        (
            f"Date: {format_datetime(_aware(date or datetime.now(UTC)))}\r\n"
            f"Message-ID: {_message_id(message_id)}\r\n"
            "MIME-Version: 1.0\r\n"
        ).encode("ascii")
    )
    bodies = _alternative(rendered, alternative)
    if not attached:
        return b"".join([*out, *bodies])
    # The CRLF before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
    out += [f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n'.encode("ascii")]
    delimiter = b"--" + mixed.encode("ascii")
    for part in ([b"\r\n", *bodies], *attached):
        out += [delimiter, *part, b"\r\n"]
    out += [delimiter, b"--\r\n"]
    return b"".join(out)


def _alternative(rendered: RenderedEmail, boundary: str) -> list[bytes]:
    """The multipart/alternative entity, from its Content-Type header to its last delimiter."""
    out = [f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()]
    delimiter = b"--" + boundary.encode("ascii")
    # Quoted-printable keeps every line under SMTP's 998-octet limit (inlined CSS makes very
    # long HTML lines) and the body 7-bit, which SES asks for in raw messages; it also stays
    # readable when a developer opens the .eml file in an editor.
    for subtype, body in (("plain", rendered.text), ("html", rendered.html)):
        out += [
            delimiter,
            b"\r\nContent-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _quoted_printable(body),
            b"\r\n",
        ]
    out += [delimiter, b"--\r\n"]
    return out


def _attachment_part(attachment: Attachment) -> list[bytes]:
    """One attachment's headers and base64 body (lines of 76 characters, as RFC 2045 asks)."""
    content_type = attachment.content_type.strip().lower()
    if not _CONTENT_TYPE.fullmatch(content_type) or content_type.startswith(
        ("multipart/", "message/")
    ):
        raise ValueError(
            f"attachment content type {attachment.content_type!r} is not a type/subtype"
            " of a single file"
        )
    filename = _single_line(attachment.filename)
    if not filename:
        raise ValueError("an attachment needs a file name")
    encoded = binascii.b2a_base64(attachment.content, newline=False)
    return [
        b"\r\nContent-Type: " + content_type.encode("ascii") + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n",
        _disposition_line(filename),
        b"\r\n",
        b"\r\n".join(_BASE64_LINE.findall(encoded)),
    ]


def _disposition_line(filename: str) -> bytes:
    """``Content-Disposition: attachment; filename=…`` as the header registry writes it.

    The registry quotes the name and writes a non-ASCII one as an RFC 2231 parameter
    (``filename*=utf-8''…``); a short printable ASCII name is written directly, without its
    cost (a fifth of a millisecond, as much as the rest of the message).
    """
    line = f'Content-Disposition: attachment; filename="{filename}"'
    if len(line) <= _FOLD_AT and _PLAIN_FILENAME.fullmatch(filename):
        return (line + "\r\n").encode("ascii")
    head = EmailMessage(policy=_POLICY)
    head["Content-Disposition"] = "attachment"
    head.set_param("filename", filename, header="Content-Disposition")
    return _POLICY.fold_binary("Content-Disposition", head["Content-Disposition"])


def encoded_size(body: str) -> int:
    """Bytes a text body takes in the message ``build_mime`` writes (UTF-8, quoted-printable).

    What Gmail's ~102 KB clipping limit is measured against: the template check uses it.
    """
    return len(_quoted_printable(body))


# Printable ASCII that the registry writes unchanged: no encoded-word look-alike ("=?").
_PLAIN_VALUE = re.compile(r"(?:(?!=\?)[ -~])*")
# A display name of atext words (RFC 5322 3.2.3) needs no quotes; a dot-atom address none.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_NAME = re.compile(rf"(?:{_ATEXT}(?: {_ATEXT})*)?")
_PLAIN_ADDR = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")
# Printable ASCII a quoted string holds as it is: no quote or backslash to escape.
_PLAIN_FILENAME = re.compile(r"(?:(?!=\?)[ !#-\[\]-~])*")
_FOLD_AT = 78
# RFC 2045 section 6.8: base64 lines of at most 76 characters.
_BASE64_LINE = re.compile(rb".{1,76}", re.DOTALL)


def _header_line(name: str, value: str) -> bytes:
    line = f"{name}: {value}"
    if len(line) <= _FOLD_AT and _PLAIN_VALUE.fullmatch(value):
        return (line + "\r\n").encode("ascii")
    return _registry_line(name, value)


@lru_cache(maxsize=256)  # the store's own From and Reply-To recur in every email
def _address_line(name: str, value: str, role: str) -> bytes:
    display, addr_spec = _split_address(value, role)
    if _PLAIN_NAME.fullmatch(display) and _PLAIN_ADDR.fullmatch(addr_spec):
        line = f"{name}: {display} <{addr_spec}>" if display else f"{name}: {addr_spec}"
        if len(line) <= _FOLD_AT:
            return (line + "\r\n").encode("ascii")
    return _registry_line(name, _address(value, role=role))


def _registry_line(name: str, value: str | Address) -> bytes:
    head = EmailMessage(policy=_POLICY)
    head[name] = value
    return _POLICY.fold_binary(name, head[name])


def _quoted_printable(text: str) -> bytes:
    """RFC 2045 quoted-printable with CRLF line ends (soft breaks at 76 characters)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):
        lines += "\n"  # as the stdlib writes it: a text body ends with a line break
    encoded = binascii.b2a_qp(lines.encode("utf-8"), quotetabs=False, istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _single_line(value: str) -> str:
    """``value`` with every control character and run of whitespace turned into one space.

    A CR or LF in a header value would start a new header ("Hi\\r\\nBcc: …"); the stdlib
    refuses such values with ValueError, which would make an email with an odd customer name
    fail for good. Collapsing them keeps the text and removes the line break.
    """
    visible = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value)
    return " ".join(visible.split())


def _address(value: str, *, role: str) -> Address:
    """Split ``Display Name <addr>`` (or a bare ``addr``) into a header-registry Address.

    Not ``email.utils.parseaddr``: it reads ``Fern, Field <hello@…>`` as the address
    ``Fern``, because an unquoted comma separates addresses in a header. Store owners type
    their store's name as they like, so the name is everything before the last ``<``.
    """
    display_name, addr_spec = _split_address(value, role)
    try:
        return Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError) as error:
        shown = "" if role == "recipient" else f" {addr_spec!r}"
        raise ValueError(f"the {role} address{shown} is not valid ({error})") from None


def _split_address(value: str, role: str) -> tuple[str, str]:
    text = value.strip()
    display_name = ""
    addr_spec = text
    if text.endswith(">") and "<" in text:
        name_part, _, rest = text.rpartition("<")
        addr_spec = rest[:-1].strip()
        display_name = _unquote(name_part.strip())
    # A customer's address stays out of the error: error messages end up in logs.
    shown = "" if role == "recipient" else f" {addr_spec!r}"
    if not addr_spec or any(ch.isspace() or ch in "<>" for ch in addr_spec) or "@" not in addr_spec:
        raise ValueError(f"the {role} address{shown} is not an email address")
    return _single_line(display_name), addr_spec


def _unquote(name: str) -> str:
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _message_id(value: str) -> str:
    if not re.fullmatch(r"<[!-;=?-~]+@[!-;=?-~]+>", value):
        raise ValueError(f"message_id {value!r} is not of the form <id@domain>")
    return value


def _check_extra_header_name(name: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"extra header name {name!r} is not a valid header field name")
    if name.lower() in _RESERVED_HEADERS or name.lower().startswith("content-"):
        raise ValueError(f"extra header {name!r} is set by build_mime itself; pass it as argument")


def _ascii_domain(domain: str) -> str:
    try:
        ascii_domain = domain.strip().encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise ValueError(f"{domain!r} is not a domain name usable in a Message-ID")
    return ascii_domain.lower()


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("date must be timezone-aware: a Date header states its UTC offset")
    return moment
