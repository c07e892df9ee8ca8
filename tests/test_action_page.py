"""``/a/{token}`` on the real receiver over HTTP, on SQLite and PostgreSQL.

A rating, an FAQ vote or "I'm happy to wait" is recorded by the GET a click makes (and by
a mail scanner's: it is harmless and can be changed on the page); a refund or a reship only
by the page's confirming POST. Repeated clicks update one row. A forged, altered or
expired link records nothing. The page speaks the email's language.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from aftercare.action_links import ActionLinks
from aftercare.receiver import InboxWriter, Receiver, build_receiver
from aftercare.receiver.action_page import ActionPages, contrast
from aftercare.settings import Settings, StoreFacts
from aftercare.storage.customer_actions import (
    MAX_COMMENT_CHARS,
    actions_since,
    confirm_action,
    record_action,
)
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.outbox import NewOutboxEmail, add_email
from aftercare.storage.schema import CustomerActionRow
from aftercare.storage.schema_migrations import upgrade
from tests.test_opt_out_page import aftercare_logs  # noqa: F401 - a fixture
from tests.webhook_server import running_receiver

SECRET = "action-page-test-secret-of-at-least-32-chars"
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
ADDRESS = "anna.keller@example.com"
REFUNDED = "shopify:order:5801234567890:refund:987654321098:refunded"
DELAYED = "shopify:order:5801234567890:delayed:2025-03-14"
SHIPPED = "shopify:order:5801234567890:fulfilment:4400112233:shipped"
STORE = StoreFacts(name="Fern & Field", brand_colour="#2f5d50")


class Clock:
    """The receiver's time, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def mime(lang: str) -> bytes:
    """A stored email as the drain writes it: a text part and an HTML part in ``lang``."""
    message = EmailMessage()
    message["From"] = "Fern & Field <hello@fernandfield.example>"
    message["To"] = ADDRESS
    message["Subject"] = "Your order"
    message.set_content("Hello Anna")
    message.add_alternative(
        f'<!doctype html><html lang="{lang}" dir="ltr"><body><p>Hallo</p></body></html>',
        subtype="html",
    )
    return message.as_bytes()


def store_email(
    engine: Engine, key: str, kind: str, *, lang: str = "en", locale: str | None = None
) -> None:
    explanation = {"event": {"source": "shopify", "id": "1", "kind": kind}}
    if locale is not None:
        explanation["locale"] = locale
    with session_factory(engine).begin() as session:
        add_email(
            session,
            NewOutboxEmail(
                idempotency_key=key,
                inbox_event_id=None,
                kind=kind,
                recipient=ADDRESS,
                sender="hello@fernandfield.example",
                subject="Your order",
                message_id=f"<{kind}@fernandfield.example>",
                mime=mime(lang),
                explanation=explanation,
            ),
            NOW - timedelta(days=1),
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def links() -> ActionLinks:
    # Made the day the emails were, an hour before the clicks.
    return ActionLinks(SECRET, "http://unused.example", clock=(NOW - timedelta(hours=1)).timestamp)


def serve(engine: Engine, links: ActionLinks, clock: Clock, store: StoreFacts = STORE):
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters={},
        nudge=lambda: None,
        clock=clock,
        actions=ActionPages(links, store),
    )
    return writer, running_receiver(receiver)


@pytest.fixture
def url(engine: Engine, links: ActionLinks, clock: Clock) -> Iterator[str]:
    store_email(engine, REFUNDED, "order_refunded")
    store_email(engine, DELAYED, "order_delayed")
    store_email(engine, SHIPPED, "order_shipped")
    writer, running = serve(engine, links, clock)
    try:
        with running as base:
            yield base
    finally:
        writer.close()


def link(base: str, links: ActionLinks, key: str, action: str, value: str, subject: str = ""):
    return f"{base}/a/{links.token(key, action, value, subject)}"  # type: ignore[arg-type]


def rows(engine: Engine) -> list[CustomerActionRow]:
    with Session(engine) as s:
        return list(s.scalars(select(CustomerActionRow).order_by(CustomerActionRow.id)))


# --- ratings ----------------------------------------------------------------------------------


def test_a_rating_click_is_recorded_and_the_page_offers_the_other_answers(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    assert httpx.head(link(url, links, REFUNDED, "rating", "good")).status_code == 200
    assert rows(engine) == []  # a HEAD (a link checker) records nothing
    answer = httpx.get(link(url, links, REFUNDED, "rating", "good"))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = answer.text
    assert '<html lang="en">' in page
    assert "Thanks — you rated your order <em>good</em>." in page
    assert "Change your answer?" in page
    assert '<button type="submit" name="value" value="okay">Okay</button>' in page
    assert '<button type="submit" name="value" value="bad">Bad</button>' in page
    assert 'value="good">Good</button>' not in page
    assert '<label for="comment">' in page and '<textarea id="comment" name="comment"' in page
    assert "Fern &amp; Field" in page and "#2f5d50" in page
    assert "<script" not in page and ADDRESS not in page
    (row,) = rows(engine)
    assert (row.email_key, row.email_kind, row.action, row.subject, row.value) == (
        REFUNDED,
        "order_refunded",
        "rating",
        "",
        "good",
    )
    assert (row.order_source, row.order_external_id) == ("shopify", "5801234567890")
    assert (row.first_clicked_at, row.last_clicked_at, row.clicks) == (NOW, NOW, 1)
    assert row.confirmed_at is None and row.forwarded_at is None and row.forward_attempts == 0


def test_repeated_clicks_update_one_row_and_a_changed_answer_is_forwarded_again(
    url: str, links: ActionLinks, engine: Engine, clock: Clock
) -> None:
    good = link(url, links, REFUNDED, "rating", "good")
    httpx.get(good)
    clock.now = NOW + timedelta(minutes=5)
    httpx.get(good)
    (row,) = rows(engine)
    assert (row.value, row.clicks, row.first_clicked_at, row.last_clicked_at) == (
        "good",
        2,
        NOW,
        NOW + timedelta(minutes=5),
    )
    with Session(engine) as s, s.begin():  # the store was told
        s.execute(update(CustomerActionRow).values(forwarded_at=NOW, forward_attempts=1))
    clock.now = NOW + timedelta(minutes=6)
    httpx.get(good)  # the same answer again: nothing new for the store
    (row,) = rows(engine)
    assert (row.clicks, row.forwarded_at) == (3, NOW)
    clock.now = NOW + timedelta(minutes=7)
    changed = httpx.post(good, data={"value": "bad"})  # "Change your answer?"
    assert changed.status_code == 200
    assert "you rated your order <em>bad</em>" in changed.text
    (row,) = rows(engine)
    assert (row.value, row.clicks, row.first_clicked_at) == ("bad", 4, NOW)
    assert (row.forwarded_at, row.forward_attempts) == (None, 0)  # due to be told again
    httpx.get(link(url, links, REFUNDED, "rating", "okay"))  # another link of the email
    (row,) = rows(engine)
    assert (row.value, row.clicks) == ("okay", 5)


def test_a_rating_takes_a_comment(url: str, links: ActionLinks, engine: Engine) -> None:
    bad = link(url, links, REFUNDED, "rating", "bad")
    httpx.get(bad)
    answer = httpx.post(bad, data={"value": "bad", "comment": "  The box was crushed.\n"})
    assert answer.status_code == 200
    assert "Thanks for your comment: Fern &amp; Field will read it." in answer.text
    assert "crushed" not in answer.text  # not shown again: a link may be forwarded
    (row,) = rows(engine)
    assert (row.value, row.comment, row.clicks) == ("bad", "The box was crushed.", 2)
    httpx.post(bad, data={"value": "okay"})  # no comment this time: the earlier one stays
    assert rows(engine)[0].comment == "The box was crushed."
    httpx.post(bad, data={"value": "okay", "comment": "x" * 5000})
    assert rows(engine)[0].comment == "x" * MAX_COMMENT_CHARS


def test_a_post_with_an_answer_the_action_does_not_have_records_nothing(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    answer = httpx.post(link(url, links, REFUNDED, "rating", "good"), data={"value": "great"})
    assert answer.status_code == 400
    assert "nothing was recorded" in answer.text
    assert rows(engine) == []


# --- FAQ answers ------------------------------------------------------------------------------


def test_faq_votes_are_kept_per_snippet(url: str, links: ActionLinks, engine: Engine) -> None:
    yes = httpx.get(link(url, links, SHIPPED, "faq_helpful", "yes", "where-is-my-order"))
    no = httpx.get(link(url, links, SHIPPED, "faq_helpful", "no", "returns-how"))
    assert (yes.status_code, no.status_code) == (200, 200)
    assert "Thanks — we're glad this answer helped." in yes.text
    assert 'value="no">It didn\'t help</button>' in yes.text
    assert "we'll make this answer better" in no.text
    assert "Reply to the email and Fern &amp; Field will help." in no.text
    assert 'value="yes">It helped</button>' in no.text
    assert [(r.action, r.subject, r.value, r.email_kind) for r in rows(engine)] == [
        ("faq_helpful", "where-is-my-order", "yes", "order_shipped"),
        ("faq_helpful", "returns-how", "no", "order_shipped"),
    ]
    changed = httpx.post(
        link(url, links, SHIPPED, "faq_helpful", "no", "returns-how"), data={"value": "yes"}
    )
    assert changed.status_code == 200
    assert [(r.subject, r.value, r.clicks) for r in rows(engine)] == [
        ("where-is-my-order", "yes", 1),
        ("returns-how", "yes", 2),
    ]
    # A vote takes no comment, whatever is posted.
    httpx.post(
        link(url, links, SHIPPED, "faq_helpful", "no", "returns-how"),
        data={"value": "no", "comment": "hello"},
    )
    assert rows(engine)[1].comment is None


# --- delay choices ----------------------------------------------------------------------------


def test_a_scanners_get_of_the_refund_link_asks_and_only_the_customers_post_records_it(
    url: str, links: ActionLinks, engine: Engine, clock: Clock
) -> None:
    refund = link(url, links, DELAYED, "delay_choice", "refund")
    for _ in range(3):  # Safe Links, the gateway, a preview: every one a GET
        asked = httpx.get(refund)
        assert asked.status_code == 200
        assert "Cancel your order and get a refund?" in asked.text
        assert "Nothing has changed yet" in asked.text
        assert '<button type="submit" class="primary">Cancel my order and refund me</button>' in (
            asked.text
        )
        assert '<input type="hidden" name="confirm" value="yes">' in asked.text
    assert httpx.head(refund).status_code == 200
    assert rows(engine) == []
    unconfirmed = httpx.post(refund, data={"value": "refund"})  # no confirmation field
    assert unconfirmed.status_code == 400
    assert rows(engine) == []
    clock.now = NOW + timedelta(minutes=2)
    done = httpx.post(refund, data={"value": "refund", "confirm": "yes"})
    assert done.status_code == 200
    assert "Done — you asked for a refund." in done.text
    assert "Fern &amp; Field has your request and will cancel your order and refund you" in (
        done.text
    )
    (row,) = rows(engine)
    assert (row.action, row.value, row.confirmed_at, row.clicks) == (
        "delay_choice",
        "refund",
        NOW + timedelta(minutes=2),
        1,
    )
    again = httpx.get(refund)  # the scanner again, later: the request stands, no button
    assert "Done — you asked for a refund." in again.text and "<form" not in again.text
    assert rows(engine)[0].clicks == 1


def test_sending_what_is_ready_now_is_asked_and_confirmed_like_a_refund(
    url: str, links: ActionLinks, engine: Engine, clock: Clock
) -> None:
    ready = link(url, links, DELAYED, "delay_choice", "ship_ready")
    asked = httpx.get(ready)
    assert asked.status_code == 200 and "Get what is ready now" in asked.text
    assert rows(engine) == []
    done = httpx.post(ready, data={"value": "ship_ready", "confirm": "yes"})
    assert done.status_code == 200 and "what is ready will be sent now" in done.text
    (row,) = rows(engine)
    assert (row.value, row.confirmed_at) == ("ship_ready", NOW)


def test_a_get_of_the_wait_link_never_undoes_a_confirmed_refund(
    url: str, links: ActionLinks, engine: Engine, clock: Clock
) -> None:
    httpx.post(
        link(url, links, DELAYED, "delay_choice", "refund"),
        data={"value": "refund", "confirm": "yes"},
    )
    wait = link(url, links, DELAYED, "delay_choice", "wait")
    scanned = httpx.get(wait)
    assert scanned.status_code == 200
    assert "You've already asked Fern &amp; Field to cancel your order and refund you." in (
        scanned.text
    )
    assert "Keep waiting for my order</button>" in scanned.text
    (row,) = rows(engine)
    assert (row.value, row.confirmed_at) == ("refund", NOW)
    clock.now = NOW + timedelta(hours=1)
    kept = httpx.post(wait, data={"value": "wait"})  # the customer, on purpose
    assert "Thanks — we'll keep your order coming." in kept.text
    (row,) = rows(engine)
    assert (row.value, row.confirmed_at, row.clicks) == ("wait", None, 2)


def test_happy_to_wait_is_recorded_from_the_click(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    answer = httpx.get(link(url, links, DELAYED, "delay_choice", "wait"))
    assert answer.status_code == 200
    assert "Thanks — we'll keep your order coming." in answer.text
    assert "<form" not in answer.text
    (row,) = rows(engine)
    assert (row.value, row.confirmed_at, row.email_kind) == ("wait", None, "order_delayed")


def test_a_delay_link_records_only_the_choice_it_names(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    """The email offered that option; another (the store may offer no reship) is refused."""
    refund = link(url, links, DELAYED, "delay_choice", "refund")
    answer = httpx.post(refund, data={"value": "reship", "confirm": "yes"})
    assert answer.status_code == 400
    assert rows(engine) == []
    reship = link(url, links, DELAYED, "delay_choice", "reship")
    assert "Send it again by a faster service" in httpx.get(reship).text
    httpx.post(reship, data={"confirm": "yes"})  # the value defaults to the link's
    (row,) = rows(engine)
    assert (row.value, row.confirmed_at) == ("reship", NOW)


# --- links that do nothing --------------------------------------------------------------------


def test_a_forged_or_altered_link_gets_a_clear_page_and_records_nothing(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    token = links.token(DELAYED, "delay_choice", "wait")
    payload, timestamp, signature = token.rsplit(".", 2)
    other = ActionLinks("someone-elses-secret-of-32-characters!!", "http://x.example")
    for bad in (
        f"dr{payload[2:]}.{timestamp}.{signature}",  # "wait" made "refund"
        f"{payload}.{timestamp}.{signature[:-4]}",  # cut short
        other.token(DELAYED, "delay_choice", "refund"),  # another secret
        "forged",
    ):
        for method in ("GET", "POST"):
            answer = httpx.request(
                method, f"{url}/a/{bad}", data={"value": "refund", "confirm": "yes"}
            )
            assert answer.status_code == 400, (method, bad)
            assert "This link doesn't work" in answer.text
            assert "nothing was recorded" in answer.text
            assert "<form" not in answer.text
    assert rows(engine) == []


def test_an_expired_link_is_a_410_in_the_emails_language_and_records_nothing(
    engine: Engine, clock: Clock
) -> None:
    store_email(engine, DELAYED, "order_delayed", lang="de")
    made = NOW - timedelta(days=61)
    old = ActionLinks(SECRET, "http://x.example", clock=made.timestamp)
    writer, running = serve(engine, old, clock)
    try:
        with running as base:
            for method in ("GET", "POST"):
                answer = httpx.request(
                    method, link(base, old, DELAYED, "delay_choice", "wait"), data={}
                )
                assert answer.status_code == 410
                assert '<html lang="de">' in answer.text
                assert "Dieser Link ist abgelaufen" in answer.text
                assert "60 Tage" in answer.text
            clock.now = made + timedelta(days=59)
            assert httpx.get(link(base, old, DELAYED, "delay_choice", "wait")).status_code == 200
    finally:
        writer.close()
    assert [r.value for r in rows(engine)] == ["wait"]  # only the click in time


def test_a_link_to_an_email_aftercare_has_no_record_of_records_nothing(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    answer = httpx.get(link(url, links, "shopify:order:1:order_confirmation", "rating", "good"))
    assert answer.status_code == 410
    assert "We can't find the email this link came from" in answer.text
    assert rows(engine) == []


# --- languages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "locale", "default", "expected", "says"),
    [
        ("de", None, "en", "de", "Danke — Sie haben Ihre Bestellung mit <em>gut</em> bewertet."),
        ("fr-CA", None, "en", "fr", "Merci — vous avez jugé votre commande <em>bien</em>."),
        ("en", "de_AT", "en", "de", "Antwort ändern?"),  # the explanation's locale first
        ("ja", None, "fr", "fr", "Changer votre réponse ?"),  # not spoken: the store's
        ("ja", None, "ja", "en", "Thanks — you rated your order <em>good</em>."),
    ],
)
def test_the_page_speaks_the_emails_language(
    engine: Engine,
    links: ActionLinks,
    clock: Clock,
    lang: str,
    locale: str | None,
    default: str,
    expected: str,
    says: str,
) -> None:
    store_email(engine, REFUNDED, "order_refunded", lang=lang, locale=locale)
    store = STORE.model_copy(update={"default_locale": default})
    writer, running = serve(engine, links, clock, store)
    try:
        with running as base:
            answer = httpx.get(link(base, links, REFUNDED, "rating", "good"))
    finally:
        writer.close()
    assert answer.status_code == 200
    assert f'<html lang="{expected}">' in answer.text
    assert says in answer.text


@pytest.mark.parametrize(
    ("lang", "asks", "button"),
    [
        ("de", "Bestellung stornieren und Geld zurück?", "Bestellung stornieren und erstatten"),
        (
            "fr",
            "Annuler votre commande et être remboursé ?",
            "Annuler ma commande et me rembourser",
        ),
    ],
)
def test_the_refund_confirmation_in_each_language(
    engine: Engine, links: ActionLinks, clock: Clock, lang: str, asks: str, button: str
) -> None:
    store_email(engine, DELAYED, "order_delayed", lang=lang)
    writer, running = serve(engine, links, clock)
    try:
        with running as base:
            refund = link(base, links, DELAYED, "delay_choice", "refund")
            asked = httpx.get(refund)
            done = httpx.post(refund, data={"value": "refund", "confirm": "yes"})
    finally:
        writer.close()
    assert asks in asked.text and f">{button}</button>" in asked.text
    assert done.status_code == 200 and f'<html lang="{lang}">' in done.text
    assert rows(engine)[0].confirmed_at == NOW


def test_an_email_whose_message_was_emptied_gets_the_stores_language(
    engine: Engine, links: ActionLinks, clock: Clock
) -> None:
    store_email(engine, REFUNDED, "order_refunded", lang="fr")
    with Session(engine) as s, s.begin():  # the retention period passed
        from aftercare.storage.schema import OutboxEmailRow

        s.execute(update(OutboxEmailRow).values(mime=b""))
    writer, running = serve(engine, links, clock, STORE.model_copy(update={"default_locale": "de"}))
    try:
        with running as base:
            answer = httpx.get(link(base, links, REFUNDED, "rating", "bad"))
    finally:
        writer.close()
    assert '<html lang="de">' in answer.text and "<em>schlecht</em>" in answer.text


# --- what is logged and stored ----------------------------------------------------------------


def test_no_log_line_holds_an_address_or_a_comment(
    url: str,
    links: ActionLinks,
    caplog: pytest.LogCaptureFixture,
    aftercare_logs: list[logging.LogRecord],  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    rating = link(url, links, REFUNDED, "rating", "good")
    httpx.get(rating)
    httpx.post(rating, data={"value": "bad", "comment": "Anna here, the box was crushed"})
    httpx.get(link(url, links, DELAYED, "delay_choice", "refund"))
    httpx.post(link(url, links, DELAYED, "delay_choice", "refund"), data={"confirm": "yes"})
    httpx.get(f"{url}/a/forged")
    messages = [r.getMessage() for r in [*caplog.records, *aftercare_logs]]
    assert any("customer action recorded: rating bad" in m for m in messages)
    assert any("(confirmed)" in m for m in messages)
    assert any("action link refused" in m for m in messages)
    text = " ".join(messages).lower() + caplog.text.lower()
    assert "anna" not in text and "example.com" not in text and "crushed" not in text


def test_the_store_functions_on_their_own(engine: Engine) -> None:
    sessions = session_factory(engine)
    common = {"email_key": DELAYED, "email_kind": "order_delayed", "order": ("shopify", "58")}
    with sessions.begin() as s:
        first = record_action(
            s, **common, action="delay_choice", subject="", value="refund", now=NOW
        )
        assert first is not None and first.confirmed_at is None
        assert confirm_action(s, DELAYED, "delay_choice", "", "refund", NOW + timedelta(1))
        assert not confirm_action(s, DELAYED, "delay_choice", "", "refund", NOW)  # once
        assert not confirm_action(s, DELAYED, "delay_choice", "", "reship", NOW)
        blocked = record_action(
            s,
            **common,
            action="delay_choice",
            subject="",
            value="wait",
            now=NOW + timedelta(2),
            over_confirmed=False,
        )
        assert blocked is None
        record_action(
            s, **common, action="rating", subject="", value="good", now=NOW + timedelta(3)
        )
    with sessions() as s:
        assert [(a.action, a.value) for a in actions_since(s, NOW)] == [
            ("delay_choice", "refund"),
            ("rating", "good"),
        ]
        assert [a.action for a in actions_since(s, NOW + timedelta(2))] == ["rating"]
        assert [a.value for a in actions_since(s, NOW, action="delay_choice")] == ["refund"]
        (refund,) = actions_since(s, NOW, action="delay_choice")
        assert (refund.confirmed_at, refund.clicks) == (NOW + timedelta(1), 1)


# --- as ``aftercare serve`` builds it ---------------------------------------------------------


def test_serve_routes_the_action_pages_only_when_action_links_are_on(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'aftercare.db'}"
    upgrade(engine_for(database))
    store_email(engine_for(database), REFUNDED, "order_refunded")
    off = build_receiver(Settings(database_url=database, _env_file=None), nudge=lambda: None)
    on = build_receiver(
        Settings(database_url=database, action_links=True, _env_file=None), nudge=lambda: None
    )
    try:
        assert off.actions is None and on.actions is not None
        token = on.actions.links.token(REFUNDED, "rating", "good")
        with running_receiver(off) as base:
            assert httpx.get(f"{base}/a/{token}").status_code == 404
        with running_receiver(on) as base:
            answer = httpx.get(f"{base}/a/{token}")
            assert answer.status_code == 200
    finally:
        off.writer.close()
        on.writer.close()
    assert "you rated your order <em>good</em>" in answer.text


@pytest.mark.parametrize("brand", ["#2f5d50", "#ffd400", "#777777", "#000000", "#ffffff"])
def test_any_brand_colour_keeps_the_buttons_legible(brand: str) -> None:
    from aftercare.receiver.action_page import _Look

    look = _Look.of(StoreFacts(brand_colour=brand))
    assert contrast(look.brand, look.on_brand) >= 4.5
    assert contrast(look.accent, "#ffffff") >= 4.5


def test_a_customers_erasure_empties_their_comments_and_keeps_their_answers(
    url: str, links: ActionLinks, engine: Engine
) -> None:
    from aftercare.storage.erasure import StoredSubject, emails_of, erase

    rating = link(url, links, REFUNDED, "rating", "bad")
    httpx.post(rating, data={"value": "bad", "comment": "Anna Keller, the box was crushed"})
    with session_factory(engine).begin() as s:
        ids = emails_of(s.connection(), {ADDRESS}, ())
        erase(s, StoredSubject(emails=frozenset({ADDRESS})), inbox_ids=(), email_ids=ids, now=NOW)
    (row,) = rows(engine)
    assert (row.value, row.comment) == ("bad", None)
