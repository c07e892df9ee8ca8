"""The real ``drain-inbox`` Prefect flow, end to end, against a Prefect API server."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import build_pipeline, receive_event
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.schema import OutboxEmailRow, OutboxStatus
from flows.drain_inbox import drain_inbox
from tests.ses_server import MotoSes

pytestmark = pytest.mark.prefect

# The sample story is from 2024; the flow drains it now. The delay notice promises a date
# still ahead (one whose date has passed is rightly not sent: tests/test_stale_events.py).
STORY = [
    orders.welcome(),
    orders.placed(),
    orders.shipped(),
    orders.delayed(new_estimated_delivery=datetime.now(UTC).date() + timedelta(days=10)),
    orders.refunded(),
]


@pytest.fixture
def configured(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    return Settings()


def _rows(engine: Engine) -> list[OutboxEmailRow]:
    with Session(engine) as s:
        return list(s.scalars(select(OutboxEmailRow).order_by(OutboxEmailRow.id)))


def test_the_flow_drains_all_five_kinds_into_the_outbox_once(
    prefect_api: str, configured: Settings, engine: Engine
) -> None:
    pipeline = build_pipeline(configured)
    for event in STORY:
        receive_event(pipeline, event)
    state = drain_inbox(return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary["events"] == 5 and summary["send"]["sent"] == 5
    rows = _rows(engine)
    assert sorted(r.kind for r in rows) == sorted(
        ["welcome", "order_confirmation", "order_shipped", "order_delayed", "order_refunded"]
    )
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    files = sorted(configured.outbox_dir.glob("*.eml"))
    assert len(files) == 5
    shipped = next(r for r in rows if r.kind == "order_shipped")
    message = email.message_from_bytes(
        (configured.outbox_dir / shipped.transport_message_id).read_bytes(), policy=policy.default
    )
    assert "https://" in message.get_body(("plain",)).get_content()

    # A second run with the same events queued again sends nothing new.
    for event in STORY:
        assert receive_event(pipeline, event).duplicate
    again = drain_inbox()
    assert again["send"]["sent"] == 0 and again["prepare"]["emails_written"] == 0
    assert len(list(configured.outbox_dir.glob("*.eml"))) == 5


def test_the_flow_run_and_its_tasks_are_recorded_by_prefect(
    prefect_api: str, configured: Settings
) -> None:
    receive_event(build_pipeline(configured), orders.welcome())
    state = drain_inbox(return_state=True)

    async def recorded() -> list[str]:
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=100,
            )
            return [run.state_name, *sorted({t.name.rsplit("-", 1)[0] for t in tasks})]

    import asyncio
    import time

    # Prefect records task runs from its event stream, a moment after they finish.
    deadline = time.monotonic() + 15
    names = asyncio.run(recorded())
    while not {"claim-events", "prepare-emails", "send-emails"} <= set(names[1:]):
        assert time.monotonic() < deadline, names
        time.sleep(0.25)
        names = asyncio.run(recorded())
    assert names[0] == "Completed"


def test_the_flow_sends_through_ses_on_motos_server(
    prefect_api: str,
    configured: Settings,
    engine: Engine,
    moto_ses: MotoSes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERCARE_TRANSPORT", "ses")
    monkeypatch.setenv("AFTERCARE_SES__ENDPOINT_URL", moto_ses.endpoint_url)
    monkeypatch.setenv("AFTERCARE_SES__REGION", moto_ses.region)
    settings = Settings()
    moto_ses.verify_identity(str(settings.store.from_address))
    pipeline = build_pipeline(settings)
    for event in STORY[:3]:
        receive_event(pipeline, event)
    summary = drain_inbox()
    assert summary["send"]["sent"] == 3
    sent = moto_ses.sent_raw_messages()
    assert len(sent) == 3
    rows = _rows(engine)
    assert {r.transport_message_id for r in rows} == {m["id"] for m in sent}
    by_id = {m["id"]: m for m in sent}
    for row in rows:
        message = email.message_from_string(
            by_id[row.transport_message_id]["raw_data"], policy=policy.default
        )
        assert message["Subject"] == row.subject
        assert message["To"] == "anna.keller@example.com"
        assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


def test_an_unverified_ses_sender_fails_the_email_with_the_fix(
    prefect_api: str,
    configured: Settings,
    engine: Engine,
    moto_ses: MotoSes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERCARE_TRANSPORT", "ses")
    monkeypatch.setenv("AFTERCARE_SES__ENDPOINT_URL", moto_ses.endpoint_url)
    receive_event(build_pipeline(Settings()), orders.welcome())
    summary = drain_inbox()
    (row,) = _rows(engine)
    assert summary["send"]["failed"] == 1
    assert row.status == OutboxStatus.FAILED and "verify" in row.last_error.lower()
    assert moto_ses.sent_raw_messages() == []
