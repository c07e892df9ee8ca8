"""``/opt-out/{token}`` on the real receiver over HTTP: a GET asks, a POST records.

A link scanner's GET changes nothing; the confirm button and a mailbox provider's RFC 8058
one-click POST both record the opt-out, without cookies or JavaScript; a token Aftercare did
not sign is a 400 that records nothing; no log line holds the address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain.pipeline import cross_sell_source_for
from aftercare.opt_out import OptOutLinks, address_hash
from aftercare.receiver import InboxWriter, Receiver, build_receiver
from aftercare.receiver.opt_out_page import OptOutPages
from aftercare.settings import Settings
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.schema import MarketingOptOutRow
from aftercare.storage.schema_migrations import upgrade
from aftercare.stores.registry import build_adapters
from tests.webhook_server import running_receiver

SECRET = "receiver-test-secret-of-at-least-32-chars"
ADDRESS = "Anna.Keller@example.com"
STORE = "Fern & Field"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def aftercare_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``aftercare`` loggers, whatever ``configure_logging`` (run by an
    earlier CLI test) did to propagation and levels."""
    logger, handler = logging.getLogger("aftercare"), _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def links() -> OptOutLinks:
    return OptOutLinks(SECRET, "http://unused.example")


@pytest.fixture
def url(engine: Engine, links: OptOutLinks) -> Iterator[str]:
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(Settings(_env_file=None)),
        nudge=lambda: None,
        opt_out=OptOutPages(links, STORE),
    )
    try:
        with running_receiver(receiver) as base:
            yield base
    finally:
        writer.close()


def _opt_outs(engine: Engine) -> list[MarketingOptOutRow]:
    with Session(engine) as s:
        return list(s.scalars(select(MarketingOptOutRow)))


def _page_of(links: OptOutLinks, url: str, address: str = ADDRESS) -> str:
    return f"{url}/opt-out/{links.token(address, 'shopify')}"


def test_a_get_shows_the_question_in_the_stores_name_and_records_nothing(
    url: str, links: OptOutLinks, engine: Engine
) -> None:
    answer = httpx.get(_page_of(links, url))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = answer.text
    assert '<html lang="en">' in page
    assert "You'll get no more product suggestions from Fern &amp; Field" in page
    assert "Your order emails still come" in page
    assert '<form method="post">' in page and '<button type="submit">' in page
    assert "<script" not in page
    assert ADDRESS.lower() not in page.lower()
    assert httpx.head(_page_of(links, url)).status_code == 200  # a scanner's HEAD too
    assert _opt_outs(engine) == []


def test_the_confirm_button_records_the_opt_out(
    url: str, links: OptOutLinks, engine: Engine
) -> None:
    answer = httpx.post(_page_of(links, url), data={"confirm": "opt-out"})
    assert answer.status_code == 200
    assert "Done: no more product suggestions" in answer.text
    assert "Your order emails still come" in answer.text
    (row,) = _opt_outs(engine)
    assert row.address_hash == address_hash(ADDRESS)
    assert row.via == "opt-out page"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_one_click_post_records_it_without_cookies_or_javascript(
    url: str, links: OptOutLinks, engine: Engine, encoding: str
) -> None:
    # RFC 8058 section 3.1: the body is the List-Unsubscribe-Post value, multipart/form-data
    # or application/x-www-form-urlencoded; nothing else is sent.
    with httpx.Client() as client:  # a fresh client: no cookies, no earlier GET
        if encoding == "urlencoded":
            answer = client.post(
                _page_of(links, url),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            answer = client.post(
                _page_of(links, url), files={"List-Unsubscribe": (None, "One-Click")}
            )
        assert not client.cookies
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers
    (row,) = _opt_outs(engine)
    assert (row.address_hash, row.via) == (address_hash(ADDRESS), "one-click")


def test_a_second_click_is_fine_and_keeps_one_entry(
    url: str, links: OptOutLinks, engine: Engine
) -> None:
    first = httpx.post(_page_of(links, url), data={"List-Unsubscribe": "One-Click"})
    second = httpx.post(_page_of(links, url), data={"confirm": "opt-out"})
    assert (first.status_code, second.status_code) == (200, 200)
    (row,) = _opt_outs(engine)
    assert row.via == "one-click"


@pytest.mark.parametrize(
    "body",
    [
        {"content": b""},
        {"data": {"List-Unsubscribe": "Maybe"}},
        {"data": {"confirm": "yes please"}},
        {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "text/plain"}},
        {"files": {"upload": ("a.txt", b"List-Unsubscribe=One-Click")}},
    ],
    ids=["empty", "other-value", "other-confirm", "not-a-form", "a-file"],
)
def test_a_post_without_a_confirmation_asks_again_and_records_nothing(
    url: str, links: OptOutLinks, engine: Engine, body: dict
) -> None:
    answer = httpx.post(_page_of(links, url), **body)
    assert answer.status_code == 400
    assert "Nothing has changed yet" in answer.text
    assert '<button type="submit">' in answer.text
    assert _opt_outs(engine) == []


def test_a_tampered_token_is_a_400_with_a_clear_page_and_records_nothing(
    url: str, links: OptOutLinks, engine: Engine
) -> None:
    token = links.token(ADDRESS, "shopify")
    payload, signature = token.split(".")
    other = links.token("ben@example.com", "shopify").split(".")[0]
    for bad in (f"{other}.{signature}", f"{payload}.{signature[:-3]}xyz", payload[:40]):
        for method in ("GET", "POST"):
            answer = httpx.request(
                method, f"{url}/opt-out/{bad}", data={"List-Unsubscribe": "One-Click"}
            )
            assert answer.status_code == 400, (method, bad)
            assert "This link doesn't work" in answer.text
            assert "nothing was changed" in answer.text
            assert "<form" not in answer.text
    assert _opt_outs(engine) == []


def test_a_token_signed_with_another_secret_is_refused(url: str, engine: Engine) -> None:
    foreign = OptOutLinks("someone-elses-secret-of-32-characters!", "http://x.example")
    answer = httpx.post(
        f"{url}/opt-out/{foreign.token(ADDRESS)}", data={"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 400
    assert _opt_outs(engine) == []


def test_no_log_line_holds_the_address(
    url: str,
    links: OptOutLinks,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    aftercare_logs: list[logging.LogRecord],
) -> None:
    caplog.set_level(logging.DEBUG)
    httpx.get(_page_of(links, url))
    httpx.post(_page_of(links, url), content=b"")
    httpx.post(_page_of(links, url), data={"List-Unsubscribe": "One-Click"})
    httpx.post(_page_of(links, url), data={"confirm": "opt-out"})
    httpx.post(f"{url}/opt-out/forged", data={"List-Unsubscribe": "One-Click"})
    messages = [r.getMessage() for r in [*caplog.records, *aftercare_logs]]
    assert any("opt-out recorded" in m for m in messages)  # there was something to log
    assert any("already on the list" in m for m in messages)
    text = " ".join(messages).lower() + caplog.text.lower()
    assert "anna" not in text and "example.com" not in text


# --- as ``aftercare serve`` builds it ---------------------------------------------------------


def test_serve_builds_the_opt_out_page_on_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'aftercare.db'}",
        store={"name": "Moss & Stone"},
        _env_file=None,
    )
    upgrade(engine_for(settings.database_url))
    receiver = build_receiver(settings, nudge=lambda: None)
    try:
        assert receiver.opt_out is not None
        token = receiver.opt_out.links.token(ADDRESS)
        with running_receiver(receiver) as base:
            shown = httpx.get(f"{base}/opt-out/{token}")
            done = httpx.post(f"{base}/opt-out/{token}", data={"confirm": "opt-out"})
    finally:
        receiver.writer.close()
    assert shown.status_code == 200 and "Moss &amp; Stone" in shown.text
    assert done.status_code == 200
    assert (tmp_path / "aftercare.db.link-secret").exists()


def test_serve_on_a_database_server_without_a_link_secret_takes_webhooks_without_opt_out_pages(
    postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Webhooks and order emails must not wait for a marketing setting: the receiver
    starts, says what is off, and the drains send no recommendations meanwhile."""
    settings = Settings(database_url=postgresql_url, _env_file=None)
    with caplog.at_level(logging.ERROR, logger="aftercare"):
        receiver = build_receiver(settings, nudge=lambda: None)
    receiver.writer.close()
    assert receiver.opt_out is None
    assert "AFTERCARE_LINK_SECRET is not set" in caplog.text
    assert cross_sell_source_for(settings) is None
    configured = Settings(
        database_url=postgresql_url, link_secret=SecretStr(SECRET), _env_file=None
    )
    receiver = build_receiver(configured, nudge=lambda: None)
    receiver.writer.close()
    assert receiver.opt_out is not None


def test_a_receiver_without_opt_out_pages_routes_none(engine: Engine, links: OptOutLinks) -> None:
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters={},
        nudge=lambda: None,
    )
    try:
        with running_receiver(receiver) as base:
            assert httpx.get(_page_of(links, base)).status_code == 404
    finally:
        writer.close()
