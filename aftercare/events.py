"""The one normalized order event every store adapter produces.

Nothing past a store adapter knows which store spoke: Shopify, WooCommerce, the generic
JSON format, the delay scan and the demo all hand the pipeline an ``OrderEvent``. Money is
``Decimal`` in the order's ISO 4217 currency (floats lose cents), timestamps are
timezone-aware (a naive time from a webhook is ambiguous by up to a day).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache, lru_cache
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)


class EventKind(StrEnum):
    """What happened. New kinds are added here; the pipeline maps each to its emails."""

    CUSTOMER_CREATED = "customer_created"
    ORDER_PLACED = "order_placed"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELAYED = "order_delayed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_CANCELLED = "order_cancelled"
    # State only, no email of its own: a snapshot of an order that is not (or no longer) one
    # to confirm (an order still waiting for its card payment, a WooCommerce update).
    ORDER_UPDATED = "order_updated"
    # A carrier's progress report on one parcel (in transit, delayed, delivered, ...).
    SHIPMENT_UPDATED = "shipment_updated"


# Looked up for every amount of every event: built once, not per call.
@cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@cache
def _territories() -> frozenset[str]:
    return frozenset(Locale("en").territories)


def _known_currency(code: str) -> str:
    code = code.upper()
    if code not in _currencies():
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (for example EUR, USD)")
    return code


@lru_cache(maxsize=1024)
def _known_locale(tag: str) -> str:
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(
            f"{tag!r} is not a locale Aftercare knows (for example en, de_AT)"
        ) from exc
    return tag.replace("-", "_")


@lru_cache(maxsize=1024)
def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone (for example Europe/Berlin)") from exc
    return name


# CLDR lists a few groupings that are not countries a parcel can go to.
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO"}


def _country_code(code: str) -> str:
    code = code.upper()
    if len(code) != 2 or code in _NOT_COUNTRIES or code not in _territories():
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (for example DE)")
    return code


CurrencyCode = Annotated[str, AfterValidator(_known_currency)]
LocaleTag = Annotated[str, AfterValidator(_known_locale)]
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]
CountryCode = Annotated[str, AfterValidator(_country_code)]
Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False, max_digits=18, decimal_places=6)]
ShortText = Annotated[str, Field(min_length=1, max_length=500)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# Whether the customer agreed to email marketing, as the store records it (Shopify's
# ``email_marketing_consent.state``, mapped in ``stores/shopify.py``). It decides whether
# an email may carry product recommendations (``opt_out.may_show_cross_sell``); the
# transactional content never depends on it.
MarketingConsent = Literal["subscribed", "not_subscribed", "unsubscribed"]


def merged_consent(
    known: MarketingConsent | None, new: MarketingConsent | None
) -> MarketingConsent | None:
    """The consent to keep when a newer event says ``new`` about a customer with ``known``.

    An event that says nothing (a store that sends no consent, a payload without the
    customer object) keeps what is known. A customer who unsubscribed stays unsubscribed
    against a mere "not subscribed": Shopify's deprecated ``accepts_marketing`` and an
    order's ``buyer_accepts_marketing`` are ``false`` for both, and an objection must not be
    lost to a box left unticked at the next checkout; subscribing again does replace it.
    """
    if new is None:
        return known
    if known == "unsubscribed" and new == "not_subscribed":
        return known
    return new


class Locality(_Model):
    """Where someone lives, no closer than the city: enough for a language and a time zone."""

    country_code: CountryCode
    region: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)


class Customer(_Model):
    external_id: str | None = Field(default=None, max_length=200)
    email: EmailStr
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    locale: LocaleTag | None = None
    time_zone: TimeZoneName | None = None
    # The country, region and city of the customer's own address in the store (Shopify's
    # ``default_address``, WooCommerce's shipping or billing block), when the event has one:
    # a welcome email has no order, so its language and send window come from here. Order
    # emails use the order's shipping address instead. Not stored with the customer.
    locality: Locality | None = None
    # None: the store did not say (WooCommerce never does).
    marketing_consent: MarketingConsent | None = None

    @property
    def display_name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


class Address(_Model):
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    line1: ShortText
    line2: str | None = Field(default=None, max_length=500)
    city: ShortText
    region: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=40)
    country_code: CountryCode
    phone: str | None = Field(default=None, max_length=60)


class LineItem(_Model):
    line_id: ShortText
    product_id: str | None = None
    sku: str | None = None
    title: ShortText
    variant_title: str | None = Field(default=None, max_length=500)
    quantity: int = Field(gt=0)
    unit_price: Amount
    total_discount: Amount = Decimal(0)
    requires_shipping: bool = True
    # Ordered before it is in stock (a pre-order, or WooCommerce's "Backordered" meta).
    backordered: bool = False
    image_url: str | None = None

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity - self.total_discount


class TaxLine(_Model):
    title: ShortText
    rate: Decimal | None = Field(default=None, ge=0, le=1)
    amount: Amount


class Costs(_Model):
    """Every cost the customer pays, so the confirmation hides none of them."""

    subtotal: Amount
    discounts: Amount = Decimal(0)
    shipping: Amount = Decimal(0)
    taxes: Amount = Decimal(0)
    duties: Amount = Decimal(0)
    total: Amount
    taxes_included: bool = False
    duties_included: bool = False
    tax_lines: tuple[TaxLine, ...] = ()
    discount_codes: tuple[str, ...] = ()


class ShipmentItem(_Model):
    line_id: ShortText
    quantity: int = Field(gt=0)


class ShipmentStatus(StrEnum):
    """Where a parcel is, in the words Shopify's fulfillment events use."""

    LABEL_PRINTED = "label_printed"
    CONFIRMED = "confirmed"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    FAILURE = "failure"


class ShipmentUpdate(_Model):
    """A carrier's report on one parcel: moves the parcel's status and maybe its estimate."""

    fulfilment_id: ShortText
    status: ShipmentStatus
    happened_at: AwareDatetime
    estimated_delivery_at: AwareDatetime | None = None
    message: str | None = Field(default=None, max_length=1000)


class Fulfilment(_Model):
    """One parcel: a shipped email is about exactly one of these (partial shipments)."""

    external_id: ShortText
    created_at: AwareDatetime
    carrier: str | None = Field(default=None, max_length=200)
    tracking_numbers: tuple[Annotated[str, Field(max_length=200)], ...] = ()
    tracking_urls: tuple[Annotated[str, Field(max_length=2000)], ...] = ()
    items: tuple[ShipmentItem, ...] = ()
    status: str | None = None
    estimated_delivery_at: AwareDatetime | None = None
    # When ``status`` was last reported, so an older carrier report never overwrites a newer.
    status_at: AwareDatetime | None = None


class PaymentMethod(StrEnum):
    """How the customer pays, in the words of the FAQ conditions (``faq_snippets/README.md``);
    the store adapters map their gateway names onto these."""

    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    COD = "cod"
    INVOICE = "invoice"
    CHEQUE = "cheque"
    GIFT_CARD = "gift_card"
    OTHER = "other"


class PaymentDetails(_Model):
    """The card or account a payment went through, as the store reported it: never more
    than a card's brand and last four digits (PCI DSS allows no more to be shown)."""

    title: str | None = Field(default=None, max_length=200)
    card_brand: str | None = Field(default=None, max_length=60)
    card_last_four: str | None = Field(default=None, pattern=r"^[0-9]{4}$")


class RefundMethod(StrEnum):
    ORIGINAL_PAYMENT = "original_payment"
    CARD = "card"
    STORE_CREDIT = "store_credit"
    GIFT_CARD = "gift_card"
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    OTHER = "other"


class RefundItem(_Model):
    line_id: ShortText
    quantity: int = Field(gt=0)
    amount: Amount


class Refund(_Model):
    external_id: ShortText
    created_at: AwareDatetime
    amount: Amount
    currency: CurrencyCode
    method: RefundMethod = RefundMethod.ORIGINAL_PAYMENT
    # The card the money went back to, when the store's refund transaction names it
    # (Shopify's ``transactions[].payment_details``); else the order's payment says.
    payment: PaymentDetails | None = None
    items: tuple[RefundItem, ...] = ()
    reason: str | None = Field(default=None, max_length=2000)


class Order(_Model):
    """A snapshot of an order as the store sent it (Shopify and WooCommerce send it whole)."""

    external_id: ShortText
    number: ShortText
    placed_at: AwareDatetime
    currency: CurrencyCode
    line_items: tuple[LineItem, ...] = Field(min_length=1)
    costs: Costs
    shipping_address: Address | None = None
    billing_address: Address | None = None
    status_url: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=5000)
    cancelled_at: AwareDatetime | None = None
    # The customer pays after ordering, by the way they chose (cash on delivery, a bank
    # transfer, a cheque, an invoice): nothing is paid yet, and it is not a failed payment.
    payment_due_later: bool = False
    # How the customer paid or will pay; ``None`` when the store did not say.
    payment_method: PaymentMethod | None = None
    # What the confirmation prints beside it, as the store reported it: the card's brand
    # and last four digits (Shopify's ``payment_details``), and the store's own name for
    # the method (WooCommerce's ``payment_method_title``), shown when it is none of ours.
    payment: PaymentDetails | None = None
    # The shipping method the customer chose, in the store's words (Shopify's
    # ``shipping_lines[].title``, WooCommerce's ``shipping_lines[].method_title``).
    shipping_method: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _lines_are_unique(self) -> Self:
        ids = [item.line_id for item in self.line_items]
        if len(ids) != len(set(ids)):
            raise ValueError("line_items: two line items share a line_id")
        return self


class DelayNotice(_Model):
    """Why an order is late and what the store will do, in the store's words."""

    reason: ShortText
    new_estimated_delivery: date
    what_we_will_do: ShortText
    coupon_code: str | None = Field(default=None, max_length=100)
    coupon_description: str | None = Field(default=None, max_length=300)


class PrivacyRequestKind(StrEnum):
    """What a store asks about personal data (Shopify's mandatory compliance webhooks)."""

    DATA_REQUEST = "data_request"  # report what is stored about a customer
    CUSTOMER_REDACT = "customer_redact"  # erase one customer's personal data
    SHOP_REDACT = "shop_redact"  # erase every customer's personal data of the shop


class PrivacyRequest(_Model):
    """Whose personal data a store asks about: one customer (by id or email, and the orders
    to cover), or the whole shop. Not an order event: it sends no email and changes no
    order state; ``drain/privacy_requests.py`` answers it."""

    kind: PrivacyRequestKind
    source: Annotated[str, Field(min_length=1, max_length=40)]
    shop_domain: str | None = Field(default=None, max_length=300)
    customer_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=60)
    order_ids: tuple[Annotated[str, Field(max_length=200)], ...] = ()
    # The store's id of a data request, to name the report after.
    request_id: str | None = Field(default=None, max_length=200)


# What each kind of event must carry (null counts as missing). ``OrderEvent`` enforces it;
# the generic webhook's published schema states it (``stores/generic.py``).
PARTS_BY_KIND: dict[EventKind, tuple[str, ...]] = {
    EventKind.CUSTOMER_CREATED: ("customer",),
    EventKind.ORDER_PLACED: ("order", "customer"),
    EventKind.ORDER_SHIPPED: ("order_id", "fulfilment"),
    EventKind.ORDER_DELAYED: ("order_id", "delay"),
    EventKind.ORDER_REFUNDED: ("order_id", "refund"),
    EventKind.ORDER_CANCELLED: ("order_id",),
    EventKind.ORDER_UPDATED: ("order",),
    EventKind.SHIPMENT_UPDATED: ("order_id", "shipment_update"),
}


class OrderEvent(_Model):
    """One thing that happened to a customer or an order, whatever store it came from.

    ``order`` is the full snapshot when the store sent one; events that only carry part of
    an order (Shopify's ``fulfillments/create`` has no totals) name it by ``order_id`` and
    the pipeline uses the order state it already holds.
    """

    kind: EventKind
    source: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")]
    source_event_id: Annotated[str, Field(min_length=1, max_length=200)]
    occurred_at: AwareDatetime
    customer: Customer | None = None
    order_id: str | None = Field(default=None, min_length=1, max_length=200)
    order: Order | None = None
    fulfilment: Fulfilment | None = None
    refund: Refund | None = None
    delay: DelayNotice | None = None
    shipment_update: ShipmentUpdate | None = None

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self) -> Self:
        missing = [name for name in PARTS_BY_KIND[self.kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} event needs {', '.join(missing)}")
        if self.order is not None:
            if self.order_id is None:
                object.__setattr__(self, "order_id", self.order.external_id)
            elif self.order_id != self.order.external_id:
                raise ValueError("order_id differs from order.external_id")
        if (
            self.refund is not None
            and self.order is not None
            and self.refund.currency != self.order.currency
        ):
            raise ValueError("refund.currency differs from the order's currency")
        return self

    @property
    def dedupe_key(self) -> tuple[str, str]:
        return (self.source, self.source_event_id)
