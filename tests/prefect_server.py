"""A real ``prefect server start`` on loopback, and processes that talk to it.

For the tests that need what only a Prefect server does (its scheduler, its automations,
its workers), unlike ``tests/prefect_api.py``'s local API, which runs none of those.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.ses_server import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
PREFECT = [sys.executable, "-m", "prefect"]


def wait_for(predicate: Callable[[], object], seconds: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if predicate():
                return True
        time.sleep(every)
    return False


def clean_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Prefect or Aftercare settings, plus ``extra``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "PYTHONPATH": str(ROOT),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        **extra,
    }


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):  # noqa: ANN201
    """A process in its own session, stopped (SIGTERM, then SIGKILL) on the way out."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
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


@contextlib.contextmanager
def prefect_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port; yields its API URL once healthy."""
    port = free_loopback_port()
    api = f"http://127.0.0.1:{port}/api"
    args = [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with running(args, env, log):
        assert wait_for(lambda: httpx.get(f"{api}/health").status_code == 200, 90), log.read_text()[
            -3000:
        ]
        yield api


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of children too), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_machine(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything it started, as a machine that loses power would:
    no clean-up, no state reported to the server."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()
