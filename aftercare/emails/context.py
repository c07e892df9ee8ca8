"""What a template may show for one email: the shared facts, the kind's own, the slots.

Every email's context has the same keys; a key that does not apply to an email kind is
``None`` (or an empty list), so shared partials can test it under ``StrictUndefined``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.emails.facts import (
    Reader,
    order_facts,
    promise_facts,
    rating_links,
    required,
    shipping_times,
    store_facts,
)
from aftercare.emails.kinds import SPECS
from aftercare.emails.locale_choice import LocaleChoice, choose_locale
from aftercare.emails.slots import NO_ENRICHMENT, Enrichment
from aftercare.errors import OrderNotYetKnownError
from aftercare.events import Customer, OrderEvent
from aftercare.order_state import OrderState
from aftercare.rendering.locale_format import (
    FALLBACK_LANGUAGE,
    babel_locale,
    email_locale,
    language_tag,
    text_direction,
)
from aftercare.settings import StoreFacts


def build_context(
    kind: EmailKind,
    event: OrderEvent,
    state: OrderState | None,
    store: StoreFacts,
    now: datetime,
    *,
    template_locales: Collection[str] = (FALLBACK_LANGUAGE,),
    enrichment: Enrichment = NO_ENRICHMENT,
    notes: list[str] | None = None,
    locale_choice: LocaleChoice | None = None,
) -> dict[str, Any]:
    """The template context for a ``kind`` email about ``event``, sent at ``now``.

    ``state`` is the order as Aftercare knows it after merging ``event``; it is ``None``
    only for emails about a customer alone (welcome). ``template_locales`` are the
    translations the templates exist in (``EmailRenderer.available_locales()``): facts are
    formatted in the language the email will be written in, so a German customer reading
    the English fallback does not get a German date inside an English sentence.
    ``enrichment`` holds what the FAQ selector and the cross-sell step chose. Raises
    ``InvalidEventError`` when the event lacks what this email must say, and
    ``OrderNotYetKnownError`` when an order email has no order state yet. No date before
    ``now`` (the customer's day) is shown: what had passed is left out, and said in
    ``notes`` (when given) for the sent email's record. ``locale_choice`` is the language
    chosen for it (``email_locale_choice``), made here when not given.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    spec = SPECS[kind]
    customer = _customer_for(spec, event, state)
    if locale_choice is None:
        locale_choice = email_locale_choice(kind, event, state, store, template_locales)
    locale = email_locale(locale_choice.formatting, template_locales)
    reader = Reader(
        # The chosen language, in the templates there are (English, formatted for the
        # customer's region, when the chosen one has none yet).
        locale=locale,
        time_zone=customer.time_zone or store.time_zone,
        calendar=(
            "buddhist"
            if store.buddhist_era_for_thai and babel_locale(locale).language == "th"
            else "gregorian"
        ),
    )
    context: dict[str, Any] = {
        "kind": kind.value,
        "locale": reader.locale,
        "lang": language_tag(reader.locale),
        "dir": text_direction(reader.locale),
        "time_zone": reader.time_zone,
        "sent_on": reader.day(reader.day_of(now)),
        "store": store_facts(store, reader, kind.value),
        "customer": {"first_name": customer.first_name or None},
        "shipping_times": shipping_times(store, reader),
        "order": None,
        "promise": None,
        "shipment": None,
        "tracking": None,
        "delay": None,
        "refund": None,
        "delivery": None,
        "rating": None,
        "likely_questions": [q.for_template() for q in enrichment.likely_questions],
        "cross_sell": [item.for_template() for item in enrichment.cross_sell],
        # Set by compose when the email offers products (the one-click opt-out).
        "cross_sell_opt_out_url": None,
        # Set by compose with action links on: per FAQ answer, {"yes": url, "no": url}.
        "faq_feedback": None,
    }
    notes = notes if notes is not None else []
    if spec.about_an_order:
        assert state is not None  # _customer_for raised otherwise
        today = reader.day_of(now)
        context["order"] = order_facts(state.order, store, reader, kind.value)
        context["rating"] = rating_links(store, state.order)
        context["promise"] = promise_facts(state, store, reader, now, today, notes)
        context.update(spec.facts(KindFacts(event, state, store, reader, today, notes)))
    return context


def email_locale_choice(
    kind: EmailKind,
    event: OrderEvent,
    state: OrderState | None,
    store: StoreFacts,
    template_locales: Collection[str] = (FALLBACK_LANGUAGE,),
) -> LocaleChoice:
    """The language a ``kind`` email is written in (``emails/locale_choice.py``): among the
    store's offered locales, or every template language when it lists none."""
    customer = _customer_for(SPECS[kind], event, state)
    if state is not None:
        address = state.order.shipping_address or state.order.billing_address
        country = address.country_code if address is not None else None
    else:
        country = customer.locality.country_code if customer.locality is not None else None
    return choose_locale(
        customer.locale,
        country,
        offered=store.offered_locales if store.offered_locales is not None else template_locales,
        default=store.default_locale,
        allow_traditional_to_simplified=store.allow_traditional_to_simplified,
    )


def _customer_for(spec: EmailKindSpec, event: OrderEvent, state: OrderState | None) -> Customer:
    if not spec.about_an_order:
        return required(event.customer, "customer", spec.kind)
    if state is None:
        raise OrderNotYetKnownError(
            f"a {spec.kind.value} email for order {event.order_id} needs the order's state,"
            " which Aftercare does not hold yet"
        )
    return state.customer
