"""The pipeline without Prefect, on SQLite and PostgreSQL: each event's emails, exactly once."""

from __future__ import annotations

import email
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain, receive_event, renderer_for
from aftercare.errors import PermanentSendError, TransientSendError
from aftercare.events import OrderEvent
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage import inbox
from aftercare.storage.database import session_factory
from aftercare.storage.order_records import load_order_state
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow, OutboxStatus
from aftercare.transports import OutgoingMessage
from aftercare.transports.outbox_folder import OutboxFolderTransport

NOW = orders.SENT_AT  # after every event of the sample story


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, outbox_dir=tmp_path / "outbox", _env_file=None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pipeline(settings: Settings, engine: Engine, clock: Clock) -> Pipeline:
    return replace(build_pipeline(settings), sessions=session_factory(engine), clock=clock)


def _outbox(engine: Engine) -> list[OutboxEmailRow]:
    with Session(engine) as s:
        return list(s.scalars(select(OutboxEmailRow).order_by(OutboxEmailRow.id)))


def _inbox(engine: Engine) -> list[InboxEventRow]:
    with Session(engine) as s:
        return list(s.scalars(select(InboxEventRow).order_by(InboxEventRow.id)))


def _story() -> list[OrderEvent]:
    return [
        orders.welcome(),
        orders.placed(),
        orders.shipped(),
        orders.delayed(),
        orders.refunded(),
    ]


def test_five_events_become_five_sent_emails_in_the_outbox_folder(
    pipeline: Pipeline, engine: Engine, settings: Settings
) -> None:
    for event in _story():
        receive_event(pipeline, event)
    report = drain(pipeline)
    rows = _outbox(engine)
    assert [r.kind for r in rows] == [
        "welcome",
        "order_confirmation",
        "order_shipped",
        "order_delayed",
        "order_refunded",
    ]
    assert all(r.status == OutboxStatus.SENT for r in rows)
    assert report.send.sent == 5
    files = sorted(settings.outbox_dir.glob("*.eml"))
    assert len(files) == 5
    for row in rows:
        message = email.message_from_bytes(
            (settings.outbox_dir / row.transport_message_id).read_bytes(), policy=policy.default
        )
        assert message["To"] == "anna.keller@example.com"
        assert message["Subject"] == row.subject
        assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


def test_processing_the_same_events_again_sends_nothing_new(
    pipeline: Pipeline, engine: Engine, settings: Settings
) -> None:
    for event in _story():
        receive_event(pipeline, event)
    drain(pipeline)
    duplicates = [receive_event(pipeline, e) for e in _story()]
    # The same logical events under new delivery ids (a store resending them) also map to
    # the emails already sent.
    for event in _story():
        receive_event(
            pipeline, event.model_copy(update={"source_event_id": event.source_event_id + "-again"})
        )
    report = drain(pipeline)
    assert all(d.duplicate for d in duplicates)
    assert report.prepare.emails_written == 0 and report.prepare.already_in_outbox == 5
    assert report.send.sent == 0
    assert len(_outbox(engine)) == 5
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 5


def test_a_shipment_that_overtakes_its_order_waits_for_it(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    receive_event(pipeline, orders.shipped(at=orders.PLACED_AT - timedelta(minutes=5)))
    first = drain(pipeline)
    (event_row,) = _inbox(engine)
    assert first.prepare.retried == 1
    assert event_row.status == InboxStatus.PENDING and "not received yet" in event_row.last_error
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    assert [r.kind for r in _outbox(engine)] == ["order_confirmation"]
    clock.now += timedelta(minutes=5)
    drain(pipeline)
    assert [r.kind for r in _outbox(engine)] == ["order_confirmation", "order_shipped"]
    with Session(engine) as s:
        state = load_order_state(s, orders.SOURCE, "o-1001")
    assert [f.external_id for f in state.fulfilments] == ["f-1"]
    assert state.promised_ship_by is not None and state.promised_deliver_by is not None


def test_an_event_that_keeps_failing_ends_dead_not_silent(
    pipeline: Pipeline, engine: Engine, clock: Clock, settings: Settings
) -> None:
    receive_event(pipeline, orders.refunded(order_id="never-arrives"))
    for _ in range(settings.max_processing_attempts):
        drain(pipeline)
        clock.now += timedelta(hours=2)
    (row,) = _inbox(engine)
    assert row.status == InboxStatus.DEAD
    assert row.attempts == settings.max_processing_attempts
    assert "never-arrives" in row.last_error


def test_an_invalid_stored_payload_is_kept_as_invalid(pipeline: Pipeline, engine: Engine) -> None:
    receive_event(pipeline, orders.placed())
    with Session(engine) as s, s.begin():
        row = s.scalars(select(InboxEventRow)).one()
        row.payload = {**row.payload, "occurred_at": "yesterday"}
    report = drain(pipeline)
    (row,) = _inbox(engine)
    assert report.prepare.invalid == 1
    assert row.status == InboxStatus.INVALID and "occurred_at" in row.last_error
    assert _outbox(engine) == []


@dataclass
class ScriptedTransport:
    """Our own ``Transport`` protocol with scripted outcomes, for the retry rules."""

    outcomes: list[Exception | None]
    name: str = "scripted"
    sent: list[str] = field(default_factory=list)

    def send(self, message: OutgoingMessage) -> str:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(message.idempotency_key)
        return f"id-{len(self.sent)}"

    def already_sent(self, message: OutgoingMessage) -> bool | None:
        return None


def test_transient_errors_retry_with_backoff_then_succeed(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    transport = ScriptedTransport([TransientSendError("Throttling"), TransientSendError("timeout")])
    pipeline = replace(pipeline, transport=transport)
    receive_event(pipeline, orders.welcome())
    drain(pipeline)
    (row,) = _outbox(engine)
    assert (
        row.status == OutboxStatus.PENDING and row.attempts == 1 and row.last_error == "Throttling"
    )
    first_retry_at = row.next_attempt_at
    drain(pipeline)  # not due yet: nothing happens
    assert _outbox(engine)[0].attempts == 1
    clock.now = first_retry_at
    drain(pipeline)
    (row,) = _outbox(engine)
    assert row.attempts == 2 and row.next_attempt_at - clock.now > first_retry_at - NOW
    clock.now = row.next_attempt_at
    drain(pipeline)
    (row,) = _outbox(engine)
    assert row.status == OutboxStatus.SENT and row.transport_message_id == "id-1"
    assert transport.sent == [row.idempotency_key]


def test_transient_errors_end_dead_after_the_last_attempt(
    pipeline: Pipeline, engine: Engine, clock: Clock, settings: Settings
) -> None:
    transport = ScriptedTransport([TransientSendError("timeout")] * 50)
    pipeline = replace(pipeline, transport=transport)
    receive_event(pipeline, orders.welcome())
    for _ in range(settings.max_send_attempts + 2):
        drain(pipeline)
        clock.now += timedelta(hours=2)
    (row,) = _outbox(engine)
    assert row.status == OutboxStatus.DEAD and row.attempts == settings.max_send_attempts
    assert transport.sent == []


def test_a_permanent_rejection_fails_at_once_with_the_reason(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    transport = ScriptedTransport([PermanentSendError("SES rejected the sender: verify it")])
    pipeline = replace(pipeline, transport=transport)
    receive_event(pipeline, orders.welcome())
    drain(pipeline)
    clock.now += timedelta(days=1)
    drain(pipeline)
    (row,) = _outbox(engine)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert "verify it" in row.last_error


def test_a_crash_between_sending_and_recording_sends_no_second_copy(
    pipeline: Pipeline, engine: Engine, clock: Clock, settings: Settings
) -> None:
    receive_event(pipeline, orders.welcome())

    class CrashAfterHandover(OutboxFolderTransport):
        def send_many(self, messages: list[OutgoingMessage]) -> list[str | Exception]:
            super().send_many(messages)
            raise KeyboardInterrupt  # the worker dies before recording the result

    crashing = replace(pipeline, transport=CrashAfterHandover(settings.outbox_dir))
    with pytest.raises(KeyboardInterrupt):
        drain(crashing)
    assert _outbox(engine)[0].status == OutboxStatus.SENDING
    clock.now += timedelta(seconds=settings.claim_timeout_seconds + 1)
    report = drain(pipeline)
    (row,) = _outbox(engine)
    assert report.interrupted_sends == 1
    assert row.status == OutboxStatus.SENT
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1


def test_an_interrupted_send_that_cannot_be_checked_fails_visibly(
    pipeline: Pipeline, engine: Engine, clock: Clock, settings: Settings
) -> None:
    receive_event(pipeline, orders.welcome())

    class Dies(ScriptedTransport):
        def send(self, message: OutgoingMessage) -> str:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drain(replace(pipeline, transport=Dies([])))
    clock.now += timedelta(seconds=settings.claim_timeout_seconds + 1)
    transport = ScriptedTransport([])
    drain(replace(pipeline, transport=transport))
    (row,) = _outbox(engine)
    assert row.status == OutboxStatus.FAILED and "outbox retry" in row.last_error
    assert transport.sent == []


def test_a_template_error_names_the_template_and_is_retried(
    pipeline: Pipeline, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, broken)
    target = broken / "en" / "welcome.html"
    source = target.read_text()
    target.write_text(
        source.replace("{% block body %}", "{% block body %}{{ no_such_variable }}", 1)
    )
    pipeline = replace(pipeline, renderer=renderer_for(broken))
    receive_event(pipeline, orders.welcome())
    drain(pipeline)
    (row,) = _inbox(engine)
    assert row.status == InboxStatus.PENDING
    assert "welcome.html" in row.last_error and "no_such_variable" in row.last_error
    assert _outbox(engine) == []


def test_logs_never_contain_the_customers_address_or_email(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for event in _story():
        receive_event(pipeline, event)
    receive_event(pipeline, orders.refunded("evt-orphan", order_id="missing"))
    drain(pipeline)
    assert caplog.records, "the pipeline logs what it does"
    for record in caplog.records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        assert "anna.keller@example.com" not in text
        assert "Karl-Liebknecht" not in text


def test_a_carrier_delay_sends_one_apology_with_a_new_date(
    pipeline: Pipeline, engine: Engine, settings: Settings
) -> None:
    for event in (orders.placed(), orders.shipped()):
        receive_event(pipeline, event)
    receive_event(pipeline, orders.carrier_report("c1", status="in_transit"))
    next_day = orders.CARRIER_REPORTED_AT + timedelta(days=1)
    receive_event(pipeline, orders.carrier_report("c2", status="delayed", at=next_day))
    receive_event(
        pipeline, orders.carrier_report("c3", status="delayed", at=next_day + timedelta(days=1))
    )
    drain(pipeline)
    rows = _outbox(engine)
    assert [r.kind for r in rows] == ["order_confirmation", "order_shipped", "order_delayed"]
    delay = email.message_from_bytes(rows[2].mime, policy=policy.default)
    text = delay.get_body(("plain",)).get_content()
    assert "DHL reported a delay with your parcel: Weather delay at the hub." in text
    assert settings.store.carrier_delay_promise.split(".")[0] in " ".join(text.split())


def test_an_idle_drain_waits_for_work_then_ends(pipeline: Pipeline, engine: Engine) -> None:
    arrivals = [orders.welcome()]
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if arrivals and len(naps) == 3:  # an event arrives while the drain waits
            receive_event(pipeline, arrivals.pop())

    report = drain(pipeline, idle_seconds=0.3, sleep=sleep)
    assert report.send.sent == 1
    assert len(naps) >= 3
    assert [r.kind for r in _outbox(engine)] == ["welcome"]


def test_an_unknown_outcome_is_not_resent_but_failed_with_what_to_check(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    from aftercare.errors import DeliveryUnknownError

    transport = ScriptedTransport([DeliveryUnknownError("SES did not answer in time.")])
    pipeline = replace(pipeline, transport=transport)
    receive_event(pipeline, orders.welcome())
    drain(pipeline)
    clock.now += timedelta(days=1)
    drain(pipeline)
    (row,) = _outbox(engine)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert "did not answer" in row.last_error and f"outbox retry {row.id}" in row.last_error
    assert transport.sent == []


def test_an_unexpected_transport_error_strands_no_email(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    transport = ScriptedTransport([RuntimeError("bug in a transport")])
    pipeline = replace(pipeline, transport=transport)
    receive_event(pipeline, orders.welcome())
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    rows = _outbox(engine)
    assert sorted(r.status for r in rows) == ["pending", "sent"]
    clock.now += timedelta(hours=1)
    drain(pipeline)
    assert {r.status for r in _outbox(engine)} == {OutboxStatus.SENT}


def test_a_slow_batch_renews_its_claim_and_skips_emails_taken_meanwhile(
    pipeline: Pipeline, engine: Engine, clock: Clock, settings: Settings
) -> None:
    from aftercare.drain import send_due_emails
    from aftercare.storage import outbox as outbox_store

    for event in (orders.welcome(), orders.placed()):
        receive_event(pipeline, event)

    class Slow(ScriptedTransport):
        def send(self, message: OutgoingMessage) -> str:
            clock.now += timedelta(seconds=settings.claim_timeout_seconds)  # very slow
            if len(self.sent) == 0:
                # meanwhile another drainer settles the second email as interrupted
                with pipeline.sessions.begin() as s:
                    second = max(r.id for r in _outbox(engine))
                    outbox_store.mark_failed(s, second, transport="other", error="settled")
            return super().send(message)

    from aftercare.drain import claim_events, prepare_emails

    prepare_emails(pipeline, claim_events(pipeline))
    transport = Slow([])
    one_at_a_time = settings.model_copy(update={"send_concurrency": 1})
    report = send_due_emails(replace(pipeline, transport=transport, settings=one_at_a_time))
    assert report.sent == 1 and len(transport.sent) == 1
    statuses = sorted(r.status for r in _outbox(engine))
    assert statuses == ["failed", "sent"]


def test_a_failing_delivery_does_not_take_the_next_one_for_its_order_down(
    pipeline: Pipeline, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery of two events (a new order, then its refund) fails on the second; the
    savepoint undoes the new order. The next delivery for that order, prepared in the same
    transaction, must not trip over the undone row."""
    import aftercare.drain.prepare as steps
    from aftercare.drain import claim_events, prepare_emails
    from aftercare.emails.kinds import EmailKind
    from aftercare.errors import TemplateError

    monkeypatch.setitem(steps.EVENTS_PER_COMMIT, "sqlite", 25)  # both rows in one group
    first = (orders.placed("row1-placed"), orders.refunded("row1-refund"))
    second = (orders.placed("row2-placed", number="#1001-B"),)
    with pipeline.sessions.begin() as s:
        ids = [inbox.enqueue_event(s, events[0], NOW).inbox_id for events in (first, second)]
    deliveries = dict(zip(ids, (first, second), strict=True))
    monkeypatch.setattr(steps, "events_of", lambda _, claimed: deliveries[claimed.inbox_id])
    compose = steps._compose

    def failing_refund(pipeline, planned, *rest):  # noqa: ANN001, ANN202
        if planned.kind is EmailKind.ORDER_REFUNDED:
            raise TemplateError("template en/order_refunded.html, line 3: broken")
        return compose(pipeline, planned, *rest)

    monkeypatch.setattr(steps, "_compose", failing_refund)
    report = prepare_emails(pipeline, claim_events(pipeline))
    assert report.processed == 1 and report.retried == 1
    rows = {r.id: r for r in _inbox(engine)}
    assert (
        rows[ids[0]].status == InboxStatus.PENDING and "order_refunded" in rows[ids[0]].last_error
    )
    assert rows[ids[1]].status == InboxStatus.PROCESSED
    assert [r.kind for r in _outbox(engine)] == ["order_confirmation"]


def test_rows_that_fail_alone_do_not_break_up_their_group(
    pipeline: Pipeline, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid payload and a shipment ahead of its order are recorded on their own rows;
    the rest of the group is still prepared together, not one at a time."""
    import aftercare.drain.prepare as steps

    def no_fallback(*_: object) -> None:
        raise AssertionError("the group fell back to one event at a time")

    monkeypatch.setattr(steps, "_prepare_alone", no_fallback)
    receive_event(pipeline, orders.shipped("early", order_id="o-1002"))
    receive_event(pipeline, orders.welcome())
    receive_event(pipeline, orders.placed())
    receive_event(pipeline, orders.shipped())
    with Session(engine) as s, s.begin():
        broken = s.scalars(
            select(InboxEventRow).where(InboxEventRow.source_event_id == "evt-welcome")
        ).one()
        broken.payload = {**broken.payload, "occurred_at": "yesterday"}
    report = drain(pipeline, max_batches=1)
    assert (report.prepare.processed, report.prepare.invalid, report.prepare.retried) == (2, 1, 1)
    statuses = {r.source_event_id: r.status for r in _inbox(engine)}
    assert (
        statuses["early"] == InboxStatus.PENDING and statuses["evt-welcome"] == InboxStatus.INVALID
    )
    assert [r.kind for r in _outbox(engine)] == ["order_confirmation", "order_shipped"]
    with Session(engine) as s:
        assert load_order_state(s, orders.SOURCE, "o-1002") is None
        assert [
            f.external_id for f in load_order_state(s, orders.SOURCE, "o-1001").fulfilments
        ] == ["f-1"]


def test_emails_are_handed_to_the_transport_concurrently_and_each_outcome_recorded(
    pipeline: Pipeline, engine: Engine
) -> None:
    """Three sends that can only finish together (a barrier of three) all succeed, so they
    were with the transport at the same time; a rejection among them is recorded alone."""
    import threading

    from aftercare.drain import claim_events, prepare_emails, send_due_emails

    together = threading.Barrier(3, timeout=10)

    class Waiting(ScriptedTransport):
        def send(self, message: OutgoingMessage) -> str:
            if message.kind == "order_shipped":
                raise PermanentSendError("address rejected")
            together.wait()
            return super().send(message)

    for event in (
        orders.welcome(),
        orders.placed(),
        orders.shipped(),
        orders.refunded(),
    ):
        receive_event(pipeline, event)
    prepare_emails(pipeline, claim_events(pipeline))
    transport = Waiting([])
    report = send_due_emails(replace(pipeline, transport=transport))
    assert (report.sent, report.failed) == (3, 1)
    assert not together.broken
    statuses = {r.kind: r.status for r in _outbox(engine)}
    assert statuses == {
        "welcome": OutboxStatus.SENT,
        "order_confirmation": OutboxStatus.SENT,
        "order_shipped": OutboxStatus.FAILED,
        "order_refunded": OutboxStatus.SENT,
    }


def test_the_receiver_can_store_deliveries_while_emails_render(
    pipeline: Pipeline, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering happens between the drain's read and its write, holding no lock: a
    delivery stored meanwhile (on SQLite, a write transaction) does not wait for it."""
    import aftercare.drain.prepare as steps

    receive_event(pipeline, orders.placed())
    compose = steps._compose
    stored_meanwhile: list[bool] = []

    def compose_while_a_delivery_arrives(*args):  # noqa: ANN002, ANN202
        with engine.connect() as other:
            if other.dialect.name == "sqlite":
                other.exec_driver_sql("PRAGMA busy_timeout=200")  # fail fast if it must wait
            with Session(bind=other) as s, s.begin():
                new = inbox.enqueue_event(s, orders.welcome("arrived-meanwhile"), NOW)
        stored_meanwhile.append(not new.duplicate)
        return compose(*args)

    monkeypatch.setattr(steps, "_compose", compose_while_a_delivery_arrives)
    report = drain(pipeline, max_batches=1)
    assert stored_meanwhile == [True]
    assert report.prepare.processed == 1 and report.send.sent == 1


def test_an_order_changed_by_another_drainer_while_rendering_loses_nothing(
    pipeline: Pipeline, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another drainer stores a refund for the order while this one renders the shipped
    email from the state it read: the write notices, the event is prepared again from the
    new state, and the order keeps both the refund and the parcel."""
    import aftercare.drain.prepare as steps
    from aftercare.order_state import merge_event
    from aftercare.storage.order_records import save_order_state

    receive_event(pipeline, orders.placed())
    drain(pipeline)
    receive_event(pipeline, orders.shipped())
    compose = steps._compose
    interfered: list[int] = []

    def compose_while_another_drainer_writes(*args):  # noqa: ANN002, ANN202
        if not interfered:
            with pipeline.sessions.begin() as s:
                state = load_order_state(s, orders.SOURCE, "o-1001")
                save_order_state(s, merge_event(state, orders.refunded()), NOW)
            interfered.append(1)
        return compose(*args)

    monkeypatch.setattr(steps, "_compose", compose_while_another_drainer_writes)
    report = drain(pipeline)
    assert report.prepare.processed == 1 and report.prepare.retried == 0
    with Session(engine) as s:
        state = load_order_state(s, orders.SOURCE, "o-1001")
    assert [f.external_id for f in state.fulfilments] == ["f-1"]
    assert [r.external_id for r in state.refunds] == ["r-1"]
    assert [r.kind for r in _outbox(engine)] == ["order_confirmation", "order_shipped"]
