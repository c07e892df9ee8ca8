"""Which FAQ answers an email carries: the likeliest questions of this customer, now.

A snippet is a candidate for an email when it names the email's kind, all its conditions
hold for the order and today is within its dates. Candidates are ranked by how likely a
customer who got this kind of email asks that question: the store's ``priority`` (a prior)
until its tickets say otherwise, then the learned rate, smoothed towards the prior so a
handful of tickets cannot swing it. The top ``per_email`` are shown, never two answers to
one topic; snippets the template pins come first.

Everything that does not depend on the order is done once per (locale, kind) when the
selector is built: the candidates are sorted by score, so choosing is a walk down a short
list that stops after ``per_email`` hits (microseconds, ``bench/render.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from aftercare.enrichment.faq.snippets import SNIPPET_KINDS, Condition, Snippet, SnippetLibrary

# How many emails' worth of evidence the prior counts as: with 20, a snippet needs tickets
# from some 20 emails of its kind before they weigh as much as the store's own estimate.
PRIOR_WEIGHT = 20.0
PER_EMAIL = 3

# The facts of one order for one email: a condition's name and its value for this order,
# ``True``/``False`` or, for list conditions, the order's one value (``"card"``). A
# condition this email cannot tell (``delay_stage`` in a shipped email) is absent, and a
# snippet that needs it is not shown.
OrderFacts = Mapping[str, bool | str]


@dataclass(frozen=True)
class LearnedRate:
    """What the store's tickets say about one snippet after one kind of email."""

    asked: int  # tickets about its topic after such an email (of a customer it fitted)
    eligible: int  # emails of that kind it fitted


@dataclass(frozen=True, eq=False)  # by identity: built once per ranked snippet, cached on
class ChosenAnswer:
    snippet: Snippet
    score: float
    why: str


@dataclass(frozen=True)
class Votes:
    """Customers' answers to "Did this answer your question?" under one snippet after one
    kind of email (``storage/customer_actions.py``)."""

    helpful: int
    not_helpful: int

    @property
    def factor(self) -> float:
        """How much the votes move the snippet's score: 1 with none, towards 1.5 when most
        say it helped, towards 0.5 when most say it did not. Smoothed (``VOTE_WEIGHT``
        neutral votes), so three clicks do not reorder a store's answers."""
        total = self.helpful + self.not_helpful
        share = (self.helpful + VOTE_WEIGHT / 2) / (total + VOTE_WEIGHT)
        return 0.5 + share


# Neutral pseudo-votes every snippet starts with.
VOTE_WEIGHT = 10.0


def smoothed_rate(prior: float, learned: LearnedRate | None) -> float:
    if learned is None:
        return prior
    return (learned.asked + PRIOR_WEIGHT * prior) / (learned.eligible + PRIOR_WEIGHT)


def conditions_hold(when: Mapping[str, Condition], facts: OrderFacts) -> bool:
    for name, wanted in when.items():
        actual = facts.get(name)
        if actual is None:
            return False
        if isinstance(wanted, bool):
            if actual is not wanted:
                return False
        elif actual not in wanted:
            return False
    return True


@dataclass(frozen=True)
class _Ranked:
    snippet: Snippet
    score: float
    basis: str  # "prior 0.45" or "learned 12/40 + prior 0.45"
    # The answer as chosen, built once: when a snippet is chosen, all its conditions held,
    # so why it was chosen does not depend on the order.
    chosen: ChosenAnswer
    # ``snippet.when`` as (name, wanted, wanted is a bool), for ``choose``'s inner loop.
    conditions: tuple[tuple[str, Condition, bool], ...] = ()
    dated: bool = True  # False: shown on every day, no need to ask ``shown_on``


class FaqSelector:
    """The store's snippets, ranked per (locale, kind) once, and the choice per email."""

    def __init__(
        self,
        library: SnippetLibrary,
        rates: Mapping[tuple[str, str], LearnedRate] | None = None,
        per_email: int = PER_EMAIL,
        default_locale: str = "en",
        votes: Mapping[tuple[str, str], Votes] | None = None,
    ) -> None:
        self.library = library
        self.rates = MappingProxyType(dict(rates or {}))
        # The rate says how likely the question is; the votes, whether the answer helps.
        self.votes = MappingProxyType(dict(votes or {}))
        self.per_email = per_email
        self.default_locale = default_locale
        self._locales = frozenset(library.locales)
        self._ranked: dict[tuple[str, str], tuple[_Ranked, ...]] = {}
        for locale in library.locales:
            for kind in SNIPPET_KINDS:
                self._ranked[(locale, kind)] = self._rank(library.for_kind(locale, kind), kind)

    def _rank(self, snippets: Iterable[Snippet], kind: str) -> tuple[_Ranked, ...]:
        ranked = []
        for snippet in snippets:
            learned = self.rates.get((kind, snippet.id))
            prior = snippet.prior_for(kind)
            score = smoothed_rate(prior, learned)
            basis = (
                f"prior {prior:.2f}"
                if learned is None
                else f"learned {learned.asked}/{learned.eligible} with prior {prior:.2f}"
            )
            voted = self.votes.get((kind, snippet.id))
            if voted is not None and voted.helpful + voted.not_helpful:
                score *= voted.factor
                basis += (
                    f"; marked helpful {voted.helpful} of {voted.helpful + voted.not_helpful} times"
                )
            chosen = ChosenAnswer(snippet, score, _why(snippet, basis))
            conditions = tuple(
                (name, wanted, isinstance(wanted, bool)) for name, wanted in snippet.when.items()
            )
            dated = snippet.valid_from is not None or snippet.valid_until is not None
            ranked.append(_Ranked(snippet, score, basis, chosen, conditions, dated))
        # Highest first; ties by id so the choice never depends on file order.
        return tuple(sorted(ranked, key=lambda r: (-r.score, r.snippet.id)))

    def locale_for(self, locale: str) -> str | None:
        """The snippet locale an email in ``locale`` uses: its own, its language, the default."""
        for candidate in (locale, locale.split("-", 1)[0], self.default_locale):
            if candidate in self._locales:
                return candidate
        return None

    def choose(
        self,
        kind: str,
        locale: str,
        facts: OrderFacts,
        today: date,
        pinned: Collection[str] = (),
    ) -> tuple[ChosenAnswer, ...]:
        """The answers for one email, best first, each with its score and why."""
        snippet_locale = self.locale_for(locale)
        if snippet_locale is None:
            return ()
        ranked = self._ranked.get((snippet_locale, kind), ())
        chosen: list[ChosenAnswer] = []
        topics: set[str] = set()
        if pinned:
            for entry in ranked:
                if entry.snippet.id in pinned and entry.snippet.shown_on(today):
                    chosen.append(
                        ChosenAnswer(entry.snippet, entry.score, "pinned by the template")
                    )
                    topics.add(entry.snippet.topic)
        per_email = self.per_email
        for entry in ranked:
            if len(chosen) >= per_email:
                break
            snippet = entry.snippet
            if snippet.topic in topics or (entry.dated and not snippet.shown_on(today)):
                continue
            # ``conditions_hold(snippet.when, facts)``, inline: this runs for every candidate.
            for name, wanted, is_flag in entry.conditions:
                actual = facts.get(name)
                if actual is None or (actual is not wanted if is_flag else actual not in wanted):
                    break
            else:
                topics.add(snippet.topic)
                chosen.append(entry.chosen)
        return tuple(chosen[: max(self.per_email, len(pinned))])


def _why(snippet: Snippet, basis: str) -> str:
    if not snippet.when:
        return f"fits every order; {basis}"
    matched = ", ".join(
        f"{name}={'yes' if value is True else 'no' if value is False else '|'.join(sorted(value))}"
        for name, value in sorted(snippet.when.items())
    )
    return f"matched {matched}; {basis}"
