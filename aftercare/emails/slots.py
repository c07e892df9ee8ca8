"""The enrichment slots of an email, typed, and the record of why each was chosen.

The FAQ selector fills ``likely_questions`` and the cross-sell step fills ``cross_sell``;
both hand over these types, never bare dicts, so every chosen item has an id and a reason
the sent email's record keeps (``EmailExplanation``). Templates get them as plain dicts
(``for_template``): the sandbox shows data, not objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class LikelyQuestion:
    """One FAQ answer chosen for this email.

    ``answer_html`` is trusted HTML rendered from the store's own snippet (the renderer
    marks this one field safe); ``why`` says what made it rank, for the email's record.
    """

    snippet_id: str
    question: str
    answer_html: str
    why: str = ""
    score: float | None = None
    url: str | None = None  # the question on the store's FAQ page
    answer_text: str | None = None  # for the plain-text part; else the HTML's text

    def __post_init__(self) -> None:
        if not self.snippet_id:
            raise ValueError("a likely question needs the id of the snippet it came from")

    @cached_property
    def _template_entry(self) -> dict[str, Any]:
        return {
            "id": self.snippet_id,
            "question": self.question,
            "answer_html": self.answer_html,
            "answer_text": self.answer_text,
            "url": self.url,
        }

    def for_template(self) -> dict[str, Any]:
        """The same dict for the same answer (templates cannot change it: the sandbox is
        immutable), so the renderer prepares each answer once, not once per email."""
        return self._template_entry


@dataclass(frozen=True)
class CrossSellItem:
    """One product card, already formatted for the customer (price in their locale)."""

    product_id: str
    title: str
    url: str
    price: str
    image_url: str | None = None
    why: str = ""
    score: float | None = None  # the association's score, for the record
    # Set only when the store shows an urgency line and the stock is that low right now.
    stock_left: int | None = None

    def __post_init__(self) -> None:
        if not self.product_id:
            raise ValueError("a cross-sell card needs the id of the product it shows")

    def for_template(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "title": self.title,
            "url": self.url,
            "image_url": self.image_url,
            "price": self.price,
            "left": self.stock_left,
        }


@dataclass(frozen=True)
class Enrichment:
    """What the enrichment steps chose for one email; empty until they run."""

    likely_questions: tuple[LikelyQuestion, ...] = ()
    cross_sell: tuple[CrossSellItem, ...] = ()


NO_ENRICHMENT = Enrichment()


@dataclass(frozen=True)
class Choice:
    """One chosen item in the record: its id and why it was chosen."""

    id: str
    why: str = ""
    score: float | None = None

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "why": self.why}
        if self.score is not None:
            record["score"] = round(self.score, 4)
        return record


@dataclass(frozen=True)
class EmailExplanation:
    """Why the sent email says what it says; stored with the outbox row as JSON.

    A support agent (or the store owner) reading it later sees which event caused the
    email, which FAQ answers and products were chosen and why, and where the tracking link
    points (the store's page, the carrier's, or a universal tracker).
    """

    event_source: str
    event_id: str
    event_kind: str
    tracking: str | None = None
    # The language the email was written in (its template's locale): the report counts
    # per kind and locale.
    locale: str | None = None
    # Which language the customer wanted and which the store writes (``wanted``, ``chose``,
    # ``source``, ``because``: "the store does not allow zh-TW → zh-CN"), from
    # ``emails/locale_choice.py``.
    locale_choice: dict[str, str | None] | None = None
    likely_questions: tuple[Choice, ...] = ()
    cross_sell: tuple[Choice, ...] = ()
    # Whether the email carried the one-click opt-out (and its List-Unsubscribe headers).
    cross_sell_opt_out: bool = False
    # Why it offers no products, when it offers none (opted out, the kind shows none, …).
    cross_sell_none: str | None = None
    # Whether it asked "how did we do?" (asked once per order, whichever email asks first).
    asked_rating: bool = False
    notes: tuple[str, ...] = field(default=())
    # The order's facts the FAQ answers were chosen by (``emails/faq_conditions.py``); kept
    # so ``aftercare faq learn`` can tell later which answers fitted this email.
    faq_conditions: dict[str, bool | str] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "event": {"source": self.event_source, "id": self.event_id, "kind": self.event_kind},
            "locale": self.locale,
            "locale_choice": dict(self.locale_choice) if self.locale_choice else None,
            "likely_questions": [c.as_record() for c in self.likely_questions],
            "faq_conditions": dict(self.faq_conditions),
            "tracking": self.tracking,
            "cross_sell": [c.as_record() for c in self.cross_sell],
            "cross_sell_opt_out": self.cross_sell_opt_out,
            "cross_sell_none": self.cross_sell_none,
            "asked_rating": self.asked_rating,
            "notes": list(self.notes),
        }
