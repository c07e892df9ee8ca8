"""With a Prefect server, the drain's schedule is the safety net: the server's scheduler
must really create runs from it, and a runner must really execute them.

Against ``prefect server start`` (the real server with its services, on loopback), not the
test harness's local API, which runs no scheduler. Fails with SQLAlchemy 2.1 under Prefect
3.8, whose scheduler then cannot insert a single run (hence the pin in pyproject.toml).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.prefect_server import clean_environment, prefect_server, running, wait_for

pytestmark = pytest.mark.prefect

RUNNER = """
from flows.drain_inbox import drain_inbox
drain_inbox.serve(name="drain-inbox", interval=2, print_starting_message=False)
"""


def test_the_servers_scheduler_creates_drain_runs_that_a_runner_completes(
    tmp_path: Path,
) -> None:
    env = clean_environment(
        tmp_path,
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        AFTERCARE_DATABASE_URL=f"sqlite:///{tmp_path / 'aftercare.db'}",
        AFTERCARE_OUTBOX_DIR=str(tmp_path / "outbox"),
    )
    with prefect_server(env, tmp_path / "server.log") as api:
        subprocess.run(
            [sys.executable, "-m", "flows.cli", "db", "upgrade"], env=env, check=True, cwd=tmp_path
        )
        client_env = {**env, "PREFECT_API_URL": api}
        with running([sys.executable, "-c", RUNNER], client_env, tmp_path / "runner.log"):

            def completed_scheduled_runs() -> list[dict]:
                runs = httpx.post(
                    f"{api}/flow_runs/filter",
                    json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
                ).json()
                return [r for r in runs if r["auto_scheduled"]]

            assert wait_for(lambda: len(completed_scheduled_runs()) >= 2, 90), (
                tmp_path / "server.log"
            ).read_text()[-2000:] + (tmp_path / "runner.log").read_text()[-2000:]
    server_log = (tmp_path / "server.log").read_text()
    assert "Can't evaluate bulk DML statement" not in server_log
