"""Which FAQ answers an email carries: ranked by likelihood, fitted to the order, explained.

Against the store's real English starter set in ``faq_snippets/en`` (what the demo sends)
and against small libraries written here, for the ranking rules themselves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from aftercare.emails import EmailKind, PlannedEmail, compose_email
from aftercare.enrichment.faq.selection import (
    PRIOR_WEIGHT,
    FaqSelector,
    LearnedRate,
    conditions_hold,
    smoothed_rate,
)
from aftercare.enrichment.faq.snippets import load_snippets
from aftercare.events import PaymentMethod
from aftercare.rendering.renderer import EmailRenderer
from aftercare.sample_store import orders
from aftercare.settings import Settings, StoreFacts
from aftercare.stores.payment_methods import payment_method_of

ROOT = Path(__file__).resolve().parent.parent
STARTER = load_snippets(ROOT / "faq_snippets")
RENDERER = EmailRenderer(ROOT / "email_templates")
NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


def _snippet(folder: Path, snippet_id: str, front: str, body: str = "An answer.") -> None:
    (folder / "en").mkdir(parents=True, exist_ok=True)
    (folder / "en" / f"{snippet_id}.md").write_text(
        f"---\nid: {snippet_id}\nlocale: en\n{front}\n---\n{body}\n", encoding="utf-8"
    )


def _compose(kind: EmailKind, event, state, selector: FaqSelector = None, store=None):  # noqa: ANN001, ANN202
    planned = PlannedEmail(kind, f"key-{kind.value}")
    return compose_email(
        planned,
        event,
        state,
        store or StoreFacts(),
        RENDERER,
        NOW,
        faq=selector or FaqSelector(STARTER),
    )


def test_conditions_must_all_hold_and_an_unknown_fact_never_fits() -> None:
    when = {"international": True, "payment_method": frozenset({"cod", "bank_transfer"})}
    assert conditions_hold(when, {"international": True, "payment_method": "cod"})
    assert not conditions_hold(when, {"international": True, "payment_method": "card"})
    assert not conditions_hold(when, {"international": False, "payment_method": "cod"})
    assert not conditions_hold(when, {"international": True})  # payment method unknown
    assert conditions_hold({}, {})


def test_the_learned_rate_is_smoothed_towards_the_prior() -> None:
    assert smoothed_rate(0.3, None) == 0.3
    few = smoothed_rate(0.3, LearnedRate(asked=2, eligible=2))  # two tickets of two emails
    assert 0.3 < few < 0.5  # moves, but not to 100 %
    many = smoothed_rate(0.3, LearnedRate(asked=20, eligible=1000))
    assert many == pytest.approx((20 + PRIOR_WEIGHT * 0.3) / (1000 + PRIOR_WEIGHT))
    assert many < 0.05


def test_top_n_per_email_one_answer_per_topic_dates_and_kinds(tmp_path: Path) -> None:
    _snippet(tmp_path, "a", "question: A?\nkinds: [order_shipped]\npriority: 0.9")
    _snippet(tmp_path, "b", "question: B?\nkinds: [order_shipped]\npriority: 0.8\ntopic: a")
    _snippet(tmp_path, "c", "question: C?\nkinds: [order_shipped]\npriority: 0.7")
    _snippet(
        tmp_path,
        "d",
        "question: D?\nkinds: [order_shipped]\npriority: 0.95\nvalid_until: 2026-11-30",
    )
    _snippet(tmp_path, "e", "question: E?\nkinds: [welcome]\npriority: 0.99")
    _snippet(tmp_path, "f", "question: F?\nkinds: [order_shipped]\npriority: 0.1")
    selector = FaqSelector(load_snippets(tmp_path), per_email=2)
    chosen = selector.choose("order_shipped", "en", {}, date(2026, 12, 3))
    # d is out of date, b answers a's topic again, e is for another kind
    assert [c.snippet.id for c in chosen] == ["a", "c"]
    earlier = selector.choose("order_shipped", "en", {}, date(2026, 11, 30))
    assert [c.snippet.id for c in earlier] == ["d", "a"]
    assert all("prior" in c.why for c in chosen)


def test_learning_moves_the_ranking(tmp_path: Path) -> None:
    _snippet(tmp_path, "often-asked", "question: Often?\nkinds: [order_shipped]\npriority: 0.1")
    _snippet(tmp_path, "store-guess", "question: Guess?\nkinds: [order_shipped]\npriority: 0.4")
    library = load_snippets(tmp_path)
    today = date(2026, 12, 3)
    before = FaqSelector(library, per_email=1).choose("order_shipped", "en", {}, today)
    assert [c.snippet.id for c in before] == ["store-guess"]
    rates = {
        ("order_shipped", "often-asked"): LearnedRate(asked=300, eligible=500),
        ("order_shipped", "store-guess"): LearnedRate(asked=5, eligible=500),
    }
    after = FaqSelector(library, rates, per_email=1).choose("order_shipped", "en", {}, today)
    assert [c.snippet.id for c in after] == ["often-asked"]
    assert "learned 300/500" in after[0].why


def test_a_customer_abroad_behind_a_customs_border_is_told_about_duties() -> None:
    swiss = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    placed = orders.placed(order=orders.order(shipping_address=swiss))
    email = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    chosen = [c.id for c in email.explanation.likely_questions]
    assert "customs-duties" in chosen and "customs-none-eu" not in chosen
    assert email.explanation.faq_conditions["crosses_customs"] is True


def test_germany_to_france_answers_the_customs_question_with_no_duties() -> None:
    french = orders.address(city="Lyon", postal_code="69002", country_code="FR")
    placed = orders.placed(order=orders.order(shipping_address=french))
    email = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    chosen = [c.id for c in email.explanation.likely_questions]
    assert "customs-none-eu" in chosen and "customs-duties" not in chosen
    text = email.mime.decode("utf-8", "replace")
    assert STARTER.get("en", "customs-none-eu").question in text


def test_a_domestic_order_gets_no_customs_answer_at_all() -> None:
    placed = orders.placed()
    email = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    chosen = [c.id for c in email.explanation.likely_questions]
    assert not {"customs-duties", "customs-none-eu"} & set(chosen)
    assert len(chosen) == 3


def test_a_partial_shipment_explains_the_second_parcel() -> None:
    placed = orders.placed()
    first_line = placed.order.line_items[0]
    shipped = orders.shipped(lines=((first_line.line_id, first_line.quantity),))
    email = _compose(EmailKind.ORDER_SHIPPED, shipped, orders.state_after(placed, shipped))
    record = email.explanation.as_record()
    ids = [q["id"] for q in record["likely_questions"]]
    assert "second-parcel" in ids
    second = next(q for q in record["likely_questions"] if q["id"] == "second-parcel")
    assert "partial_shipment=yes" in second["why"] and second["score"] > 0
    assert record["faq_conditions"]["partial_shipment"] is True
    whole = orders.shipped()
    email = _compose(EmailKind.ORDER_SHIPPED, whole, orders.state_after(placed, whole))
    assert "second-parcel" not in [c.id for c in email.explanation.likely_questions]


def test_a_bank_transfer_confirmation_answers_how_to_pay() -> None:
    placed = orders.placed(
        order=orders.order(payment_method=PaymentMethod.BANK_TRANSFER, payment_due_later=True)
    )
    email = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    assert "bank-transfer" in [c.id for c in email.explanation.likely_questions]


def test_each_answer_links_to_its_question_on_the_faq_page() -> None:
    placed = orders.placed()
    email = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    html = email.mime.decode("utf-8", "replace")
    first = email.explanation.likely_questions[0].id
    anchor = STARTER.get("en", first).anchor
    assert f"{StoreFacts().faq_url}#{anchor}" in html.replace("=\r\n", "").replace("=\n", "")


def test_without_snippets_the_email_has_no_faq_block(tmp_path: Path) -> None:
    from aftercare.drain.pipeline import faq_selector_for

    assert faq_selector_for(tmp_path / "none", 3, "en") is None
    assert faq_selector_for(ROOT / "faq_snippets", 0, "en") is None
    assert Settings(_env_file=None).faq_per_email == 3


@pytest.mark.parametrize(
    ("names", "method"),
    [
        (["shopify_payments"], PaymentMethod.CARD),
        (["gift_card", "paypal"], PaymentMethod.PAYPAL),
        (["gift_card"], PaymentMethod.GIFT_CARD),
        (["Cash on Delivery (COD)"], PaymentMethod.COD),
        (["bacs"], PaymentMethod.BANK_TRANSFER),
        (["Vorkasse per Überweisung"], PaymentMethod.BANK_TRANSFER),
        (["Kauf auf Rechnung"], PaymentMethod.INVOICE),
        (["my very own gateway"], PaymentMethod.OTHER),
        ([], None),
        ([None, " "], None),
    ],
)
def test_gateway_names_map_to_payment_methods(names: list, method: PaymentMethod | None) -> None:
    assert payment_method_of(names) is method


def test_a_template_can_pin_an_answer_and_the_check_refuses_an_unknown_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from typer.testing import CliRunner

    from aftercare.cli import build_cli

    templates = tmp_path / "email_templates"
    shutil.copytree(ROOT / "email_templates", templates)
    page = templates / "en" / "order_confirmation.html"
    source = page.read_text(encoding="utf-8")
    faq_block = '{% include "partials/faq.html" %}'
    assert faq_block in source

    def pin(snippet_id: str) -> None:
        pinned = f'{{{{ pin_question("{snippet_id}") }}}}' + faq_block
        page.write_text(source.replace(faq_block, pinned), encoding="utf-8")

    pin("warranty")
    renderer = EmailRenderer(templates)
    assert renderer.pinned_questions(EmailKind.ORDER_CONFIRMATION, "en") == ("warranty",)
    placed = orders.placed()
    planned = PlannedEmail(EmailKind.ORDER_CONFIRMATION, "key")
    email = compose_email(
        planned,
        placed,
        orders.state_after(placed),
        StoreFacts(),
        renderer,
        NOW,
        faq=FaqSelector(STARTER),
    )
    chosen = email.explanation.likely_questions
    assert chosen[0].id == "warranty" and chosen[0].why == "pinned by the template"
    assert len(chosen) == 3  # the pin takes one of the three places
    unpinned = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    assert "warranty" not in [c.id for c in unpinned.explanation.likely_questions]

    pin("no-such-answer")
    monkeypatch.setenv("AFTERCARE_FAQ_DIR", str(ROOT / "faq_snippets"))
    result = CliRunner().invoke(
        build_cli(), ["templates", "check", "--templates-dir", str(templates)]
    )
    assert result.exit_code == 1, result.output
    assert "pin_question('no-such-answer')" in result.output and "(faq-pin)" in result.output


def test_the_text_part_keeps_the_answers_links() -> None:
    import email
    from email import policy

    swiss = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    placed = orders.placed(order=orders.order(shipping_address=swiss))
    composed = _compose(EmailKind.ORDER_CONFIRMATION, placed, orders.state_after(placed))
    message = email.message_from_bytes(composed.mime, policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    urls = [
        word.strip("().,")
        for chosen in composed.explanation.likely_questions
        for word in STARTER.get("en", chosen.id).answer_text.split()
        if "https://" in word
    ]
    assert urls, "the chosen answers link nowhere: pick an order whose answers do"
    for url in urls:
        assert url in text


def test_a_prior_per_kind(tmp_path: Path) -> None:
    _snippet(
        tmp_path,
        "move",
        "question: New address?\nkinds: [order_confirmation, order_shipped]\n"
        "priority: {order_confirmation: 0.5, order_shipped: 0.01}",
    )
    _snippet(
        tmp_path,
        "other",
        "question: Other?\nkinds: [order_confirmation, order_shipped]\npriority: 0.2",
    )
    selector = FaqSelector(load_snippets(tmp_path), per_email=1)
    day = date(2026, 12, 3)
    assert selector.choose("order_confirmation", "en", {}, day)[0].snippet.id == "move"
    assert selector.choose("order_shipped", "en", {}, day)[0].snippet.id == "other"
    _snippet(tmp_path, "bad", "question: Bad?\nkinds: [welcome]\npriority: {order_shipped: 0.3}")
    from aftercare.enrichment.faq.snippets import check_snippets

    problems = [str(p) for p in check_snippets(tmp_path)]
    assert any("bad.md" in p and "priority for 'order_shipped'" in p for p in problems)


def test_a_first_order_is_told_from_the_customers_stored_orders(
    database_url: str,
    engine,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """The drain counts the customer's earlier orders (stored, or new in the same group)."""
    from dataclasses import replace as with_

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from aftercare.drain import build_pipeline, drain, receive_event
    from aftercare.storage.database import session_factory
    from aftercare.storage.schema import OutboxEmailRow

    settings = Settings(_env_file=None, database_url=database_url, outbox_dir=tmp_path / "out")
    pipeline = with_(build_pipeline(settings), sessions=session_factory(engine))
    customer = orders.customer()
    for n, at in enumerate((NOW - timedelta(days=30), NOW - timedelta(days=2))):
        order = orders.order(external_id=f"o-{n}", number=f"#{7000 + n}", placed_at=at)
        receive_event(pipeline, orders.placed(f"p-{n}", at=at, customer=customer, order=order))
    drain(pipeline)  # both in one group: the second counts the first, not yet stored
    later = orders.order(external_id="o-2", number="#7002", placed_at=NOW)
    receive_event(pipeline, orders.placed("p-2", at=NOW, customer=customer, order=later))
    drain(pipeline)  # the third counts the two stored before it
    with Session(engine) as s:
        facts = {
            row.explanation["event"]["id"]: row.explanation["faq_conditions"]
            for row in s.scalars(select(OutboxEmailRow))
        }
    assert facts["p-0"]["first_order"] is True
    assert facts["p-1"]["first_order"] is False
    assert facts["p-2"]["first_order"] is False


def test_customers_votes_move_the_ranking_a_little_and_say_so(tmp_path: Path) -> None:
    from aftercare.enrichment.faq.selection import VOTE_WEIGHT, Votes

    _snippet(tmp_path, "helps", "question: Helps?\nkinds: [order_shipped]\npriority: 0.30")
    _snippet(tmp_path, "vague", "question: Vague?\nkinds: [order_shipped]\npriority: 0.35")
    library = load_snippets(tmp_path)
    today = date(2026, 12, 3)
    assert Votes(0, 0).factor == 1.0 and Votes(3, 0).factor < 1.2
    assert 1.4 < Votes(1000, 0).factor <= 1.5 and 0.5 <= Votes(0, 1000).factor < 0.6
    assert Votes(int(VOTE_WEIGHT), int(VOTE_WEIGHT)).factor == 1.0
    few = {("order_shipped", "vague"): Votes(0, 2)}  # two "no" clicks: not enough
    chosen = FaqSelector(library, per_email=1, votes=few).choose("order_shipped", "en", {}, today)
    assert [c.snippet.id for c in chosen] == ["vague"]
    many = {("order_shipped", "vague"): Votes(3, 40), ("order_shipped", "helps"): Votes(30, 2)}
    chosen = FaqSelector(library, per_email=1, votes=many).choose("order_shipped", "en", {}, today)
    assert [c.snippet.id for c in chosen] == ["helps"]
    assert "marked helpful 30 of 32 times" in chosen[0].why
    other_kind = {("order_confirmation", "vague"): Votes(0, 500)}
    chosen = FaqSelector(library, per_email=1, votes=other_kind).choose(
        "order_shipped", "en", {}, today
    )
    assert [c.snippet.id for c in chosen] == ["vague"]  # votes count for their kind only


def test_recorded_votes_reach_the_next_drains_ranking(engine) -> None:  # noqa: ANN001
    from aftercare.drain.pipeline import faq_selector_for
    from aftercare.settings import PROJECT_ROOT
    from aftercare.storage.customer_actions import faq_votes, record_action
    from aftercare.storage.database import session_factory

    sessions = session_factory(engine)
    now = datetime(2026, 12, 3, tzinfo=UTC)
    with sessions.begin() as session:
        for n, value in enumerate(["yes", "yes", "no"]):
            record_action(
                session,
                email_key=f"order_shipped:sample:o-{n}:f-1",
                email_kind="order_shipped",
                order=("sample", f"o-{n}"),
                action="faq_helpful",
                subject="track-order",
                value=value,
                now=now,
            )
    with sessions() as session:
        assert faq_votes(session) == {("order_shipped", "track-order"): (2, 1)}
    selector = faq_selector_for(PROJECT_ROOT / "faq_snippets", 3, "en", sessions)
    assert selector is not None
    assert selector.votes[("order_shipped", "track-order")].helpful == 2
