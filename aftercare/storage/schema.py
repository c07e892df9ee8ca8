"""The database tables: the record of what arrived and what was sent.

Prefect's run history is not the record; these tables are. The inbox is unique on the
store's event id so a duplicate webhook is stored once; the outbox is unique on the
logical email's idempotency key so a retry never sends a second email.
"""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import zstandard
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every database.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are stored as
    naive UTC in one fixed format (string comparison then orders them correctly) and come
    back aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact decimal amounts: ``NUMERIC`` on PostgreSQL, text on SQLite (whose NUMERIC is a
    float and would turn 0.10 + 0.20 into 0.30000000000000004)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(24, 6, asdecimal=True))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).normalize() if not isinstance(value, Decimal) else value.normalize()


# Zstandard at level 1 packs a Shopify order (about 12 KB of JSON) as tightly as zlib at its
# fastest level, in half the time, and unpacks it twice as fast: the inbox writer compresses
# every delivery before the receiver may answer, and spent a quarter of its time in zlib.
_ZSTD_LEVEL = 1
# What a Zstandard frame starts with; rows stored before it are zlib, and still read.
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CompressedBytes(TypeDecorator[bytes]):
    """Raw webhook bodies, compressed: a Shopify order shrinks about 5x, which halves the
    cost of storing it before the receiver may answer."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else _compressor().compress(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if value[:4] == _ZSTD_MAGIC:
            return _decompressor().decompress(value)
        return zlib.decompress(value)


class _Codecs(threading.local):
    """One Zstandard context of each kind per thread: they must not be used concurrently."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _compressor() -> zstandard.ZstdCompressor:
    return _codecs.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    return _codecs.decompressor


class InboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    DEAD = "dead"
    INVALID = "invalid"
    IGNORED = "ignored"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    # Called for by an event, but no longer true when the event was processed (a shipped
    # email for a parcel already delivered): kept with the reason, never sent.
    SKIPPED = "skipped"


class Base(DeclarativeBase):
    pass


class CustomerRow(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("source", "customer_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    # The store's customer id, or the lower-cased email for guest checkouts.
    customer_key: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The store's email-marketing consent, when it sends one: "subscribed",
    # "not_subscribed", "unsubscribed" (Shopify's email_marketing_consent.state); None: unknown.
    marketing_consent: Mapped[str | None] = mapped_column(String(20))


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(200), unique=True)
    sku: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    # None: the store does not count this product's stock (it can always be sold).
    stock: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A draft, archived or deleted product is kept (old orders name it) but never offered.
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The catalogue revision of its last change (``CatalogueRevisionRow``): a drain reloads
    # only the products changed since the revision it holds.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    # When the store last changed it, as its webhook said: an older report arriving later
    # (webhooks overtake each other) never overwrites a newer one.
    store_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ProductVariantRow(Base):
    """One variant (size, colour) of a product: a product's stock is its variants' sum.

    Shopify reports stock per inventory item and location (``inventory_levels/update``),
    so a variant keeps its inventory item's id to be found by it.
    """

    __tablename__ = "product_variants"
    __table_args__ = (UniqueConstraint("product_id", "variant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(200), index=True)
    variant_id: Mapped[str] = mapped_column(String(200))
    inventory_item_id: Mapped[str | None] = mapped_column(String(200), index=True)
    stock: Mapped[int] = mapped_column(Integer)
    # False when the store does not count this variant's stock (it can always be sold).
    tracked: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class InventoryLevelRow(Base):
    """How many of one inventory item one location holds (Shopify's inventory level)."""

    __tablename__ = "inventory_levels"
    __table_args__ = (UniqueConstraint("inventory_item_id", "location_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inventory_item_id: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[str] = mapped_column(String(200))
    available: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CatalogueRevisionRow(Base):
    """One row: the catalogue's revision, raised by every change in the changing
    transaction (its row lock orders concurrent writers, so revisions commit in order)."""

    __tablename__ = "catalogue_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


class CrossSellModelRow(Base):
    """A cross-sell model built from the order history (``flows/rebuild_cross_sell.py``).

    ``orders_through``: the highest ``orders.id`` it counted; orders after it are added by
    the drain that reads the model. ``model`` is the model's compressed JSON.
    """

    __tablename__ = "cross_sell_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)
    orders_through: Mapped[int] = mapped_column(Integer)
    baskets: Mapped[int] = mapped_column(Integer)
    model: Mapped[bytes] = mapped_column(LargeBinary)


class MarketingOptOutRow(Base):
    """A customer who asked for no product recommendations (one-click, RFC 8058).

    Keyed by a hash of the lower-cased address, not the address: the opt-out must outlive
    the customer's erasure, and the suppression list holds no one's email.
    """

    __tablename__ = "marketing_opt_outs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    opted_out_at: Mapped[datetime] = mapped_column(UtcDateTime)
    via: Mapped[str] = mapped_column(String(40))  # one-click, the link's page, the store


class CustomerActionRow(Base):
    """A customer's answer to an email: a rating, an FAQ answer's vote, a delay choice.

    One row per email, action and subject (an FAQ snippet's id, else empty): a second click
    updates its value, last time and count, never adds a row. It holds what the email
    already held and the customer's own words (``comment``), never an address, an IP or a
    user agent; the order is named by the store's id, as in the email's idempotency key.
    The ``forward*`` columns are for telling the store (``forwarded_at`` goes back to NULL
    when the answer changes, so the store hears the new one); the ``note*`` columns, kept
    apart so one failing never holds the other back, for the note on the order in the
    store's admin (``noted_at`` likewise goes back to NULL).
    """

    __tablename__ = "customer_actions"
    __table_args__ = (UniqueConstraint("email_key", "action", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The outbox row's idempotency key and kind.
    email_key: Mapped[str] = mapped_column(String(400))
    email_kind: Mapped[str] = mapped_column(String(40))
    order_source: Mapped[str | None] = mapped_column(String(40))
    order_external_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(String(2000))
    first_clicked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_clicked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    clicks: Mapped[int] = mapped_column(Integer, default=1)
    # When the customer confirmed a choice with consequences (refund, reship) on the page.
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    forward_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    forward_error: Mapped[str | None] = mapped_column(Text)
    # Not before this is a failed forward tried again (``drain/action_forwarding.py``).
    forward_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The note on the order through the store's API (``drain/order_notes.py``), same rules.
    noted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    note_error: Mapped[str | None] = mapped_column(Text)
    note_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    discounts: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    duties: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    taxes_included: Mapped[bool] = mapped_column(Boolean)
    duties_included: Mapped[bool] = mapped_column(Boolean)
    tax_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status_url: Mapped[str | None] = mapped_column(String(2000))
    note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Paid later by design (cash on delivery, bank transfer): ``Order.payment_due_later``.
    payment_due_later: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # ``Order.payment_method`` (card, paypal, bank_transfer, cod, ...), for the FAQ answers.
    payment_method: Mapped[str | None] = mapped_column(String(20))
    promised_ship_by: Mapped[date | None] = mapped_column(Date)
    promised_deliver_by: Mapped[date | None] = mapped_column(Date)
    # When the delay scan looks at the order next; indexed, so the scan reads only the
    # orders whose moment has come (``drain/delay_scan.py``).
    delay_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # Time of the newest event merged in, so an older snapshot never overwrites a newer one.
    state_as_of: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Counts the writes: a drainer renders from the state it read, outside any lock, and
    # saves only if the revision is still the one it read (else it retries the event).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    customer: Mapped[CustomerRow] = relationship(lazy="joined")
    line_items: Mapped[list[LineItemRow]] = relationship(
        cascade="all, delete-orphan", order_by="LineItemRow.position", lazy="selectin"
    )
    fulfilments: Mapped[list[FulfilmentRow]] = relationship(
        cascade="all, delete-orphan", order_by="FulfilmentRow.created_at", lazy="selectin"
    )
    refunds: Mapped[list[RefundRow]] = relationship(
        cascade="all, delete-orphan", order_by="RefundRow.created_at", lazy="selectin"
    )


class LineItemRow(Base):
    __tablename__ = "line_items"
    __table_args__ = (UniqueConstraint("order_id", "line_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    line_id: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    variant_title: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    total_discount: Mapped[Decimal] = mapped_column(Money)
    requires_shipping: Mapped[bool] = mapped_column(Boolean)
    backordered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    image_url: Mapped[str | None] = mapped_column(String(2000))


class FulfilmentRow(Base):
    __tablename__ = "fulfilments"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    carrier: Mapped[str | None] = mapped_column(String(200))
    tracking_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    tracking_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str | None] = mapped_column(String(60))
    estimated_delivery_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RefundRow(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(40))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)


class InboxEventRow(Base):
    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("source", "source_event_id"),
        Index("ix_inbox_events_claimable", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    source_event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The normalized event; empty for a delivery that could not be parsed (status invalid).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The store's own topic name and the delivery exactly as it arrived (signatures cover the
    # raw bytes), so an operator can inspect, fix and replay what the store sent.
    topic: Mapped[str | None] = mapped_column(String(100))
    raw_body: Mapped[bytes | None] = mapped_column(CompressedBytes)
    raw_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboxEmailRow(Base):
    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_claimable", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    inbox_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_events.id"))
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(400))
    message_id: Mapped[str] = mapped_column(String(400))
    # The finished MIME message: a retry sends the very bytes that were rendered.
    mime: Mapped[bytes] = mapped_column(LargeBinary)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transport: Mapped[str | None] = mapped_column(String(40))
    transport_message_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FaqRateRow(Base):
    """What the store's tickets say about one FAQ snippet after one kind of email.

    ``eligible``: emails of ``kind`` the snippet fitted; ``asked``: tickets about its topic
    that followed one of them. ``aftercare faq learn`` replaces the whole table; the
    selector smooths ``asked / eligible`` towards the snippet's prior.
    """

    __tablename__ = "faq_rates"
    __table_args__ = (UniqueConstraint("kind", "snippet_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    snippet_id: Mapped[str] = mapped_column(String(200))
    asked: Mapped[int] = mapped_column(Integer)
    eligible: Mapped[int] = mapped_column(Integer)
    learned_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DelayNoticeRow(Base):
    """A delay notice raised for one stage of one order: at most one per stage, whoever
    raises it (two scans at once, a scan and a webhook), by the unique constraint."""

    __tablename__ = "delay_notices"
    __table_args__ = (UniqueConstraint("order_id", "stage", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    # 1 for the stage's notice, 2 and up for follow-ups when its new date passed too.
    round: Mapped[int] = mapped_column(Integer, default=1)
    why: Mapped[str] = mapped_column(String(400))
    inbox_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_events.id"))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DelayCouponRow(Base):
    """A coupon code of the store's pool: given with one delay notice, never twice."""

    __tablename__ = "delay_coupons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("delay_notices.id"), index=True)
    given_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
