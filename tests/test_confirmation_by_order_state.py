"""One order confirmation per order, whichever topics bring the order and in whatever order.

Each story is a customer's order told by its store's webhooks: signed deliveries built from
the stores' official sample payloads, posted to the real receiver over HTTP and drained by
the real drain into the outbox folder, on SQLite and PostgreSQL. The order's state decides
when it is confirmed (issue 16): a store subscribed to ``orders/create`` only still confirms
an order paid at checkout, cash on delivery is confirmed before it is paid, and a late or
repeated snapshot never sends a second confirmation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain
from aftercare.receiver import build_receiver
from aftercare.settings import Settings
from aftercare.storage.database import session_factory
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow, OutboxStatus
from aftercare.stores import Delivery
from tests import test_store_shopify as shopify
from tests import test_store_woocommerce as woocommerce
from tests.webhook_server import running_receiver


@dataclass(frozen=True)
class Step:
    """One webhook of a story: the store and topic, the order's status and payment method,
    and when it happened (Shopify's X-Shopify-Triggered-At, WooCommerce's date_modified_gmt)."""

    store: str
    topic: str
    status: str
    payment_method: str | None
    at: str

    def signed(self, order_id: int, event_id: str) -> Delivery:
        if self.store == "woocommerce":
            assert self.payment_method is not None
            payload = woocommerce.woo_order(
                self.status, self.payment_method, modified=self.at, order_id=order_id
            )
            return woocommerce.delivery(payload, self.topic)
        gateways = (self.payment_method,) if self.payment_method else ()
        payload = shopify.open_order(self.status, *gateways, order_id=order_id)
        if self.topic == "orders/cancelled":
            payload |= {"cancelled_at": self.at, "cancel_reason": "customer"}
        return shopify.delivery(
            payload, self.topic, x_shopify_event_id=event_id, x_shopify_triggered_at=self.at
        )


@dataclass(frozen=True)
class Story:
    """An order's webhooks in the order they arrive, and which of them brings its
    confirmation (None: the order is never confirmed)."""

    order_id: int
    steps: tuple[Step, ...]
    confirmed_by: int | None

    @property
    def store(self) -> str:
        return self.steps[0].store

    @property
    def confirmation_key(self) -> str:
        return f"{self.store}:order:{self.order_id}:order_confirmation"


S, W = shopify, woocommerce
COD = "Cash on Delivery (COD)"

# Shopify: a card order pending at checkout, paid at once or hours later; cash on delivery,
# paid at the door days later; a bank deposit; a cancellation.
CREATED_UNPAID = Step("shopify", "orders/create", "pending", None, S.CHECKOUT)
CREATED_PAID = Step("shopify", "orders/create", "paid", None, S.CHECKOUT)
PAID = Step("shopify", "orders/paid", "paid", None, S.PAID_AT_ONCE)
PAID_HOURS_LATER = replace(PAID, at=S.HOURS_LATER)
CREATED_COD = Step("shopify", "orders/create", "pending", COD, S.CHECKOUT)
PAID_AT_THE_DOOR = Step("shopify", "orders/paid", "paid", COD, S.DAYS_LATER)
CREATED_BANK_DEPOSIT = Step("shopify", "orders/create", "pending", "Bank Deposit", S.CHECKOUT)
CANCELLED = Step("shopify", "orders/cancelled", "voided", None, S.HOURS_LATER)

# WooCommerce: a card checkout pending, then processing; a bank transfer on hold until it is
# received; cash on delivery, processing from the start; a declined card; a cancellation.
WOO_PENDING = Step("woocommerce", "order.created", "pending", "stripe", W.CHECKOUT)
WOO_CREATED_PROCESSING = Step("woocommerce", "order.created", "processing", "stripe", W.CHECKOUT)
WOO_PROCESSING = Step("woocommerce", "order.updated", "processing", "stripe", W.PAID_AT_ONCE)
WOO_PROCESSING_HOURS_LATER = replace(WOO_PROCESSING, at=W.HOURS_LATER)
WOO_ON_HOLD_BACS = Step("woocommerce", "order.created", "on-hold", "bacs", W.CHECKOUT)
WOO_BACS_RECEIVED = Step("woocommerce", "order.updated", "processing", "bacs", W.DAYS_LATER)
WOO_COD = Step("woocommerce", "order.created", "processing", "cod", W.CHECKOUT)
WOO_COD_COMPLETED = Step("woocommerce", "order.updated", "completed", "cod", W.DAYS_LATER)
WOO_DECLINED = Step("woocommerce", "order.created", "failed", "stripe", W.CHECKOUT)
WOO_CANCELLED = Step("woocommerce", "order.updated", "cancelled", "stripe", W.HOURS_LATER)

# What arrives, and which delivery confirms the order (by its position; None: none does):
# the first that finds it paid or authorised, or placed with a payment due later.
TOLD = {
    "shopify: create, then paid": ((CREATED_UNPAID, PAID), 1),
    "shopify: paid, then a late create": ((PAID, CREATED_UNPAID), 0),
    "shopify: create only, paid at checkout": ((CREATED_PAID,), 0),
    "shopify: paid only": ((PAID,), 0),
    "shopify: create unpaid, paid hours later": ((CREATED_UNPAID, PAID_HOURS_LATER), 1),
    "shopify: cash on delivery, paid at the door": ((CREATED_COD, PAID_AT_THE_DOOR), 0),
    "shopify: bank deposit, never marked paid": ((CREATED_BANK_DEPOSIT,), 0),
    "shopify: cancelled before payment": ((CREATED_UNPAID, CANCELLED), None),
    "woocommerce: created in processing only": ((WOO_CREATED_PROCESSING,), 0),
    "woocommerce: updated to processing only": ((WOO_PROCESSING,), 0),
    "woocommerce: created pending, then processing": ((WOO_PENDING, WOO_PROCESSING), 1),
    "woocommerce: card declined": ((WOO_DECLINED,), None),
    "woocommerce: processing, then a late created": ((WOO_PROCESSING, WOO_PENDING), 0),
    "woocommerce: pending, paid hours later": ((WOO_PENDING, WOO_PROCESSING_HOURS_LATER), 1),
    "woocommerce: bank transfer on hold, then received": ((WOO_ON_HOLD_BACS, WOO_BACS_RECEIVED), 0),
    "woocommerce: cash on delivery, then completed": ((WOO_COD, WOO_COD_COMPLETED), 0),
    "woocommerce: cancelled before payment": ((WOO_PENDING, WOO_CANCELLED), None),
}
STORIES = {
    name: Story(9001 + number, steps, confirmed_by)
    for number, (name, (steps, confirmed_by)) in enumerate(TOLD.items())
}
# A Shopify store confirming unpaid orders too (``confirm_on="orders/create"``) confirms each
# order on first sight, whatever follows.
UNPAID_TOO = {
    name: replace(story, confirmed_by=0)
    for name, story in STORIES.items()
    if story.store == "shopify"
}


@pytest.fixture
def confirm_on() -> str:
    return "orders/paid"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, confirm_on: str) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        shopify={"webhook_secret": SecretStr(shopify.SECRET), "confirm_on": confirm_on},
        woocommerce={"webhook_secret": SecretStr(woocommerce.SECRET)},
        # On PostgreSQL the receiver needs one (the opt-out links); SQLite would make one.
        link_secret=SecretStr("confirmation-test-link-secret-0123456789"),
        _env_file=None,
    )


@pytest.fixture
def pipeline(settings: Settings, engine: Engine) -> Pipeline:
    return replace(build_pipeline(settings), sessions=session_factory(engine))


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    receiver = build_receiver(settings, nudge=lambda: None)
    try:
        with running_receiver(receiver) as base:
            yield base
    finally:
        receiver.writer.close()


def _post(url: str, story: Story, step: int) -> None:
    delivered = story.steps[step]
    signed = delivered.signed(story.order_id, event_id=f"evt-{story.order_id}-{step}")
    headers = {name: value for name, value in signed.headers.items() if name != "host"}
    answer = httpx.post(f"{url}/webhooks/{delivered.store}", content=signed.body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == 1


def _confirmations(engine: Engine, story: Story) -> list[OutboxEmailRow]:
    with Session(engine) as s:
        rows = s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_confirmation"))
        return [row for row in rows if row.idempotency_key == story.confirmation_key]


def _assert_told_once(engine: Engine, settings: Settings, story: Story) -> None:
    """At most one confirmation, sent, and brought by the delivery the story says."""
    with Session(engine) as s:
        inbox = list(s.scalars(select(InboxEventRow).order_by(InboxEventRow.id)))
    assert {row.status for row in inbox} == {InboxStatus.PROCESSED}
    confirmations = _confirmations(engine, story)
    if story.confirmed_by is None:
        assert confirmations == []
        return
    (confirmation,) = confirmations
    assert confirmation.status == OutboxStatus.SENT
    assert (settings.outbox_dir / confirmation.transport_message_id).is_file()
    by = next(row for row in inbox if row.id == confirmation.inbox_event_id)
    assert (by.source, by.topic) == (story.store, story.steps[story.confirmed_by].topic)


def _tell(url: str, pipeline: Pipeline, engine: Engine, settings: Settings, story: Story) -> None:
    """Deliver the story one webhook at a time, draining after each, as time passes."""
    for step in range(len(story.steps)):
        _post(url, story, step)
        drain(pipeline)
        confirmed = story.confirmed_by is not None and step >= story.confirmed_by
        assert len(_confirmations(engine, story)) == int(confirmed), f"after delivery {step}"
    _assert_told_once(engine, settings, story)


@pytest.mark.parametrize("story", STORIES.values(), ids=STORIES.keys())
def test_each_order_is_confirmed_once_by_its_state(
    url: str, pipeline: Pipeline, engine: Engine, settings: Settings, story: Story
) -> None:
    _tell(url, pipeline, engine, settings, story)


@pytest.mark.parametrize("confirm_on", ["orders/create"])
@pytest.mark.parametrize("story", UNPAID_TOO.values(), ids=UNPAID_TOO.keys())
def test_a_store_confirming_unpaid_orders_confirms_each_on_first_sight(
    url: str, pipeline: Pipeline, engine: Engine, settings: Settings, story: Story
) -> None:
    _tell(url, pipeline, engine, settings, story)


def test_every_story_delivered_before_one_drain_still_confirms_each_order_once(
    url: str, pipeline: Pipeline, engine: Engine, settings: Settings
) -> None:
    """A backlog (the drain was down): the snapshots of one order meet in one group."""
    for story in STORIES.values():
        for step in range(len(story.steps)):
            _post(url, story, step)
    drain(pipeline)
    for story in STORIES.values():
        _assert_told_once(engine, settings, story)
