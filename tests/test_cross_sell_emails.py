"""Cross-sell in the emails the pipeline sends (issue 11), on SQLite and PostgreSQL.

A small store: an apron usually sold with tea towels, mugs with spoons; a sofa far outside
any order's price band and a candle sold out. The story's order holds the apron, wraps and
mugs, so its emails should offer tea towels and spoons, never what it holds, what is sold
out or priced out, and say why.
"""

from __future__ import annotations

import email
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.catalogue import Product
from aftercare.drain import Pipeline, build_pipeline, drain, receive_event
from aftercare.drain.pipeline import cross_sell_source_for
from aftercare.emails.compose import MAX_BLOCK_SHARE
from aftercare.enrichment.cross_sell.recommendations import CrossSellRules, Shown, ShownPerKind
from aftercare.events import LineItem
from aftercare.learning.cross_sell_model import rebuild_cross_sell
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.catalogue_records import save_products
from aftercare.storage.cross_sell_models import (
    load_newest_model,
    newest_model_id,
    order_baskets,
    recent_products,
)
from aftercare.storage.database import session_factory
from aftercare.storage.schema import CatalogueRevisionRow, OutboxEmailRow
from tests.browser import visible_characters
from tests.conftest import Clock

_CDN = "https://cdn.fernandfield.example"


def _product(pid: str, title: str, price: str, stock: int | None = 20) -> Product:
    return Product(
        product_id=pid,
        sku=pid.upper(),
        title=title,
        price=Decimal(price),
        currency="EUR",
        stock=stock,
        url=f"https://fernandfield.example/products/{pid}",
        image_url=f"{_CDN}/{pid}.jpg",
        tags=("kitchen",),
    )


CATALOGUE = (
    _product("linen-apron", "Linen apron", "39.00"),
    _product("beeswax-wraps", "Beeswax wraps", "12.50"),
    _product("enamel-mug", "Enamel mug", "18.00"),
    _product("tea-towel", "Linen tea towel", "19.00"),
    _product("oak-spoon", "Oak spoon", "14.00"),
    _product("candle", "Beeswax candle", "16.00", stock=0),
    _product("sofa", "Linen sofa", "1900.00"),
    _product("napkins", "Linen napkins", "24.00"),
)


def _history_order(n: int, products: tuple[str, ...]):  # noqa: ANN202 - an OrderEvent
    by_id = {p.product_id: p for p in CATALOGUE}
    lines = tuple(
        LineItem(
            line_id=f"L{i}",
            product_id=pid,
            title=by_id[pid].title,
            quantity=1,
            unit_price=by_id[pid].price,
        )
        for i, pid in enumerate(products, start=1)
    )
    total = sum((line.unit_price for line in lines), Decimal(0))
    return orders.placed(
        f"evt-history-{n}",
        at=orders.PLACED_AT - timedelta(days=30 + n),
        customer=orders.customer(external_id=f"c-h{n}", email=f"buyer{n}@example.com"),
        external_id=f"o-h{n}",
        number=f"#9{n:03d}",
        placed_at=orders.PLACED_AT - timedelta(days=30 + n),
        line_items=lines,
        costs=orders.costs(
            subtotal=total, discounts=Decimal(0), discount_codes=(), total=total + Decimal("4.90")
        ),
    )


HISTORY = (
    *[("linen-apron", "tea-towel")] * 6,
    *[("enamel-mug", "oak-spoon")] * 5,
    *[("enamel-mug", "candle")] * 8,  # sold out now: never offered
    *[("linen-apron", "sofa")] * 9,  # far outside the order's price band
    ("napkins",),
    ("napkins",),
)


@pytest.fixture
def store(clocked_pipeline: Pipeline, engine: Engine, clock: Clock) -> Pipeline:
    """The catalogue and the history stored, their confirmations sent; the clock then moves
    past the model's refresh, so the story's emails see every order."""
    with clocked_pipeline.sessions.begin() as session:
        save_products(session, CATALOGUE)
    for n, products in enumerate(HISTORY):
        receive_event(clocked_pipeline, _history_order(n, products))
    drain(clocked_pipeline)
    clock.now += timedelta(minutes=2)
    return clocked_pipeline


def _emails(engine: Engine, kind: str) -> list[OutboxEmailRow]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(OutboxEmailRow)
                .where(OutboxEmailRow.kind == kind)
                .order_by(OutboxEmailRow.id)
            )
        )


def _story_email(engine: Engine, kind: str) -> OutboxEmailRow:
    found = [e for e in _emails(engine, kind) if e.explanation["event"]["id"].startswith("evt-")]
    found = [e for e in found if "history" not in e.explanation["event"]["id"]]
    assert len(found) == 1, [e.explanation["event"]["id"] for e in found]
    return found[0]


def _offered(row: OutboxEmailRow) -> list[str]:
    return [p["id"] for p in row.explanation["cross_sell"]]


def _parts(row: OutboxEmailRow) -> tuple[email.message.EmailMessage, str, str]:
    message = email.message_from_bytes(row.mime, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return message, html, text


def test_the_confirmation_offers_what_goes_with_the_order_and_says_why(
    store: Pipeline, engine: Engine
) -> None:
    receive_event(store, orders.placed())
    drain(store)
    row = _story_email(engine, "order_confirmation")
    offered = _offered(row)
    assert offered[:2] == ["tea-towel", "oak-spoon"]  # round-robin: the apron's, the mug's
    ordered = {"linen-apron", "beeswax-wraps", "enamel-mug"}
    assert not ordered & set(offered)
    assert "candle" not in offered and "sofa" not in offered
    why = row.explanation["cross_sell"][0]["why"]
    assert "Linen apron (linen-apron)" in why and "6 orders together" in why
    assert row.explanation["cross_sell"][0]["score"] > 6
    _, html, text = _parts(row)
    assert "Linen tea towel" in html and "€19.00" in html
    assert "https://fernandfield.example/products/tea-towel" in text
    assert "Linen sofa" not in html and "Beeswax candle" not in html


def test_each_kind_follows_the_stores_policy(store: Pipeline, engine: Engine) -> None:
    for event in (orders.welcome(), orders.placed(), orders.shipped(), orders.delayed()):
        receive_event(store, event)
    drain(store)
    shipped = _story_email(engine, "order_shipped")
    assert _offered(shipped)[:2] == ["tea-towel", "oak-spoon"]
    welcome = _story_email(engine, "welcome")
    assert {p["why"] for p in welcome.explanation["cross_sell"]} == {"a best seller"}
    delayed = _story_email(engine, "order_delayed")
    assert _offered(delayed) == []
    assert delayed.explanation["cross_sell_none"] == (
        "no cross-sell in order_delayed emails (store policy)"
    )
    _, html, _ = _parts(delayed)
    assert "You might also like" not in html


def test_a_store_can_switch_a_kind_off_or_on(store: Pipeline, engine: Engine, clock: Clock) -> None:
    rules = CrossSellRules(
        show=ShownPerKind(order_confirmation=Shown.NONE, order_delayed=Shown.BEST_SELLERS)
    )
    pipeline = replace(store, cross_sell=cross_sell_source_for(_with_rules(store, rules)))
    receive_event(pipeline, orders.placed())
    receive_event(pipeline, orders.delayed())
    drain(pipeline)
    assert _offered(_story_email(engine, "order_confirmation")) == []
    assert _offered(_story_email(engine, "order_delayed"))


def _with_rules(pipeline: Pipeline, rules: CrossSellRules) -> Settings:
    return pipeline.settings.model_copy(update={"cross_sell": rules})


def test_what_the_customer_bought_recently_is_not_offered(
    store: Pipeline, engine: Engine, clock: Clock
) -> None:
    """Anna bought tea towels last month: her order with the apron gets spoons instead."""
    earlier = _history_order(99, ("tea-towel",))
    earlier = earlier.model_copy(update={"customer": orders.customer()})
    receive_event(store, earlier)
    drain(store)
    receive_event(store, orders.placed())
    drain(store)
    offered = _offered(_story_email(engine, "order_confirmation"))
    assert "tea-towel" not in offered and offered[0] == "oak-spoon"


def test_links_carry_the_stores_utm_parameters_and_the_urgency_line_is_true_now(
    store: Pipeline, engine: Engine
) -> None:
    rules = CrossSellRules(
        urgency_below=5, utm={"utm_source": "aftercare", "utm_campaign": "{kind}"}
    )
    with store.sessions.begin() as session:
        save_products(session, [CATALOGUE[4].model_copy(update={"stock": 3})])  # oak spoon
    pipeline = replace(store, cross_sell=cross_sell_source_for(_with_rules(store, rules)))
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    _, html, text = _parts(_story_email(engine, "order_confirmation"))
    assert (
        "https://fernandfield.example/products/tea-towel?utm_source=aftercare"
        "&amp;utm_campaign=order_confirmation" in html
    )
    assert "Only 3 left" in html and "(only 3 left)" in text
    assert text.count("only ") == 1  # the tea towel has 20: no line under it


def test_no_cards_when_the_store_shows_none(store: Pipeline, engine: Engine) -> None:
    pipeline = replace(
        store, cross_sell=cross_sell_source_for(_with_rules(store, CrossSellRules(cards=0)))
    )
    assert pipeline.cross_sell is None
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    row = _story_email(engine, "order_confirmation")
    _, html, _ = _parts(row)
    assert _offered(row) == [] and "You might also like" not in html
    assert row.explanation["cross_sell_opt_out"] is False


def _block_share_of_visible_text(html: str) -> float:
    """The block's share of what a reader sees, as headless Chromium lays the email out:
    its visible text (cards, heading, opt-out line) over the body's (the hidden preheader
    is not on the screen, so not counted)."""
    block, body = visible_characters(html, ".cross-sell")
    assert block > 0, "no cross-sell block on the page"
    return block / body


def test_the_block_stays_a_small_part_of_every_email(store: Pipeline, engine: Engine) -> None:
    for event in (orders.welcome(), orders.placed(), orders.shipped()):
        receive_event(store, event)
    drain(store)
    for kind in ("welcome", "order_confirmation", "order_shipped"):
        row = _story_email(engine, kind)
        _, html, _ = _parts(row)
        assert _offered(row), kind
        assert _block_share_of_visible_text(html) <= MAX_BLOCK_SHARE, kind


def test_a_block_that_would_crowd_a_short_email_loses_cards(
    store: Pipeline, engine: Engine
) -> None:
    long_names = [
        _product(f"long-{n}", "Hand-stitched heavyweight stonewashed linen " + "x" * 20, "20")
        for n in range(10)
    ]
    with store.sessions.begin() as session:
        save_products(session, long_names)
    pipeline = replace(  # no FAQ answers: a short email
        store,
        faq=None,
        cross_sell=cross_sell_source_for(_with_rules(store, CrossSellRules(cards=10))),
    )
    receive_event(pipeline, orders.welcome())
    drain(pipeline)
    row = _story_email(engine, "welcome")
    _, html, _ = _parts(row)
    assert 0 < len(_offered(row)) < 10
    assert _block_share_of_visible_text(html) <= MAX_BLOCK_SHARE


def test_the_rebuilt_model_is_stored_and_new_orders_are_folded_in(
    store: Pipeline, engine: Engine, clock: Clock
) -> None:
    report = rebuild_cross_sell(engine, clock.now)
    assert report.baskets == len(HISTORY) and report.products == 7
    with engine.connect() as connection:
        assert newest_model_id(connection) == report.model_id
        stored = load_newest_model(connection)
        assert stored is not None and stored.orders_through == report.orders_through
        assert stored.model.bought_with("linen-apron")[0].product_id == "sofa"
        baskets = list(order_baskets(connection))
        assert len(baskets) == len(HISTORY) and baskets[0][2] == ["linen-apron", "tea-towel"]
    # Napkins are new with the apron: three orders after the build.
    for n in range(3):
        receive_event(store, _history_order(200 + n, ("linen-apron", "napkins")))
    drain(store)
    clock.now += timedelta(minutes=2)
    receive_event(store, orders.placed())
    drain(store)
    offered = _offered(_story_email(engine, "order_confirmation"))
    assert "napkins" in offered
    assert store.cross_sell is not None and store.cross_sell.model_id == report.model_id
    # The story's own order is folded in at the next refresh, a minute later.
    assert store.cross_sell.model.baskets == len(HISTORY) + 3


def test_recent_products_are_read_for_a_group_in_one_query(
    store: Pipeline, engine: Engine, clock: Clock
) -> None:
    with engine.connect() as connection:
        found = recent_products(
            connection,
            {(orders.SOURCE, "c-h0"), (orders.SOURCE, "c-h1"), (orders.SOURCE, "nobody")},
            orders.PLACED_AT - timedelta(days=365),
        )
    assert found[(orders.SOURCE, "c-h0")] == {"linen-apron", "tea-towel"}
    assert (orders.SOURCE, "nobody") not in found


def test_a_database_without_the_cross_sell_tables_sends_without_cards(
    database_url: str, tmp_path: Path, clock: Clock, engine: Engine
) -> None:
    """An install that has not run `aftercare db upgrade` yet still sends its emails."""
    settings = Settings(database_url=database_url, outbox_dir=tmp_path / "o", _env_file=None)
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine), clock=clock)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE catalogue_revision")
    try:
        receive_event(pipeline, orders.placed())
        drain(pipeline)
        row = _story_email(engine, "order_confirmation")
        assert row.status == "sent" and _offered(row) == []
    finally:
        CatalogueRevisionRow.__table__.create(engine)  # as the migration made it


def test_prices_follow_the_customers_locale(store: Pipeline, engine: Engine) -> None:
    receive_event(store, orders.placed(customer=orders.customer(locale="de-DE")))
    drain(store)
    _, html, _ = _parts(_story_email(engine, "order_confirmation"))
    assert re.search(r"19,00\s€", html)


# --- the opt-out the law asks for ------------------------------------------------------------


def test_every_email_with_cards_carries_a_working_one_click_opt_out(
    store: Pipeline, engine: Engine
) -> None:
    from aftercare.opt_out import address_hash, opt_out_links

    receive_event(store, orders.placed())
    receive_event(store, orders.delayed())
    drain(store)
    confirmation = _story_email(engine, "order_confirmation")
    message, html, text = _parts(confirmation)
    link = message["List-Unsubscribe"]
    assert link.startswith("<http") and link.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = link[1:-1]
    assert url in text and url in html.replace("&amp;", "&")
    assert "anna" not in url.lower() and "example.com" not in url  # no address in the link
    token = url.rsplit("/", 1)[1]
    read = opt_out_links(store.settings).read(token)
    assert read.address_hash == address_hash("anna.keller@example.com")
    assert confirmation.explanation["cross_sell_opt_out"] is True
    delayed, _, _ = _parts(_story_email(engine, "order_delayed"))
    assert delayed["List-Unsubscribe"] is None  # no cards, no marketing, no header


def test_an_opted_out_customer_gets_no_cards_and_the_same_order_email(
    store: Pipeline, engine: Engine, clock: Clock
) -> None:
    from aftercare.opt_out import address_hash
    from aftercare.storage.opt_outs import VIA_ONE_CLICK, record_opt_out

    receive_event(store, orders.placed())
    drain(store)
    before = _story_email(engine, "order_confirmation")
    with store.sessions.begin() as session:
        record_opt_out(session, address_hash("Anna.Keller@example.com "), VIA_ONE_CLICK, clock.now)
    receive_event(store, orders.shipped())
    drain(store)
    shipped = _story_email(engine, "order_shipped")
    message, html, _ = _parts(shipped)
    assert _offered(shipped) == [] and message["List-Unsubscribe"] is None
    assert shipped.explanation["cross_sell_none"] == "the customer opted out of product suggestions"
    assert "You might also like" not in html and "#1001" in html  # the order email is whole
    assert _offered(before)  # the earlier email had cards


def test_the_stores_consent_is_respected(store: Pipeline, engine: Engine) -> None:
    unsubscribed = orders.customer(marketing_consent="unsubscribed")
    receive_event(store, orders.placed(customer=unsubscribed))
    drain(store)
    row = _story_email(engine, "order_confirmation")
    assert _offered(row) == []
    assert row.explanation["cross_sell_none"] == (
        "the store says the customer unsubscribed from marketing"
    )


@pytest.mark.parametrize(("consent", "shown"), [(None, False), ("subscribed", True)])
def test_an_explicit_consent_store_shows_cards_only_to_subscribers(
    store: Pipeline, engine: Engine, consent: str | None, shown: bool
) -> None:
    settings = store.settings.model_copy(update={"marketing_consent_policy": "explicit"})
    pipeline = replace(store, cross_sell=cross_sell_source_for(settings))
    receive_event(pipeline, orders.placed(customer=orders.customer(marketing_consent=consent)))
    drain(pipeline)
    assert bool(_offered(_story_email(engine, "order_confirmation"))) is shown


def test_in_every_sample_email_the_block_is_under_a_fifth_of_the_visible_text() -> None:
    """The shipped templates, every kind and sample (multi-item, international, partial
    shipments), with three cards and the opt-out line: never more than a fifth."""
    from aftercare.authoring.samples import sample_emails
    from aftercare.drain.pipeline import renderer_for
    from aftercare.settings import PROJECT_ROOT, StoreFacts

    renderer = renderer_for(PROJECT_ROOT / "email_templates")
    store = StoreFacts()
    measured = 0
    for sample in sample_emails():
        if not sample.enriched:
            continue
        context = sample.context(store, renderer.available_locales())
        html = renderer.render(sample.kind, context, context["locale"]).html
        if "cross-sell" not in html:
            continue
        measured += 1
        assert _block_share_of_visible_text(html) <= MAX_BLOCK_SHARE, sample.name
    assert measured >= 3  # welcome, confirmation and shipped samples at least


def test_explain_shows_each_product_with_its_score_and_reason(
    store: Pipeline, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from aftercare.cli import build_cli

    receive_event(store, orders.placed())
    receive_event(store, orders.delayed())
    drain(store)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    confirmation = _story_email(engine, "order_confirmation")
    said = CliRunner().invoke(build_cli(), ["explain", str(confirmation.id)]).output
    assert "Products offered, in the order shown" in said
    assert "tea-towel" in said and "bought with Linen apron (linen-apron): in 6 orders" in said
    assert "One-click opt-out link and List-Unsubscribe headers: yes" in said
    assert "Language: en (wanted " in said  # the locale choice, from the email's record
    delayed = _story_email(engine, "order_delayed")
    said = CliRunner().invoke(build_cli(), ["explain", str(delayed.id)]).output
    assert "Products: none (no cross-sell in order_delayed emails (store policy))" in said
