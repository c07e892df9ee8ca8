"""One typed settings object, read once from the environment and ``.env``.

Every variable is prefixed ``AFTERCARE_``; nested store facts use a double underscore,
e.g. ``AFTERCARE_STORE__NAME="Fern & Field"``. The defaults run the embedded setup: an
SQLite file and a folder of ``.eml`` files, no AWS account needed.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from aftercare.enrichment.cross_sell.recommendations import CrossSellRules
from aftercare.enrichment.delay_stages import DelayRules
from aftercare.enrichment.promises import DeliveryPromiseRules
from aftercare.enrichment.send_window import SendWindow
from aftercare.enrichment.tracking.links import TrackingLinkSettings
from aftercare.events import CountryCode, CurrencyCode, LocaleTag, TimeZoneName

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# Who may be shown product recommendations (``opt_out.may_show_cross_sell``). Nobody who
# unsubscribed or clicked the opt-out link, in either. "soft_opt_in": every other customer
# of an order (EU ePrivacy Directive art. 13(2): similar products to existing customers,
# with an opt-out in every email); "explicit": only customers the store knows subscribed.
MarketingConsentPolicy = Literal["soft_opt_in", "explicit"]

# The range ``StoreFacts.max_item_lines`` may take: at least one line shown, and no more
# than keeps the largest email of any order under the template check's 90 KB in every
# language (at 30 lines the Thai confirmation of the 200-line sample is about 76 KB as sent).
MIN_ITEM_LINES = 1
MAX_ITEM_LINES = 30


class TransportName(StrEnum):
    OUTBOX = "outbox"
    SES = "ses"


class StoreTexts(BaseModel):
    """The store's own sentences in one language, for the emails written in it.

    The templates' words come from their catalogues; these come from the store, so a
    Russian email does not quote an English return policy. A sentence not given here falls
    back to the store's default (English) one. Each is written to stand where the English
    one stands: ``ships_from`` after "ships from" / "leaves" in the translated sentence.
    """

    model_config = ConfigDict(extra="forbid")

    return_policy_summary: str | None = None
    support_reply_time: str | None = None
    ships_from: str | None = None


# The demo store's sentences in its other languages, written to stand where the
# translated templates put them (Russian: after a dash, in the nominative).
_DEMO_STORE_TEXTS: dict[str, StoreTexts] = {
    "ru": StoreTexts(
        return_policy_summary=(
            "Бесплатный возврат в течение 30 дней после доставки, если вещь не носили"
            " и бирки на месте."
        ),
        support_reply_time="в течение 24 часов, с понедельника по пятницу",
        ships_from="наша мастерская в Лейпциге, Германия",
    ),
    "zh-CN": StoreTexts(
        return_policy_summary="收货后30天内可免费退货，商品需未穿着、吊牌完好。",
        support_reply_time="周一至周五，24小时内",
        ships_from="我们位于德国莱比锡的工作室",
    ),
    "th": StoreTexts(
        return_policy_summary=("คืนสินค้าได้ฟรีภายใน 30 วันหลังได้รับสินค้า หากยังไม่ได้สวมใส่และป้ายยังอยู่ครบ"),
        support_reply_time="ภายใน 24 ชั่วโมง วันจันทร์ถึงวันศุกร์",
        ships_from="เวิร์กช็อปของเราที่เมืองไลพ์ซิก ประเทศเยอรมนี",
    ),
}


class StoreFacts(BaseModel):
    """What every email promises; the store owner's words, not ours."""

    name: str = "Fern & Field"
    from_address: EmailStr = "hello@fernandfield.example"
    reply_to: EmailStr | None = "support@fernandfield.example"
    website_url: HttpUrl = HttpUrl("https://fernandfield.example")
    support_url: HttpUrl = HttpUrl("https://fernandfield.example/pages/contact")
    faq_url: HttpUrl = HttpUrl("https://fernandfield.example/pages/faq")
    return_policy_url: HttpUrl = HttpUrl("https://fernandfield.example/policies/refund-policy")
    return_policy_summary: str = "Free returns within 30 days of delivery, unworn and with tags."
    support_reply_time: str = "within 24 hours, Monday to Friday"
    ships_from: str = "our workshop in Leipzig, Germany"
    # The sentences above in other languages, by locale, e.g.
    # ``AFTERCARE_STORE__TEXTS='{"ru": {"ships_from": "нашей мастерской в Лейпциге"}}'``.
    texts: dict[LocaleTag, StoreTexts] = Field(default_factory=lambda: dict(_DEMO_STORE_TEXTS))
    ships_from_country: CountryCode = "DE"
    time_zone: TimeZoneName = "Europe/Berlin"
    processing_days_min: int = Field(default=1, ge=0, le=60)
    processing_days_max: int = Field(default=3, ge=0, le=60)
    domestic_transit_days: tuple[int, int] = (1, 3)
    international_transit_days: tuple[int, int] = (4, 10)
    refund_statement_days: tuple[int, int] = (5, 10)
    # Order cut-off hour and transit days by country or zone (see DeliveryPromiseRules).
    delivery_promise: DeliveryPromiseRules = Field(default_factory=DeliveryPromiseRules)
    # The store's own tracking page and the universal tracker for unknown carriers.
    tracking_links: TrackingLinkSettings = Field(default_factory=TrackingLinkSettings)
    # When a carrier reports a delay without a new date, the delay email promises this many
    # business days after the original window, and says what the store will do.
    carrier_delay_extra_days: int = Field(default=3, ge=1, le=30)
    carrier_delay_promise: str = (
        "We are chasing the carrier today and will watch your parcel until it arrives. If it "
        "has not reached you by the new date, we will send a replacement or refund you, "
        "whichever you prefer."
    )
    default_locale: LocaleTag = "en"
    # The languages the store writes to customers in (``emails/locale_choice.py``): the
    # customer's own when offered, else their shipping country's main language when
    # offered, else ``default_locale``. Unset: every language the templates are written in
    # (the demo store: en, zh-CN, ru and th), e.g. ``AFTERCARE_STORE__OFFERED_LOCALES=
    # '["en", "ru"]'`` for a store that answers only in English and Russian.
    offered_locales: tuple[LocaleTag, ...] | None = None
    # Whether a customer who reads Traditional Chinese (zh-TW, zh-HK, zh-Hant) is written
    # to in Simplified (zh-CN) when the store offers no Traditional: readable, but in
    # Taiwan and Hong Kong a store's choice to make, not Aftercare's. Off: the store's
    # default language.
    allow_traditional_to_simplified: bool = False
    # Dates for Thai readers in the Buddhist era (4 ธันวาคม พ.ศ. 2569), as Thai documents
    # and most Thai shops write them; off: the Common Era (ค.ศ. 2026), as CLDR formats it.
    buddhist_era_for_thai: bool = False
    default_currency: CurrencyCode = "EUR"
    logo_url: HttpUrl | None = HttpUrl("https://fernandfield.example/logo.png")
    brand_colour: str = Field(default="#2f5d50", pattern=r"^#[0-9a-fA-F]{6}$")
    # Shown in every email's footer, in this order: {"Instagram": "https://…"}.
    social_links: dict[str, HttpUrl] = Field(default_factory=dict)
    # Who the emails are from, in every footer: the store's registered name and postal
    # address (EU law asks commercial communication to name its sender: Directive
    # 2000/31/EC, articles 5 and 6; Germany's Impressum, DDG section 5). None: left out.
    legal_name: str | None = Field(default="Fern & Field GmbH", max_length=200)
    postal_address: str | None = Field(
        default="Karl-Heine-Straße 28, 04229 Leipzig, Germany", max_length=300
    )
    # UTM parameters on the store's own links (website, help pages, the order's page):
    # utm_source=aftercare, utm_medium=email, utm_campaign=<email kind>, so the store's
    # analytics count the visits each email brings (``AFTERCARE_STORE__UTM=true``). Never on
    # carrier tracking pages or one-click answers.
    utm: bool = False
    # Where the one-click satisfaction rating lands (?order=…&rating=good|okay|bad);
    # None: the support page receives it.
    rating_url: HttpUrl | None = None
    # The store's review page (Trustpilot, Google, its own): the delivered email that
    # asks "how did we do?" also invites a review there; None: no review line.
    review_url: HttpUrl | None = None
    # How many item lines an email lists before it sums up the rest ("and 170 more items")
    # and links to the whole order: Gmail clips an email above about 102 KB and hides
    # everything after the cut, FAQ answers and footer included (hteumeuleu/email-bugs#41).
    # A line costs about 1.35 KB of HTML as sent; at 20 the largest email of the 200-line
    # sample (the confirmation, with FAQ answers and cards) is about 43 KB in English, 56 KB
    # in Russian, 49 KB in Chinese and 63 KB in Thai, the largest language (measured as
    # sent, quoted-printable). ``AFTERCARE_STORE__MAX_ITEM_LINES``.
    max_item_lines: int = 20

    @field_validator("max_item_lines")
    @classmethod
    def _item_lines_fit_in_an_email(cls, value: int) -> int:
        if not MIN_ITEM_LINES <= value <= MAX_ITEM_LINES:
            raise ValueError(
                f"max_item_lines must be between {MIN_ITEM_LINES} and {MAX_ITEM_LINES} (got"
                f" {value}): more lines push a large order's email past Gmail's ~102 KB"
                " clipping limit, which hides the rest of the email"
            )
        return value

    @field_validator("processing_days_max")
    @classmethod
    def _max_not_below_min(cls, value: int, info) -> int:  # type: ignore[no-untyped-def]
        low = info.data.get("processing_days_min", 0)
        if value < low:
            raise ValueError("processing_days_max is below processing_days_min")
        return value


class SesOptions(BaseModel):
    region: str = "eu-west-1"
    endpoint_url: str | None = None
    configuration_set: str | None = None
    message_tags: dict[str, str] = Field(default_factory=dict)


class ShopifyOptions(BaseModel):
    # The app's client secret (Shopify admin → app → API credentials); signs every webhook.
    webhook_secret: SecretStr | None = None
    # When an order is confirmed, whichever of orders/create and orders/paid brings it (the
    # values name topics because they once did; existing configurations keep working):
    # "orders/paid" confirms an order the first time it is seen paid or authorised, or placed
    # with a payment due later by design (cash on delivery, bank deposit, money order, payment
    # terms); "orders/create" confirms unpaid orders too, the first time it sees them. A
    # cancelled or fully refunded order is never confirmed, nor any order twice.
    confirm_on: Literal["orders/create", "orders/paid"] = "orders/paid"
    # The names of the store's own manual payment methods (Settings → Payments → Manual
    # payment methods, e.g. "Pay by invoice"): their orders are confirmed when placed, like
    # Shopify's Cash on Delivery (COD), Bank Deposit and Money Order.
    manual_payment_methods: tuple[str, ...] = ()
    # Each customer's answer as a line added to the order's note in the Shopify admin
    # (``drain/order_notes.py``), through the Admin GraphQL API: the shop's handle
    # (``fern-and-field`` of fern-and-field.myshopify.com) and an Admin API access token
    # (``shpat_…``: a custom app with read_orders and write_orders). Unset: no notes.
    shop: str | None = None
    admin_token: SecretStr | None = None
    # The Admin API version: Shopify supports each for a year
    # (https://shopify.dev/docs/api/usage/versioning).
    api_version: str = Field(default="2025-07", pattern=r"^\d{4}-\d{2}$")
    # Instead of https://<shop>.myshopify.com (a proxy, or a test's local server).
    admin_api_url: HttpUrl | None = None


class WooCommerceOptions(BaseModel):
    # The secret entered when creating the webhook (WooCommerce → Settings → Advanced → Webhooks).
    webhook_secret: SecretStr | None = None
    # Each customer's answer as a private note on the order (``drain/order_notes.py``),
    # through the REST API: the store's address (https://fernandfield.example, where
    # /wp-json/ lives) and a key with Read/Write permission (WooCommerce → Settings →
    # Advanced → REST API: ``ck_…`` and ``cs_…``). Unset: no notes.
    api_url: HttpUrl | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


class GenericOptions(BaseModel):
    webhook_secret: SecretStr | None = None
    # Deliveries signed longer ago than this are refused as replays.
    timestamp_tolerance_seconds: int = Field(default=300, ge=1, le=86400)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AFTERCARE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: str = "sqlite:///aftercare.db"
    transport: TransportName = TransportName.OUTBOX
    outbox_dir: Path = Path("outbox")
    ses: SesOptions = Field(default_factory=SesOptions)
    store: StoreFacts = Field(default_factory=StoreFacts)
    # When an order counts as late, and what the delay notice says why
    # (``AFTERCARE_DELAYS__GRACE_BUSINESS_DAYS``, ``AFTERCARE_DELAYS__REASON_IN_TRANSIT``).
    delays: DelayRules = Field(default_factory=DelayRules)
    # The hours of the customer's day that welcome emails and delay notices go out in
    # (``AFTERCARE_SEND_WINDOW__START=08:00``, ``..._END=21:00``; equal: any time); the
    # earlier ``AFTERCARE_DELAYS__SEND_WINDOW_*`` still work. Order, shipping, delivery and
    # refund emails go at once.
    send_window: SendWindow = Field(default_factory=SendWindow)
    # How often ``aftercare serve`` runs the delay scan on the embedded default, and how
    # long after it starts the first scan comes (with a Prefect server: prefect.yaml's cron).
    delay_scan_every_seconds: float = Field(default=900.0, ge=60, le=86_400)
    delay_scan_first_after_seconds: float = Field(default=60.0, ge=0, le=3600)
    shopify: ShopifyOptions = Field(default_factory=ShopifyOptions)
    woocommerce: WooCommerceOptions = Field(default_factory=WooCommerceOptions)
    generic: GenericOptions = Field(default_factory=GenericOptions)
    templates_dir: Path = PROJECT_ROOT / "email_templates"
    faq_dir: Path = PROJECT_ROOT / "faq_snippets"
    # Where the scheduled re-learning reads support-ticket exports: a folder of .csv files,
    # one file, or an https URL (``flows/learn_faq.py``); unset, it does not run.
    faq_tickets_source: str | None = None
    # FAQ answers per email (the likeliest questions); 0 shows none.
    faq_per_email: int = Field(default=3, ge=0, le=10)
    # The cross-sell block: cards per email, stock threshold, price band, what each kind
    # shows, the urgency line, UTM parameters (``AFTERCARE_CROSS_SELL__CARDS=0`` turns it off).
    cross_sell: CrossSellRules = Field(default_factory=CrossSellRules)
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    drain_batch_size: int = Field(default=200, ge=1, le=5000)
    max_send_attempts: int = Field(default=5, ge=1, le=50)
    max_processing_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    # How long a drain's claim on an event or email lasts before another drain may take it
    # (the first one died: a worker's machine went away). Short, so a dead worker's emails
    # go out within a minute; a live drain renews its claims at half this, and each
    # email's claim restarts when it is handed to the transport, so the floor is the
    # longest one transport call may take (SES: 5 s to connect + 30 s to read).
    claim_timeout_seconds: float = Field(default=45.0, ge=40, le=3600)
    # ``GET /healthz`` reports sending as "behind" once the oldest due event or email has
    # waited this long (a stalled drain, while webhooks are still acknowledged).
    sending_behind_after_seconds: float = Field(default=300.0, gt=0)
    # The safety net of ``aftercare serve``: this often it looks for due work that no
    # webhook nudged (a retry coming due, a drain that crashed) and starts a drain for it.
    safety_drain_seconds: float = Field(default=15.0, ge=1, le=3600)
    # Emails handed to the transport at once: an SES call waits tens of milliseconds on the
    # network, so one at a time would cap a drain at a few dozen emails a second.
    send_concurrency: int = Field(default=8, ge=1, le=64)
    # Raw webhook bodies and rendered messages are emptied this long after they arrived or
    # were written, once finished (``storage/retention.py``; the ``purge_expired`` flow).
    retention_days: int = Field(default=90, ge=1, le=3650)
    # Where customers' links to Aftercare land (the opt-out page, ``/opt-out/…``, and the
    # action pages, ``/a/…``): the receiver of ``aftercare serve`` as the internet reaches
    # it. Use https in production: mailbox providers unsubscribe in one click (RFC 8058)
    # only through an https URL.
    public_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    # Signs the opt-out and action links (``opt_out.py``, ``action_links.py``); keep it
    # unchanged (or rotate it, below), or old emails' links stop working. Unset with
    # SQLite, one is generated once and kept next to the database file
    # (``<database>.link-secret``); unset with any other database, making or checking a
    # link is an error that says to set ``AFTERCARE_LINK_SECRET``.
    link_secret: SecretStr | None = None
    # Earlier link secrets, comma-separated, still accepted when a link is read (never used
    # to sign): rotate by moving the old AFTERCARE_LINK_SECRET here and setting a new one;
    # drop it once the links it signed no longer matter (action links: after
    # ``action_link_days``; opt-out links never expire).
    link_secret_previous: SecretStr | None = None
    # Whether the emails' questions (the satisfaction rating, "did this answer your
    # question?", the delay email's options) link to Aftercare's own signed pages
    # (``action_links.py``, ``/a/…`` on the receiver): set it once ``public_url`` is the
    # receiver as the customers' mail reaches it. Off, the emails keep the store's links.
    action_links: bool = False
    # How long an action link works after its email was made.
    action_link_days: int = Field(default=60, ge=1, le=3650)
    # Where each recorded answer is POSTed, signed the Standard Webhooks way with
    # ``action_webhook_secret`` (``whsec_…``): the store's helpdesk or back office
    # (``drain/action_forwarding.py``). Unset: answers stay in ``aftercare actions list``.
    action_webhook_url: HttpUrl | None = None
    action_webhook_secret: SecretStr | None = None

    @field_validator("action_webhook_secret")
    @classmethod
    def _a_standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value().removeprefix("whsec_")
            try:
                if len(base64.b64decode(raw, validate=True)) < 24:
                    raise ValueError
            except (ValueError, binascii.Error):
                raise ValueError(
                    "AFTERCARE_ACTION_WEBHOOK_SECRET must be a Standard Webhooks secret:"
                    " whsec_ and base64 of at least 24 random bytes (python -c 'import"
                    ' base64, secrets; print("whsec_" + base64.b64encode('
                    "secrets.token_bytes(32)).decode())')"
                ) from None
        return value

    # Who may see product recommendations: "soft_opt_in" or "explicit" (see above).
    marketing_consent_policy: MarketingConsentPolicy = "soft_opt_in"

    @model_validator(mode="after")
    def _earlier_send_window_names(self) -> Settings:
        """``AFTERCARE_DELAYS__SEND_WINDOW_START``/``_END`` name the window when
        ``AFTERCARE_SEND_WINDOW__*`` does not (they once applied to the scan's notices)."""
        earlier = self.delays.send_window_start, self.delays.send_window_end
        if "send_window" not in self.model_fields_set and any(t is not None for t in earlier):
            self.send_window = SendWindow(
                start=earlier[0] or self.send_window.start, end=earlier[1] or self.send_window.end
            )
        return self
