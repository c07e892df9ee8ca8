"""A support-ticket export, read whatever helpdesk wrote it.

Zendesk, Freshdesk, Gorgias and Shopify Inbox all export CSV, each with its own column
names and date format. A ticket needs when it was created, who or which order it is about
(an order number, or the customer's email) and its text; the columns are found by the
names helpdesks use. A row that lacks them is not dropped silently: it is returned with
its line number and what is missing, and the command prints the count and the first few.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from dateutil import parser as date_parser

from aftercare.errors import AftercareError

_COLUMNS = {
    "created_at": ("created_at", "created", "created time", "date", "timestamp", "created on"),
    "order_number": ("order_number", "order", "order number", "order id", "order_id", "order no"),
    "customer_email": (
        "customer_email",
        "email",
        "requester email",
        "requester",
        "customer",
        "from",
    ),
    "subject": ("subject", "title"),
    "body": ("body", "description", "message", "text", "content", "comment"),
}
# An order number as customers and helpdesks write it: "#1042", "FF-1042", "1042".
_ORDER_IN_TEXT = re.compile(r"#\s?([A-Za-z]{0,4}-?\d{3,})")


class TicketExportError(AftercareError):
    """The export cannot be read at all (not CSV, no text column, no date column)."""


@dataclass(frozen=True)
class Ticket:
    created_at: datetime
    order_number: str | None  # as written, without "#"
    customer_email: str | None  # case-folded
    text: str  # subject and body

    def __repr__(self) -> str:  # keeps customer addresses out of logs and tracebacks
        return f"Ticket(created_at={self.created_at.isoformat()}, order={self.order_number!r})"


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True)
class TicketExport:
    tickets: tuple[Ticket, ...]
    rejected: tuple[RejectedRow, ...]


def read_ticket_export(path: Path, default_zone: tzinfo) -> TicketExport:
    """Every ticket of the CSV at ``path``; times without an offset are ``default_zone``'s."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TicketExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_ticket_export(raw, default_zone, name=str(path))


def parse_ticket_export(raw: bytes, default_zone: tzinfo, name: str = "the export") -> TicketExport:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TicketExportError(
            f"{name} is not UTF-8 text (byte {exc.start}); export it as CSV in UTF-8"
        ) from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise TicketExportError(f"{name} is empty") from None
    columns = _find_columns(header, name)
    tickets: list[Ticket] = []
    rejected: list[RejectedRow] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        ticket = _ticket(row, columns, default_zone)
        if isinstance(ticket, str):
            rejected.append(RejectedRow(line, ticket))
        else:
            tickets.append(ticket)
    return TicketExport(tuple(tickets), tuple(rejected))


def _find_columns(header: Iterable[str], name: str) -> dict[str, int]:
    found: dict[str, int] = {}
    normalised = [h.strip().casefold().replace("_", " ") for h in header]
    for field, names in _COLUMNS.items():
        for candidate in names:
            key = candidate.replace("_", " ")
            if key in normalised:
                found[field] = normalised.index(key)
                break
    missing = [f for f in ("created_at",) if f not in found]
    if "body" not in found and "subject" not in found:
        missing.append("body or subject")
    if missing:
        raise TicketExportError(
            f"{name} has no {' and no '.join(missing)} column (its columns: "
            f"{', '.join(h.strip() for h in header)}); name them created_at, order_number, "
            "customer_email, subject, body"
        )
    return found


def _cell(row: list[str], columns: dict[str, int], field: str) -> str:
    index = columns.get(field)
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _ticket(row: list[str], columns: dict[str, int], zone: tzinfo) -> Ticket | str:
    created = _cell(row, columns, "created_at")
    if not created:
        return "no creation time"
    try:
        created_at = date_parser.parse(created)
    except (ValueError, OverflowError):
        return f"creation time {created[:40]!r} is not a date"
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=zone)
    text = "\n".join(p for p in (_cell(row, columns, "subject"), _cell(row, columns, "body")) if p)
    if not text:
        return "no subject and no text"
    order = _cell(row, columns, "order_number").lstrip("#").strip() or None
    if order is None and (found := _ORDER_IN_TEXT.search(text)):
        order = found.group(1)
    email = _cell(row, columns, "customer_email").casefold() or None
    if email is not None and "@" not in email:
        email = None
    if order is None and email is None:
        return "neither an order number nor a customer email"
    return Ticket(created_at, order, email, text)
