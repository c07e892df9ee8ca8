"""The retention purge through the real Prefect engine: what is past retention is emptied,
the rows and their idempotency keys stay (so nothing is ever sent again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import drain, receive_event
from aftercare.sample_store import orders
from aftercare.storage.schema import InboxEventRow, OutboxEmailRow, OutboxStatus
from flows.purge_expired import purge_expired_flow

pytestmark = pytest.mark.prefect


def test_the_purge_flow_empties_what_is_past_retention_and_keeps_the_keys(
    prefect_api: str,
    clocked_pipeline,  # noqa: ANN001
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    receive_event(clocked_pipeline, orders.placed())
    drain(clocked_pipeline)  # in June 2024: long past 90 days
    state = purge_expired_flow(return_state=True)
    assert state.is_completed()
    assert state.result() == {"deliveries": 1, "emails": 1}
    with Session(engine) as s:
        event = s.scalars(select(InboxEventRow)).one()
        email = s.scalars(select(OutboxEmailRow)).one()
    assert event.payload == {} and event.raw_body is None
    assert email.mime == b"" and email.status == OutboxStatus.SENT and email.idempotency_key
    again = purge_expired_flow(return_state=True)
    assert again.result() == {"deliveries": 0, "emails": 0}
