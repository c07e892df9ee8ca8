"""One learning run: read an export, match its tickets, relate them to emails, store rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from aftercare.enrichment.faq.matching import TicketMatcher
from aftercare.enrichment.faq.snippets import SnippetLibrary
from aftercare.learning.email_history import EmailIndex, stored_history
from aftercare.learning.faq_rates import DEFAULT_WINDOW, LearningReport, learn_rates
from aftercare.learning.ticket_export import (
    RejectedRow,
    Ticket,
    TicketExportError,
    parse_ticket_export,
    read_ticket_export,
)
from aftercare.settings import StoreFacts
from aftercare.storage.faq_rates import replace_rates


@dataclass(frozen=True)
class LearningOutcome:
    report: LearningReport
    rejected: tuple[RejectedRow, ...]


def learn_from_tickets(
    tickets: tuple[Ticket, ...],
    sessions: sessionmaker[Session],
    library: SnippetLibrary,
    store: StoreFacts,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    save: bool = True,
) -> LearningReport:
    matcher = TicketMatcher.from_library(library, locale=store.default_locale)
    with sessions() as session:
        emails = EmailIndex(stored_history(session, store))
    report = learn_rates(tickets, matcher, emails, library, store.default_locale, window)
    if save:
        with sessions.begin() as session:
            replace_rates(session, report.rates, now)
    return report


def learn_from_export(
    export: Path,
    sessions: sessionmaker[Session],
    library: SnippetLibrary,
    store: StoreFacts,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> LearningOutcome:
    return learn_from_source(str(export), sessions, library, store, now=now, window=window)


# An export bigger than this is not a ticket export (or should be split by month).
MAX_EXPORT_BYTES = 200 * 1024 * 1024


def read_source(source: str, zone: ZoneInfo) -> tuple[tuple[Ticket, ...], tuple[RejectedRow, ...]]:
    """The tickets of every CSV in a folder, of one file, or of an https URL."""
    if source.startswith(("https://", "http://")):
        return _read_url(source, zone)
    path = Path(source)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise TicketExportError(f"{path} holds no .csv ticket exports")
    tickets: list[Ticket] = []
    rejected: list[RejectedRow] = []
    for file in files:
        read = read_ticket_export(file, zone)
        tickets.extend(read.tickets)
        rejected.extend(read.rejected)
    return tuple(tickets), tuple(rejected)


def _read_url(url: str, zone: ZoneInfo) -> tuple[tuple[Ticket, ...], tuple[RejectedRow, ...]]:
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_EXPORT_BYTES:
                    raise TicketExportError(f"{url} is over {MAX_EXPORT_BYTES // 2**20} MB")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise TicketExportError(f"cannot download {url}: {exc}") from None
    read = parse_ticket_export(b"".join(chunks), zone, name=url)
    return read.tickets, read.rejected


def learn_from_source(
    source: str,
    sessions: sessionmaker[Session],
    library: SnippetLibrary,
    store: StoreFacts,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> LearningOutcome:
    tickets, rejected = read_source(source, ZoneInfo(store.time_zone))
    report = learn_from_tickets(tickets, sessions, library, store, now=now, window=window)
    return LearningOutcome(report, rejected)
