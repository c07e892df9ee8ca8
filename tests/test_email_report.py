"""``aftercare report``: per kind and locale, what was sent and what customers did with it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, drain, receive_event
from aftercare.learning.email_report import Click, email_report
from aftercare.learning.ticket_export import Ticket
from aftercare.sample_store import orders
from aftercare.storage.schema import OutboxEmailRow
from tests.conftest import Clock


def _story(pipeline: Pipeline, n: int, locale: str | None = None) -> None:
    customer = orders.customer(external_id=f"c-{n}", email=f"c{n}@example.com", locale=locale)
    order_id = f"o-{n}"
    receive_event(
        pipeline,
        orders.placed(f"evt-placed-{n}", customer=customer, external_id=order_id, number=f"#{n}"),
    )
    receive_event(pipeline, orders.shipped(f"evt-shipped-{n}", order_id=order_id))
    drain(pipeline)


def _keys(engine: Engine, kind: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(OutboxEmailRow.idempotency_key)
                .where(OutboxEmailRow.kind == kind)
                .order_by(OutboxEmailRow.id)
            )
        )


def test_the_report_counts_per_kind_and_locale_with_ratings_and_faq_votes(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    _story(clocked_pipeline, 1)
    _story(clocked_pipeline, 2)
    _story(clocked_pipeline, 3, locale="de-DE")
    shipped = _keys(engine, "order_shipped")
    with Session(engine) as s:
        row = s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.idempotency_key == shipped[0]))
        first = row.one().explanation
    shown = first["likely_questions"][0]["id"]
    clicks = [
        Click(shipped[0], "rating", "", "good"),
        Click(shipped[1], "rating", "", "bad"),
        Click(shipped[0], "faq_helpful", shown, "yes"),
        Click(shipped[1], "faq_helpful", shown, "no"),
        Click(shipped[2], "rating", "", "okay"),
        Click("an email of another month", "rating", "", "good"),
    ]
    with Session(engine) as s:
        found = email_report(
            s, clock.now - timedelta(days=1), clock.now + timedelta(days=1), clicks
        )
    # The locale is the language the email was written in: with English templates only,
    # the German customer's email is in English too (issue 18 brings more).
    by = {(k.kind, k.locale): k for k in found.kinds}
    assert set(by) == {("order_confirmation", "en"), ("order_shipped", "en")}
    english = by[("order_shipped", "en")]
    assert english.sent == 3 and by[("order_confirmation", "en")].sent == 3
    assert dict(english.ratings) == {"good": 1, "bad": 1, "okay": 1}
    assert english.csat == 1 / 3
    votes = english.snippets[shown]
    assert (votes.shown, votes.helpful, votes.not_helpful) == (3, 1, 1)
    assert votes.helpful_share == 0.5
    record = found.as_record()
    assert json.loads(json.dumps(record))["kinds"][0]["kind"] == "order_confirmation"


def test_tickets_per_100_emails_of_each_kind(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    for n in range(1, 5):
        _story(clocked_pipeline, n)
    after_shipping = orders.SHIPPED_AT + timedelta(hours=2)
    tickets = [
        Ticket(after_shipping, "1", None, "where is my parcel"),
        Ticket(after_shipping, None, "c2@example.com", "tracking does not work"),
        Ticket(after_shipping - timedelta(days=90), "3", None, "long before any email"),
    ]
    with Session(engine) as s:
        found = email_report(s, orders.PLACED_AT - timedelta(days=1), orders.SENT_AT, (), tickets)
    assert found.deflection is not None
    by = {d.kind: d for d in found.deflection}
    assert by["order_shipped"].emails == 4 and by["order_shipped"].tickets == 2
    assert by["order_shipped"].per_100 == 50.0
    assert by["order_confirmation"].tickets == 0


def test_the_commands_show_the_answers_and_the_report(
    clocked_pipeline: Pipeline,
    engine: Engine,
    clock: Clock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from aftercare.cli import build_cli
    from aftercare.storage.customer_actions import record_action

    _story(clocked_pipeline, 1)
    (key,) = _keys(engine, "order_shipped")
    now = datetime.now(UTC)  # the commands look back from the real clock
    with clocked_pipeline.sessions.begin() as session:
        record_action(
            session,
            email_key=key,
            email_kind="order_shipped",
            order=("sample", "o-1"),
            action="rating",
            subject="",
            value="bad",
            now=now,
            comment="The box was crushed",
        )
        session.execute(
            OutboxEmailRow.__table__.update().values(created_at=now - timedelta(hours=1))
        )
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    listed = CliRunner().invoke(build_cli(), ["actions", "list"])
    assert listed.exit_code == 0, listed.output
    said = " ".join(listed.output.split())
    row = next(line for line in listed.output.splitlines() if "o-1" in line)
    assert all(word in row for word in ("order_shipped", "o-1", "rating", "bad"))
    assert "The box was crushed" in said
    assert "not yet" in said  # no endpoint configured: the store was not told
    reported = CliRunner().invoke(build_cli(), ["report", "--since", "2d", "--json"])
    assert reported.exit_code == 0, reported.output
    kinds = {k["kind"]: k for k in json.loads(reported.output)["kinds"]}
    assert kinds["order_shipped"]["ratings"] == {"good": 0, "okay": 0, "bad": 1}
    assert kinds["order_shipped"]["csat"] == 0.0
    bad = CliRunner().invoke(build_cli(), ["report", "--since", "soon"])
    assert bad.exit_code != 0 and "is not a period like 30d" in " ".join(bad.output.split())
