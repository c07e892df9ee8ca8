"""After a crash, sending carries on by itself: what a dead drain held is due again at once,
``/healthz`` says how long the oldest due event and email have waited, and only one
``aftercare serve`` serves a Prefect home."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import claim_events, drain, prepare_emails, receive_event
from aftercare.drain.backlog import read_backlog, work_is_due
from aftercare.drain.recovery import recover_after_crash
from aftercare.receiver import InboxWriter, Receiver
from aftercare.sample_store import orders
from aftercare.storage import outbox
from aftercare.storage.database import session_factory
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow, OutboxStatus
from aftercare.stores.registry import build_adapters
from flows.serve import AnotherServeRunningError, only_serve
from tests.conftest import Clock
from tests.webhook_server import running_receiver

CLAIM_TIMEOUT = timedelta(minutes=10)


@pytest.fixture
def pipeline(clocked_pipeline):  # noqa: ANN001, ANN201
    return clocked_pipeline


def _statuses(engine: Engine) -> tuple[list[str], list[str]]:
    with Session(engine) as s:
        events = [r.status for r in s.scalars(select(InboxEventRow).order_by(InboxEventRow.id))]
        emails = [r.status for r in s.scalars(select(OutboxEmailRow).order_by(OutboxEmailRow.id))]
    return events, emails


def test_what_a_dead_drain_claimed_is_due_again_at_once_and_sent_once(pipeline, engine) -> None:  # noqa: ANN001
    receive_event(pipeline, orders.placed())
    receive_event(pipeline, orders.welcome())
    # A drain claims both events, prepares one email into the outbox, claims it for
    # sending and dies: nothing is due for ten minutes (the claim timeout).
    claimed = claim_events(pipeline)
    prepare_emails(pipeline, claimed[:1])
    with pipeline.sessions.begin() as s:
        outbox.claim_due_emails(s, limit=10, now=pipeline.clock())
    assert not work_is_due(pipeline.sessions, CLAIM_TIMEOUT, pipeline.clock())

    recovered = recover_after_crash(pipeline)

    assert recovered.events_released == 1  # the welcome event; the other one was processed
    assert recovered.sends_settled == 1  # the outbox folder can tell it was not written
    assert work_is_due(pipeline.sessions, CLAIM_TIMEOUT, pipeline.clock())
    report = drain(pipeline)
    assert report.send.sent == 2
    events, emails = _statuses(engine)
    assert events == [InboxStatus.PROCESSED, InboxStatus.PROCESSED]
    assert sorted(emails) == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert len(list(pipeline.settings.outbox_dir.glob("*.eml"))) == 2
    assert recover_after_crash(pipeline).events_released == 0  # nothing left to release


def test_the_backlog_says_since_when_the_oldest_event_and_email_have_been_due(
    pipeline,
    clock: Clock,  # noqa: ANN001
) -> None:
    empty = read_backlog(pipeline.sessions, CLAIM_TIMEOUT, clock())
    assert empty.waited_seconds(clock()) == (None, None)
    receive_event(pipeline, orders.placed())
    arrived = clock.now
    clock.now += timedelta(minutes=7)
    waiting = read_backlog(pipeline.sessions, CLAIM_TIMEOUT, clock())
    assert waiting.oldest_event_due_since == arrived
    assert waiting.waited_seconds(clock()) == (420.0, None)
    prepare_emails(pipeline, claim_events(pipeline))
    clock.now += timedelta(seconds=30)
    email_only = read_backlog(pipeline.sessions, CLAIM_TIMEOUT, clock())
    assert email_only.waited_seconds(clock()) == (None, 30.0)


def test_a_claim_older_than_the_timeout_counts_as_due_from_when_it_expired(
    pipeline,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.placed())
    claimed_at = clock.now
    claim_events(pipeline)
    clock.now += CLAIM_TIMEOUT + timedelta(seconds=45)
    backlog = read_backlog(pipeline.sessions, CLAIM_TIMEOUT, clock())
    assert backlog.oldest_event_due_since == claimed_at + CLAIM_TIMEOUT
    assert backlog.waited_seconds(clock())[0] == 45.0


@pytest.fixture
def receiver(pipeline, engine: Engine, clock: Clock) -> Iterator[Receiver]:  # noqa: ANN001
    writer = InboxWriter(engine)
    yield Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(pipeline.settings),
        nudge=lambda: None,
        clock=clock,
        claim_timeout=CLAIM_TIMEOUT,
        behind_after=timedelta(minutes=5),
    )
    writer.close()


def test_healthz_says_sending_is_behind_while_receiving_is_fine(
    receiver: Receiver,
    pipeline,
    clock: Clock,  # noqa: ANN001
) -> None:
    with running_receiver(receiver) as base:
        fresh = httpx.get(f"{base}/healthz").json()
        assert fresh["sending"] == "ok" and fresh["oldest_due_event_seconds"] is None
        receive_event(pipeline, orders.placed())
        clock.now += timedelta(minutes=6)  # nothing drained it: a stalled drain
        stalled = httpx.get(f"{base}/healthz")
        assert stalled.status_code == 200  # still receiving: keep it in the load balancer
        body = stalled.json()
        assert body["status"] == "ok" and body["sending"] == "behind"
        assert body["oldest_due_event_seconds"] == 360.0
        assert body["oldest_due_email_seconds"] is None


def test_a_second_serve_on_the_same_prefect_home_is_refused(tmp_path: Path) -> None:
    with (
        only_serve(tmp_path / "prefect"),
        pytest.raises(AnotherServeRunningError, match="another `aftercare serve`"),
        only_serve(tmp_path / "prefect"),
    ):
        pass  # pragma: no cover
    with only_serve(tmp_path / "prefect"):  # released when the first one ended
        pass
