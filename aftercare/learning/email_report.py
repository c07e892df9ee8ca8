"""Did the emails work? Per kind and locale: sent, rated, FAQ answers helpful, delay choices.

What the store owner asks of a month of emails, answered from what Aftercare recorded: the
outbox (which emails went out, in which language, with which FAQ answers), the customers'
clicks on the emails' action links (a rating, "did this answer your question?", a delay
choice) and, given the helpdesk's ticket export, how many tickets followed each kind of
email per 100 sent: the deflection the product exists for. Plain data in, plain data out;
``aftercare report`` prints it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.learning.email_history import EmailIndex, stored_history
from aftercare.learning.faq_rates import DEFAULT_WINDOW
from aftercare.learning.ticket_export import Ticket
from aftercare.settings import StoreFacts
from aftercare.storage.schema import OutboxEmailRow, OutboxStatus

RATINGS = ("good", "okay", "bad")
DELAY_CHOICES = ("wait", "refund", "reship", "ship_ready")
UNKNOWN_LOCALE = "?"  # emails sent before their record kept the language


@dataclass(frozen=True)
class Click:
    """One recorded action on an email's link (``storage/customer_actions.py``)."""

    email_key: str  # the email's idempotency key
    action: str  # rating, faq_helpful, delay_choice
    subject: str  # the FAQ snippet for faq_helpful, else ""
    value: str


@dataclass
class SnippetVotes:
    shown: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def helpful_share(self) -> float | None:
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None


@dataclass
class KindReport:
    """One (kind, language) of emails sent in the period; ``locale`` is the language the
    email was written in (``en``), whatever region its dates and money were formatted for."""

    kind: str
    locale: str
    sent: int = 0
    ratings: Counter[str] = field(default_factory=Counter)
    delay_choices: Counter[str] = field(default_factory=Counter)
    snippets: dict[str, SnippetVotes] = field(default_factory=dict)

    @property
    def csat(self) -> float | None:
        """The share of "good" among the ratings (CSAT as most helpdesks count it)."""
        total = sum(self.ratings.values())
        return self.ratings["good"] / total if total else None

    def as_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "locale": self.locale,
            "sent": self.sent,
            "ratings": {r: self.ratings[r] for r in RATINGS},
            "csat": self.csat,
            "delay_choices": {c: self.delay_choices[c] for c in DELAY_CHOICES},
            "faq": {
                snippet: {
                    "shown": votes.shown,
                    "helpful": votes.helpful,
                    "not_helpful": votes.not_helpful,
                }
                for snippet, votes in sorted(self.snippets.items())
            },
        }


@dataclass(frozen=True)
class Deflection:
    """Tickets that followed an email of ``kind`` (within the learning window), per 100."""

    kind: str
    emails: int
    tickets: int

    @property
    def per_100(self) -> float | None:
        return 100 * self.tickets / self.emails if self.emails else None


@dataclass(frozen=True)
class EmailReport:
    since: datetime
    until: datetime
    kinds: tuple[KindReport, ...]
    deflection: tuple[Deflection, ...] | None = None  # None: no ticket export given

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "kinds": [k.as_record() for k in self.kinds],
        }
        if self.deflection is not None:
            record["tickets_after_emails"] = [
                {"kind": d.kind, "emails": d.emails, "tickets": d.tickets, "per_100": d.per_100}
                for d in self.deflection
            ]
        return record


def email_report(
    session: Session,
    since: datetime,
    until: datetime,
    clicks: Iterable[Click] = (),
    tickets: Sequence[Ticket] | None = None,
    store: StoreFacts | None = None,
    window: timedelta = DEFAULT_WINDOW,
) -> EmailReport:
    """The report of the emails sent in [``since``, ``until``) and the clicks on them."""
    by_key: dict[str, KindReport] = {}
    reports: dict[tuple[str, str], KindReport] = {}
    rows = session.execute(
        select(OutboxEmailRow.idempotency_key, OutboxEmailRow.kind, OutboxEmailRow.explanation)
        .where(
            OutboxEmailRow.status == OutboxStatus.SENT,
            OutboxEmailRow.created_at >= since,
            OutboxEmailRow.created_at < until,
        )
        .execution_options(yield_per=5000)
    )
    for key, kind, explanation in rows:
        record = explanation or {}
        locale = _language(record.get("locale"))
        report = reports.get((kind, locale))
        if report is None:
            report = reports[(kind, locale)] = KindReport(kind, locale)
        report.sent += 1
        for question in record.get("likely_questions") or ():
            report.snippets.setdefault(question["id"], SnippetVotes()).shown += 1
        by_key[key] = report
    for click in clicks:
        report = by_key.get(click.email_key)
        if report is None:
            continue  # an email sent outside the period
        if click.action == "rating" and click.value in RATINGS:
            report.ratings[click.value] += 1
        elif click.action == "delay_choice" and click.value in DELAY_CHOICES:
            report.delay_choices[click.value] += 1
        elif click.action == "faq_helpful":
            votes = report.snippets.setdefault(click.subject, SnippetVotes())
            if click.value == "yes":
                votes.helpful += 1
            elif click.value == "no":
                votes.not_helpful += 1
    ordered = tuple(sorted(reports.values(), key=lambda r: (r.kind, r.locale)))
    deflection = None
    if tickets is not None:
        deflection = _deflection(session, store or StoreFacts(), tickets, since, until, window)
    return EmailReport(since, until, ordered, deflection)


def _language(locale: str | None) -> str:
    """The language an email was written in, from the locale it was formatted for
    (``en_DE``: English, with German dates and money)."""
    if not locale:
        return UNKNOWN_LOCALE
    return locale.replace("-", "_").split("_")[0].lower()


def _deflection(
    session: Session,
    store: StoreFacts,
    tickets: Sequence[Ticket],
    since: datetime,
    until: datetime,
    window: timedelta,
) -> tuple[Deflection, ...]:
    """Tickets per kind of email before them, over the emails of the period: the emails
    the order history implies (so a store's history before Aftercare counts too) and the
    ones only the outbox knows (welcome, delay notices)."""
    index = EmailIndex(stored_history(session, store))
    emails = Counter(e.kind for e in index if since <= e.sent_at < until)
    followed: Counter[str] = Counter()
    for ticket in tickets:
        email = index.last_before(
            ticket.created_at,
            order_number=ticket.order_number,
            customer=ticket.customer_email,
            window=window,
        )
        if email is not None and since <= email.sent_at < until:
            followed[email.kind] += 1
    return tuple(Deflection(kind, emails[kind], followed[kind]) for kind in sorted(emails))
