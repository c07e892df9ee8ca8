"""A drain killed (SIGKILL) at any point, then restarted as ``aftercare serve`` restarts it:
every acknowledged order's confirmation reaches the customer once, nothing waits for a
person — except the one window SES leaves open, which is counted, not hidden."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aftercare.drain import build_pipeline, drain, receive_event
from aftercare.drain.recovery import recover_after_crash
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.database import session_factory
from tests.chaos.harness import ROOT, RecordingTransport, Tally, tally

ORDERS = 60
POINTS = ("before_claim", "after_render", "after_transport_accepts")
# Where each kill strikes: how many times its point passes first (batches of 20 claims;
# emails one by one), from the very first pass to the middle of a later batch.
KILLS = [
    ("before_claim", 0),
    ("before_claim", 1),
    ("before_claim", 2),
    ("after_render", 0),
    ("after_render", 7),
    ("after_render", 33),
    ("after_transport_accepts", 0),
    ("after_transport_accepts", 7),
    ("after_transport_accepts", 33),
]


def _settings(database_url: str, tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        drain_batch_size=20,
        _env_file=None,
        **changes,
    )


def _store_orders(settings: Settings, engine: Engine) -> None:
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine))
    for number in range(ORDERS):
        receive_event(
            pipeline,
            orders.placed(
                f"evt-{number}",
                order=orders.order(external_id=f"o-{number}", number=f"#{number}"),
            ),
        )


def _crash(point: str, after: int, settings: Settings, sends: Path) -> int:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")},
        "PYTHONPATH": str(ROOT),
        "AFTERCARE_DATABASE_URL": settings.database_url,
        "AFTERCARE_OUTBOX_DIR": str(settings.outbox_dir),
        "AFTERCARE_DRAIN_BATCH_SIZE": str(settings.drain_batch_size),
        "AFTERCARE_TRANSPORT": settings.transport.value,
        "AFTERCARE_SES__ENDPOINT_URL": settings.ses.endpoint_url or "",
        "AFTERCARE_SES__REGION": settings.ses.region,
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.chaos.crashing_drain", point, str(after), str(sends)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    return result.returncode


def _restart(settings: Settings, engine: Engine, sends: Path) -> None:
    """What ``aftercare serve`` does when it starts after a crash, then its drain."""
    pipeline = replace(build_pipeline(settings), sessions=session_factory(engine))
    pipeline = replace(pipeline, transport=RecordingTransport(pipeline.transport, sends))
    recover_after_crash(pipeline)
    drain(pipeline)


def run_scenario(
    point: str, after: int, settings: Settings, engine: Engine, sends: Path
) -> tuple[int, Tally]:
    _store_orders(settings, engine)
    code = _crash(point, after, settings, sends)
    _restart(settings, engine, sends)
    return code, tally(engine, sends)


@pytest.mark.parametrize(("point", "after"), KILLS)
def test_a_drain_killed_anywhere_loses_and_repeats_nothing_after_restart(
    point: str, after: int, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    sends = tmp_path / "sends.log"
    code, counts = run_scenario(point, after, settings, engine, sends)
    assert code == -signal.SIGKILL  # it really died at that point, not cleanly
    assert counts == Tally(
        acknowledged=ORDERS, emails=ORDERS, lost=0, duplicated=0, unsent=0, needs_a_person=0
    )


def test_ses_accepting_an_email_just_before_the_crash_is_the_one_window_left_open(
    moto_ses,
    database_url: str,
    engine: Engine,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """SES cannot be asked whether it took a message, so an email it accepted just before
    the outbox could record it is not sent again (that could be a second copy): it fails
    with what to check. Counted here; RELIABILITY.md reports it."""
    moto_ses.verify_identity("hello@fernandfield.example")
    settings = _settings(database_url, tmp_path, transport="ses", ses=moto_ses.ses_options())
    sends = tmp_path / "sends.log"
    code, counts = run_scenario("after_transport_accepts", 5, settings, engine, sends)
    assert code == -signal.SIGKILL
    assert counts.lost == 0 and counts.duplicated == 0 and counts.unsent == 0
    # Only the emails that were with SES when the process died: at most as many as are
    # sent at once, never the rest of the claimed batch.
    assert 1 <= counts.needs_a_person <= settings.send_concurrency
    assert counts.emails >= ORDERS - counts.needs_a_person
    # Our Message-ID names the logical email: SES never got one twice.
    ours = [
        email.message_from_string(m["raw_data"])["Message-ID"] for m in moto_ses.sent_raw_messages()
    ]
    assert len(ours) == len(set(ours)) >= counts.emails
