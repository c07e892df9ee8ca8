"""With a Prefect server, the drain's schedule is the safety net: the server's scheduler
must really create runs from it, and a runner must really execute them.

Against ``prefect server start`` (the real server with its services, on loopback), not the
test harness's local API, which runs no scheduler. Fails with SQLAlchemy 2.1 under Prefect
3.8, whose scheduler then cannot insert a single run (hence the pin in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ses_server import free_loopback_port

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parent.parent

RUNNER = """
from flows.drain_inbox import drain_inbox
drain_inbox.serve(name="drain-inbox", interval=2, print_starting_message=False)
"""


def _wait(predicate, seconds: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if predicate():
                return True
        time.sleep(0.5)
    return False


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path):  # noqa: ANN202
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_servers_scheduler_creates_drain_runs_that_a_runner_completes(
    tmp_path: Path,
) -> None:
    port = free_loopback_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "PYTHONPATH": str(ROOT),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "AFTERCARE_DATABASE_URL": f"sqlite:///{tmp_path / 'aftercare.db'}",
        "AFTERCARE_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    prefect = [sys.executable, "-m", "prefect"]
    server_args = [*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with _process(server_args, env, tmp_path / "server.log"):
        assert _wait(lambda: httpx.get(f"{api}/health").status_code == 200, 90), (
            tmp_path / "server.log"
        ).read_text()[-3000:]
        subprocess.run(
            [sys.executable, "-m", "flows.cli", "db", "upgrade"], env=env, check=True, cwd=tmp_path
        )
        client_env = {**env, "PREFECT_API_URL": api}
        with _process([sys.executable, "-c", RUNNER], client_env, tmp_path / "runner.log"):

            def completed_scheduled_runs() -> list[dict]:
                runs = httpx.post(
                    f"{api}/flow_runs/filter",
                    json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
                ).json()
                return [r for r in runs if r["auto_scheduled"]]

            assert _wait(lambda: len(completed_scheduled_runs()) >= 2, 90), (
                tmp_path / "server.log"
            ).read_text()[-2000:] + (tmp_path / "runner.log").read_text()[-2000:]
    server_log = (tmp_path / "server.log").read_text()
    assert "Can't evaluate bulk DML statement" not in server_log
