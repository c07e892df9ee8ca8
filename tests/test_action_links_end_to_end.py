"""Issue 12's "done when": the emails' own links, clicked, are recorded, reported and told.

The real pipeline renders the sample story's emails with action links on; their links are
opened in headless Chromium (a GET, as a customer's browser or a mail scanner does) against
the real receiver over HTTP; the refund choice is confirmed with the page's own form; the
report counts them; the store's endpoint receives the confirmed choice. Forged or altered
links record nothing.
"""

from __future__ import annotations

import email
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain, receive_event
from aftercare.learning.email_report import email_report
from aftercare.receiver import build_receiver
from aftercare.report_commands import _clicks
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.customer_actions import actions_since
from aftercare.storage.database import session_factory
from aftercare.storage.schema import OutboxEmailRow
from tests.browser import _FLAGS, chromium
from tests.conftest import TEST_LINK_SECRET, Clock
from tests.ses_server import free_loopback_port
from tests.webhook_server import running_receiver

PORT = free_loopback_port()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        link_secret=SecretStr(TEST_LINK_SECRET),
        public_url=f"http://127.0.0.1:{PORT}",
        action_links=True,
        _env_file=None,
    )


@pytest.fixture
def pipeline(settings: Settings, engine: Engine, clock: Clock) -> Pipeline:
    return replace(build_pipeline(settings), sessions=session_factory(engine), clock=clock)


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    receiver = build_receiver(settings, nudge=lambda: None)
    try:
        with running_receiver(receiver, port=PORT) as base:
            yield base
    finally:
        receiver.writer.close()


def _html(engine: Engine, kind: str) -> str:
    with Session(engine) as s:
        row = s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.kind == kind)).one()
    return (
        email.message_from_bytes(row.mime, policy=policy.default).get_body(("html",)).get_content()
    )


def _links(html: str, text: str) -> list[str]:
    """The action links whose text ends with ``text`` (a rating link starts with an emoji)."""
    return re.findall(rf'<a[^>]*href="([^"]+/a/[^"]+)"[^>]*>[^<]*{re.escape(text)}\s*</a>', html)


def _open_in_chromium(link: str, folder: Path) -> str:
    return subprocess.run(
        [chromium(), *_FLAGS, f"--user-data-dir={folder}", "--dump-dom", link],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_the_emails_links_are_recorded_reported_and_forgeries_do_nothing(
    url: str, pipeline: Pipeline, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    for event in (orders.placed(), orders.delayed(), orders.refunded()):
        receive_event(pipeline, event)
    drain(pipeline)
    confirmation, delayed, refunded = (
        _html(engine, k) for k in ("order_confirmation", "order_delayed", "order_refunded")
    )
    (yes, *_) = _links(confirmation, "Yes")
    (good,) = _links(refunded, "Great")
    refund = re.search(r'href="([^"]+/a/[^"]+)"[^>]*>Cancel and refund my order', delayed)
    assert refund is not None and yes.startswith(url) and good.startswith(url)
    assert "Did this answer your question?" in confirmation

    page = _open_in_chromium(yes, tmp_path / "browser")
    assert "<html" in page and 'lang="en"' in page
    _open_in_chromium(good, tmp_path / "browser")
    asked = httpx.get(refund.group(1))
    assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.text
    with Session(engine) as s:
        assert {a.action for a in actions_since(s, clock.now.replace(year=2000))} == {
            "faq_helpful",
            "rating",
        }  # the refund waits for its confirmation
    assert (
        httpx.post(refund.group(1), data={"value": "refund", "confirm": "yes"}).status_code == 200
    )

    token = yes.rsplit("/", 1)[1]
    altered = yes[: -len(token)] + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert httpx.get(altered).status_code == 400
    forged = yes.replace(token, "ordershipped.fy.1700000000.c2lnbmF0dXJl")
    assert httpx.get(forged).status_code == 400

    with Session(engine) as s:
        recorded = actions_since(s, clock.now.replace(year=2000))
        assert sorted((a.action, a.value) for a in recorded) == [
            ("delay_choice", "refund"),
            ("faq_helpful", "yes"),
            ("rating", "good"),
        ]
        since = clock.now.replace(year=2000)
        report = email_report(s, since, clock.now.replace(year=2100), _clicks(s, since))
    by = {r.kind: r for r in report.kinds}
    assert by["order_refunded"].ratings["good"] == 1 and by["order_refunded"].csat == 1.0
    assert by["order_delayed"].delay_choices["refund"] == 1
    assert sum(v.helpful for v in by["order_confirmation"].snippets.values()) == 1
