"""One planned email, whole: its context, its rendered parts, its MIME bytes and its record.

This is the recipe the drain follows for every email — context, render, MIME — kept in one
function so it reads top to bottom; storing the result is the drain's business.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import formataddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from aftercare.action_links import ActionLinks
from aftercare.emails.context import build_context, email_locale_choice
from aftercare.emails.cross_sell_block import CrossSellInputs, block_share, cross_sell_block
from aftercare.emails.email_kind import EmailKind, PlannedEmail
from aftercare.emails.faq_conditions import order_conditions
from aftercare.emails.kinds import SPECS
from aftercare.emails.slots import (
    NO_ENRICHMENT,
    Choice,
    EmailExplanation,
    Enrichment,
    LikelyQuestion,
)
from aftercare.enrichment.faq.selection import ChosenAnswer, FaqSelector
from aftercare.events import OrderEvent
from aftercare.opt_out import list_unsubscribe_headers
from aftercare.order_state import OrderState
from aftercare.rendering.mime import build_mime, new_message_id
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import StoreFacts


@dataclass(frozen=True)
class ComposedEmail:
    """An email ready for the outbox: envelope, subject, bytes, and why it says what it says.

    ``recipient`` and ``mime`` stay out of ``repr``: they hold the customer's address.
    """

    planned: PlannedEmail
    recipient: str
    sender: str
    subject: str
    message_id: str
    mime: bytes
    explanation: EmailExplanation

    def __repr__(self) -> str:
        return (
            f"ComposedEmail(kind={self.planned.kind.value!r}, key={self.planned.idempotency_key!r})"
        )


def compose_email(
    planned: PlannedEmail,
    event: OrderEvent,
    state: OrderState | None,
    store: StoreFacts,
    renderer: EmailRenderer,
    now: datetime,
    enrichment: Enrichment = NO_ENRICHMENT,
    faq: FaqSelector | None = None,
    orders_before: int | None = None,
    cross_sell: CrossSellInputs | None = None,
    actions: ActionLinks | None = None,
    rating_asked_before: bool = False,
) -> ComposedEmail:
    """Build the email ``planned`` names, for ``event`` and the order ``state`` after it.

    With ``faq``, the email carries the answers to the questions this customer is most
    likely to ask next, chosen by the order's facts (``emails/faq_conditions.py``);
    ``orders_before`` (the customer's orders placed before this one) tells a first order.
    With ``actions``, the questions it asks (the rating, "did this answer your question?"
    under each FAQ answer, the delay email's options) are signed links to Aftercare's own
    pages (``action_links.py``), which record the answer; without, the store's pages.
    With ``cross_sell``, it offers products by the store's policy for its kind
    (``emails/cross_sell_block.py``), in stock as the catalogue stands now, with a
    one-click opt-out; the block never takes more than a fifth of the email's text.
    """
    left_out: list[str] = []
    template_locales = renderer.available_locales()
    chosen_locale = email_locale_choice(planned.kind, event, state, store, template_locales)
    context = build_context(
        planned.kind,
        event,
        state,
        store,
        now,
        template_locales=template_locales,
        enrichment=enrichment,
        notes=left_out,
        locale_choice=chosen_locale,
    )
    faq_conditions: dict[str, bool | str] = {}
    if faq is not None and not enrichment.likely_questions:
        faq_conditions = order_conditions(state, store, context, orders_before)
        enrichment = replace(
            enrichment,
            likely_questions=choose_likely_questions(
                faq,
                planned.kind,
                context,
                faq_conditions,
                store,
                now,
                renderer.pinned_questions(planned.kind, context["locale"]),
            ),
        )
        context["likely_questions"] = [q.for_template() for q in enrichment.likely_questions]
    asks_rating = planned.kind.value in RATING_KINDS and bool(context.get("rating"))
    if asks_rating and rating_asked_before:
        # "How did we do?" once per order: an earlier email of it (a refund, a delivery)
        # asked already.
        context["rating"], asks_rating = None, False
        left_out.append("rating left out: an earlier email of the order asked")
    if actions is not None:
        sign_questions(actions, planned, context, enrichment.likely_questions)
    recipient = _recipient_of(event, state)
    no_cross_sell: str | None = None
    if cross_sell is not None and not enrichment.cross_sell:
        block = cross_sell_block(cross_sell, planned.kind, event, state, context["locale"])
        no_cross_sell = block.none_because
        enrichment = replace(enrichment, cross_sell=block.cards)
    opt_out = (
        cross_sell.opt_out_link(recipient)
        if cross_sell is not None and cross_sell.opt_out_link and enrichment.cross_sell
        else None
    )
    context["cross_sell"] = [item.for_template() for item in enrichment.cross_sell]
    context["cross_sell_opt_out_url"] = opt_out
    # The context picked the template language (customer's locale, else the store default,
    # else English) and formats dates and money for the customer's region.
    rendered = renderer.render(planned.kind, context, context["locale"])
    while (
        enrichment.cross_sell
        and block_share(rendered, enrichment.cross_sell, opt_out is not None) > MAX_BLOCK_SHARE
    ):
        # A short email (a welcome) with long product names: fewer cards, never a sales email.
        enrichment = replace(enrichment, cross_sell=enrichment.cross_sell[:-1])
        context["cross_sell"] = [item.for_template() for item in enrichment.cross_sell]
        if not enrichment.cross_sell:
            context["cross_sell_opt_out_url"] = opt_out = None
            no_cross_sell = "the block would have been more than a fifth of the email"
        rendered = renderer.render(planned.kind, context, context["locale"])
    extra_headers = {"X-Aftercare-Kind": planned.kind.value}
    if opt_out is not None:
        # RFC 8058: mail clients show an "unsubscribe" button that POSTs to this link.
        extra_headers.update(list_unsubscribe_headers(opt_out))
    domain = str(store.from_address).rsplit("@", 1)[1]
    message_id = new_message_id(planned.idempotency_key, domain)
    mime = build_mime(
        rendered,
        sender=formataddr((store.name, str(store.from_address))),
        recipient=recipient,
        reply_to=str(store.reply_to) if store.reply_to else None,
        message_id=message_id,
        headers=extra_headers,
    )
    explanation = EmailExplanation(
        event_source=event.source,
        event_id=event.source_event_id,
        event_kind=event.kind.value,
        tracking=(context["tracking"] or {}).get("source"),
        locale=context["locale"],
        locale_choice=chosen_locale.as_record(),
        likely_questions=tuple(
            Choice(q.snippet_id, q.why, q.score) for q in enrichment.likely_questions
        ),
        faq_conditions=faq_conditions,
        cross_sell=tuple(Choice(p.product_id, p.why, p.score) for p in enrichment.cross_sell),
        cross_sell_opt_out=opt_out is not None,
        cross_sell_none=no_cross_sell if not enrichment.cross_sell else None,
        asked_rating=asks_rating,
        notes=(*_lateness(event, now), *left_out),
    )
    return ComposedEmail(
        planned=planned,
        recipient=recipient,
        sender=str(store.from_address),
        subject=rendered.subject,
        message_id=message_id,
        mime=mime,
        explanation=explanation,
    )


# The kinds whose templates ask for a rating (once per order: a refund, a delivery).
RATING_KINDS = frozenset({"order_refunded", "order_delivered"})
# The delay email's options, as its template names them, and the answers they record.
_DELAY_CHOICES = {
    "keep_waiting": "wait",
    "refund": "refund",
    "reship_faster": "reship",
    "ship_ready_now": "ship_ready",
}


def sign_questions(
    actions: ActionLinks,
    planned: PlannedEmail,
    context: dict,
    questions: tuple[LikelyQuestion, ...],
) -> None:
    """Each question the email asks becomes a signed link naming this email and answer."""
    key = planned.idempotency_key
    context["faq_feedback"] = {
        q.snippet_id: {
            answer: actions.url(key, "faq_helpful", answer, subject=q.snippet_id)
            for answer in ("yes", "no")
        }
        for q in questions
    }
    if planned.kind.value in RATING_KINDS and context.get("rating"):
        context["rating"] = {
            score: actions.url(key, "rating", score) for score in ("good", "okay", "bad")
        }
    delay = context.get("delay")
    if delay and delay.get("options"):
        options = dict(delay["options"])
        for option, choice in _DELAY_CHOICES.items():
            if options.get(option):
                options[option] = actions.url(key, "delay_choice", choice)
        context["delay"] = {**delay, "options": options}


def choose_likely_questions(
    faq: FaqSelector,
    kind: EmailKind,
    context: dict,
    conditions: dict[str, bool | str],
    store: StoreFacts,
    now: datetime,
    pinned: tuple[str, ...] = (),
) -> tuple[LikelyQuestion, ...]:
    """The FAQ answers for this email, on the customer's day (holiday cut-offs)."""
    today = now.astimezone(ZoneInfo(context["time_zone"])).date()
    faq_page = str(store.faq_url)
    return tuple(
        [
            _likely_question(chosen, faq_page)
            for chosen in faq.choose(
                kind.value, context["locale"], conditions, today, pinned=pinned
            )
        ]
    )


@lru_cache(maxsize=4096)
def _likely_question(chosen: ChosenAnswer, faq_page: str) -> LikelyQuestion:
    """One chosen answer as the email shows it; the same answer is built once."""
    return LikelyQuestion(
        snippet_id=chosen.snippet.id,
        question=chosen.snippet.question,
        answer_html=chosen.snippet.answer_html,
        answer_text=chosen.snippet.answer_text,
        why=chosen.why,
        score=chosen.score,
        url=f"{faq_page}#{chosen.snippet.anchor}",
    )


def stale_reason(
    planned: PlannedEmail, event: OrderEvent, state: OrderState | None, now: datetime
) -> str | None:
    """Why the email ``planned`` should no longer go out, given the order as it is now."""
    return SPECS[planned.kind].stale_reason(event, state, now)


def skipped_explanation(event: OrderEvent, reason: str) -> EmailExplanation:
    return EmailExplanation(
        event_source=event.source,
        event_id=event.source_event_id,
        event_kind=event.kind.value,
        notes=(f"not sent: {reason}",),
    )


# The cross-sell block's most of the email's visible text (issue 11: a small part of it).
MAX_BLOCK_SHARE = 0.2

# Past this, the record says how late the email went out (Shopify retries for four hours).
LATE_AFTER = timedelta(hours=1)


def _lateness(event: OrderEvent, now: datetime) -> tuple[str, ...]:
    late = now - event.occurred_at
    if late <= LATE_AFTER:
        return ()
    return (f"sent {late.total_seconds() / 3600:.1f} hours after the event",)


def _recipient_of(event: OrderEvent, state: OrderState | None) -> str:
    customer = state.customer if state is not None else event.customer
    assert customer is not None  # the event model guarantees it for customer events
    return str(customer.email)
