"""How often each FAQ question follows each kind of email, counted from matched tickets.

For every past email, each snippet of its kind whose conditions held for that order (and
whose dates covered that day) was *eligible*: the email could have answered it. A ticket
about a topic, written within ``window`` after the customer's last email, is one *ask*
for every snippet of that topic eligible on that email. The selector then ranks by
``asked / eligible``, smoothed towards the snippet's prior (``enrichment/faq/selection``).

Questions asked after a kind of email for which no snippet of their topic fitted are
counted too (``unanswered``): the store's next snippets to write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from aftercare.enrichment.faq.matching import TicketMatch
from aftercare.enrichment.faq.selection import LearnedRate, conditions_hold
from aftercare.enrichment.faq.snippets import Snippet, SnippetLibrary
from aftercare.learning.email_history import EmailIndex, PastEmail
from aftercare.learning.ticket_export import Ticket

DEFAULT_WINDOW = timedelta(days=30)


@dataclass
class LearningReport:
    tickets: int = 0
    matched: int = 0
    linked: int = 0  # matched tickets with an email before them
    emails: int = 0
    rates: dict[tuple[str, str], LearnedRate] = field(default_factory=dict)
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, topic)
    unanswered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, topic)


def eligible_snippets(
    library: SnippetLibrary, locale: str, email: PastEmail
) -> tuple[Snippet, ...]:
    day = email.sent_at.date()
    return tuple(
        s
        for s in library.for_kind(locale, email.kind)
        if s.shown_on(day) and conditions_hold(s.when, email.facts)
    )


class Matcher(Protocol):
    def match_many(
        self, texts: Iterable[str], candidates: Sequence[Collection[str] | None] | None = None
    ) -> list[TicketMatch | None]: ...


def learn_rates(
    tickets: Sequence[Ticket],
    matcher: Matcher,
    emails: EmailIndex,
    library: SnippetLibrary,
    locale: str,
    window: timedelta = DEFAULT_WINDOW,
) -> LearningReport:
    """Count asks and eligible emails per (kind, snippet).

    Each ticket is related to its email first, then matched: the questions that email's
    answers covered are the likely ones (``TicketMatcher.match_many(candidates=)``), so a
    ticket phrased in words no keyword lists still counts for the question it follows.
    """
    report = LearningReport(tickets=len(tickets), emails=emails.count)
    eligible: Counter[tuple[str, str]] = Counter()
    cache: dict[tuple[str, tuple, object], tuple[Snippet, ...]] = {}

    def fitting(email: PastEmail) -> tuple[Snippet, ...]:
        key = (email.kind, tuple(sorted(email.facts.items())), email.sent_at.date())
        found = cache.get(key)
        if found is None:
            found = cache[key] = eligible_snippets(library, locale, email)
        return found

    for email in emails:
        for snippet in fitting(email):
            eligible[(email.kind, snippet.id)] += 1
    before = [
        emails.last_before(
            t.created_at, order_number=t.order_number, customer=t.customer_email, window=window
        )
        for t in tickets
    ]
    likely = [
        frozenset(s.topic for s in fitting(email)) if email is not None else None
        for email in before
    ]
    matches = matcher.match_many((t.text for t in tickets), candidates=likely)
    asked: Counter[tuple[str, str]] = Counter()
    for email, match in zip(before, matches, strict=True):
        if match is None:
            continue
        report.matched += 1
        if email is None:
            continue
        report.linked += 1
        report.asked[(email.kind, match.topic)] += 1
        answers = [s for s in fitting(email) if s.topic == match.topic]
        if not answers:
            report.unanswered[(email.kind, match.topic)] += 1
        for snippet in answers:
            asked[(email.kind, snippet.id)] += 1
    report.rates = {
        key: LearnedRate(asked=asked[key], eligible=count) for key, count in eligible.items()
    }
    return report
