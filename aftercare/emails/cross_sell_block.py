"""The cross-sell block of one email: which cards, formatted for the customer, or why none.

The drain hands over what it holds for a group of emails (``CrossSellInputs``: the model,
the catalogue as it is now, what each customer bought recently, who opted out); this picks
the cards for one email by the store's policy for its kind, formats each price in the
order's currency for the customer's locale, adds the store's UTM parameters to each link
and, when the store wants it and it is true now, an "only 3 left" line. When no block is
shown the record says why (opted out, a kind that shows none, nothing fits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aftercare.catalogue import Product
from aftercare.emails.email_kind import EmailKind
from aftercare.emails.slots import CrossSellItem
from aftercare.enrichment.cross_sell.associations import AssociationModel
from aftercare.enrichment.cross_sell.recommendations import (
    Basket,
    CrossSellRules,
    Offer,
    Shelf,
    Shown,
    Source,
    recommend,
)
from aftercare.events import Customer, OrderEvent
from aftercare.order_state import OrderState
from aftercare.rendering.locale_format import format_money
from aftercare.rendering.rendered_email import RenderedEmail

# A card's title is cut here: the block must stay a small part of the email.
TITLE_CHARACTERS = 60


@dataclass(frozen=True)
class CrossSellInputs:
    """What the drain knows for a group of emails; read once per group, not per email."""

    model: AssociationModel
    catalogue: Mapping[str, Product]
    rules: CrossSellRules
    # By (source, customer key): products ordered within ``rules.recent_days``.
    recently_bought: Mapping[tuple[str, str], Collection[str]] = field(default_factory=dict)
    # Why this customer gets no recommendations (opted out, no consent), or None.
    refused: Callable[[Customer], str | None] = lambda _customer: None
    customer_key: Callable[[Customer], str] = lambda customer: str(customer.email).lower()
    # The one-click opt-out link for a recipient's address; None: the email has none.
    opt_out_link: Callable[[str], str] | None = None
    # The catalogue arranged for this model (a drain keeps one while neither changes).
    shelf: Shelf | None = None
    # Cards built for this group, by (product, source, because of, locale, kind).
    cards: dict[tuple[str, Source, str | None, str, EmailKind], CrossSellItem] = field(
        default_factory=dict, repr=False
    )


@dataclass(frozen=True)
class CrossSellBlock:
    cards: tuple[CrossSellItem, ...] = ()
    # Why there is no block (for the email's record), when there is none.
    none_because: str | None = None


def cross_sell_block(
    inputs: CrossSellInputs,
    kind: EmailKind,
    event: OrderEvent,
    state: OrderState | None,
    locale: str,
) -> CrossSellBlock:
    """The cards for one email, at most ``rules.cards``, or why it shows none."""
    rules = inputs.rules
    shown = rules.show.of(kind.value)
    if shown is Shown.NONE or rules.cards == 0:
        return CrossSellBlock(none_because=f"no cross-sell in {kind.value} emails (store policy)")
    customer = state.customer if state is not None else event.customer
    if customer is None:
        return CrossSellBlock(none_because="no customer to recommend to")
    refused = inputs.refused(customer)
    if refused is not None:
        return CrossSellBlock(none_because=refused)
    source = state.source if state is not None else event.source
    recent = inputs.recently_bought.get((source, inputs.customer_key(customer)), ())
    if state is not None:
        order = state.order
        basket = Basket(
            product_ids=[i.product_id for i in order.line_items if i.product_id],
            recently_bought=recent,
            currency=order.currency,
            dearest=max(i.unit_price for i in order.line_items),
        )
    else:
        basket = Basket(product_ids=(), recently_bought=recent)
    offers = recommend(basket, inputs.model, inputs.shelf or inputs.catalogue, rules, shown)
    if not offers:
        return CrossSellBlock(none_because="no product fits (in stock, price band, not bought)")
    return CrossSellBlock(cards=tuple(_card(offer, inputs, kind, locale) for offer in offers))


_URL = re.compile(r"https?://\S+")
# The block's heading and its opt-out line, as a customer reads them, with room to spare
# (the estimate must not fall below what the HTML shows: the test measures both).
_HEADING_CHARACTERS = 40
_OPT_OUT_LINE_CHARACTERS = 130
_CARD_SPACING_CHARACTERS = 4


def block_share(
    rendered: RenderedEmail, cards: tuple[CrossSellItem, ...], opt_out_line: bool = True
) -> float:
    """About how much of the email's visible text the cards take: what they show (title,
    price, "only 3 left") plus the block's heading and opt-out line, over the plain-text
    part without its links and line breaks (a reader sees link text, not URLs). A few
    microseconds per email; tests/test_cross_sell_emails.py checks it against the
    rendered HTML's visible text."""
    frame = _HEADING_CHARACTERS + (_OPT_OUT_LINE_CHARACTERS if opt_out_line else 0)
    shown = frame + sum(
        len(card.title)
        + len(card.price)
        + _CARD_SPACING_CHARACTERS
        + (15 if card.stock_left else 0)
        for card in cards
    )
    text = rendered.text
    if shown * 10 <= len(text):
        # Under a tenth of the raw text: under a fifth of what a reader sees unless links
        # were half the text part, which no order email comes near (the demo's: a fifth).
        return shown / len(text)
    links = sum(map(len, _URL.findall(text)))
    visible = len(text) - links - text.count("\n") - text.count("  ")
    return shown / max(visible, 1)


def _card(offer: Offer, inputs: CrossSellInputs, kind: EmailKind, locale: str) -> CrossSellItem:
    """The card for ``offer``, built once per group of emails: its product cannot change
    within a group (the catalogue is read once per group), nor the association's score."""
    key = (offer.product.product_id, offer.source, offer.because_of, locale, kind)
    card = inputs.cards.get(key)
    if card is None:
        card = inputs.cards[key] = _formatted_card(offer, inputs, kind.value, locale)
    return card


def _formatted_card(offer: Offer, inputs: CrossSellInputs, kind: str, locale: str) -> CrossSellItem:
    rules, product = inputs.rules, offer.product
    named = inputs.catalogue.get(offer.because_of or "")
    left = product.stock
    urgent = left is not None and 0 < left <= rules.urgency_below
    return CrossSellItem(
        product_id=product.product_id,
        title=_short(product.title),
        url=with_utm(product.url, rules.utm, kind),
        price=format_money(Decimal(product.price), product.currency, locale),
        image_url=product.image_url,
        why=offer.why(named.title if named is not None else None),
        score=offer.score if offer.score else None,
        stock_left=left if urgent else None,
    )


def _short(title: str) -> str:
    if len(title) <= TITLE_CHARACTERS:
        return title
    return title[: TITLE_CHARACTERS - 1].rstrip() + "…"


def with_utm(url: str, utm: Mapping[str, str], kind: str) -> str:
    """``url`` with the store's UTM parameters (``{kind}`` filled in); the link's own
    parameters are kept, and the store's win over a link's own ``utm_*``."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in utm]
    query += [(k, v.replace("{kind}", kind)) for k, v in utm.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
