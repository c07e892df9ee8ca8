"""Serve Aftercare's deployments from this process (the embedded default).

With a Prefect server configured, register ``prefect.yaml`` and run workers instead; the
webhook receiver then only stores and nudges.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.deployments.runner import RunnerDeployment
from prefect.states import Crashed, Scheduled

from flows.drain_inbox import drain_inbox
from flows.learn_faq import learn_faq
from flows.nudge import AWAITING_SLOT, DRAIN_DEPLOYMENT
from flows.purge_expired import purge_expired_flow
from flows.rebuild_cross_sell import rebuild_cross_sell_flow
from flows.scan_for_delays import scan_for_delays

log = logging.getLogger(__name__)

# A served drain lingers this long after the inbox runs dry, so a stream of webhooks keeps
# one run busy instead of paying a run's start-up (seconds) for every burst.
DRAIN_IDLE_SECONDS = 10.0
DRAIN_CONCURRENCY = 1


def deployments() -> list[RunnerDeployment]:
    """The deployments this process serves.

    No schedule: the local API of the embedded default runs no Prefect scheduler, so an
    interval here would never fire. ``aftercare serve``'s nudger is the safety net instead
    (``flows/nudge.py``); with a Prefect server, ``prefect.yaml``'s schedule is.
    """
    return [
        drain_inbox.to_deployment(
            name="drain-inbox",
            parameters={"idle_seconds": DRAIN_IDLE_SECONDS},
            # One drain at a time on the embedded default: it already keeps a core busy,
            # and the receiver and the Prefect API need the other (a second drain measured
            # slower end to end on two cores, BENCHMARKS.md). Claims and order revisions
            # make more safe where there are more cores, or PostgreSQL and workers.
            concurrency_limit=DRAIN_CONCURRENCY,
        ),
        purge_expired_flow.to_deployment(name="purge-expired", concurrency_limit=1),
        learn_faq.to_deployment(name="learn-faq", concurrency_limit=1),
        scan_for_delays.to_deployment(name="scan-delays", concurrency_limit=1),
        rebuild_cross_sell_flow.to_deployment(name="rebuild-cross-sell", concurrency_limit=1),
    ]


PURGE_DEPLOYMENT = "purge-expired/purge-expired"
LEARN_FAQ_DEPLOYMENT = "learn-faq/learn-faq"
SCAN_DELAYS_DEPLOYMENT = "scan-for-delays/scan-delays"
REBUILD_CROSS_SELL_DEPLOYMENT = "rebuild-cross-sell/rebuild-cross-sell"


class Daily:
    """Start ``deployment`` once a day (first a minute after start), from a thread, or
    every ``every_seconds`` (the delay scan: every 15 minutes).

    The embedded default's local API runs no Prefect scheduler, so ``aftercare serve``
    starts its periodic jobs itself; with a Prefect server, ``prefect.yaml``'s cron does.
    """

    def __init__(self, deployment: str, every_seconds: float = 86_400, first_after: float = 60):
        self.deployment = deployment
        self.every_seconds = every_seconds
        self.first_after = first_after
        self.started = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"daily-{deployment}", daemon=True)

    def __enter__(self) -> Daily:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        wait = self.first_after
        while not self._stopped.wait(wait):
            try:
                run_deployment(name=self.deployment, timeout=0)
                self.started += 1
                wait = self.every_seconds
            except Exception:  # noqa: BLE001 - tried again in a minute, then daily
                log.warning("could not start %s; retrying in a minute", self.deployment)
                wait = 60


@contextlib.contextmanager
def local_prefect_api() -> Iterator[str]:
    """Make sure every process of this ``aftercare serve`` talks to one Prefect API.

    With ``PREFECT_API_URL`` set, that server is used. Otherwise Prefect would start an
    ephemeral API per process — and the flow runs the runner starts in subprocesses would
    each get their own, losing their deployment's concurrency slot. So start one local API
    here and export its URL to the runner's children.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    try:
        server.start(timeout=60)
        os.environ["PREFECT_API_URL"] = server.api_url
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


class AnotherServeRunningError(RuntimeError):
    """A second ``aftercare serve`` on the same Prefect home would crash the first one's runs."""


@contextlib.contextmanager
def only_serve(prefect_home: Path) -> Iterator[None]:
    """Hold ``prefect_home``'s serve lock for as long as this process serves.

    The start-up recovery below marks every running drain of the deployment as crashed; that
    is only right when no other live process is serving it. The lock is an ``flock``: the
    kernel releases it when the process dies, however it dies.
    """
    prefect_home.mkdir(parents=True, exist_ok=True)
    path = prefect_home / "aftercare-serve.lock"
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise AnotherServeRunningError(
                f"another `aftercare serve` (pid {holder}) is serving from {prefect_home}; "
                "stop it first, or give this one its own PREFECT_HOME"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


@dataclass(frozen=True)
class Recovered:
    crashed: int  # runs of a dead serve, marked Crashed: their slot is free again
    released: int  # runs that were waiting for that slot, due now


def recover_abandoned_runs(deployment: str = DRAIN_DEPLOYMENT) -> Recovered:
    """Settle the drain runs a previous ``aftercare serve`` left behind when it died.

    A serve killed mid-drain (SIGKILL, a reboot, a SIGTERM that cut the drain short) leaves
    its run RUNNING in the local Prefect database, holding the deployment's only
    concurrency slot; the embedded API runs no service that would ever expire it, so every
    new run would wait in ``AwaitingConcurrencySlot`` for good. Called at start-up, under
    ``only_serve``, when no drain of this deployment can be alive: those runs are marked
    Crashed (which releases their slots), and runs waiting for a slot are made due now.
    What the dead drain was doing is safe to redo: its claims expire and the outbox's
    idempotency keys keep every email to one copy.
    """
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        ours = DeploymentFilter(id=DeploymentFilterId(any_=[found.id]))
        abandoned = client.read_flow_runs(
            deployment_filter=ours,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(
                        any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
                    )
                )
            ),
        )
        for run in abandoned:
            client.set_flow_run_state(
                run.id,
                Crashed(message="the `aftercare serve` running this drain stopped"),
                force=True,
            )
        waiting = client.read_flow_runs(
            deployment_filter=ours,
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[AWAITING_SLOT]))
            ),
        )
        for run in waiting:
            client.set_flow_run_state(
                run.id, Scheduled(scheduled_time=datetime.now(UTC)), force=True
            )
    return Recovered(crashed=len(abandoned), released=len(waiting))


def register_deployments() -> None:
    for deployment in deployments():
        deployment.apply()


# How often the local runner asks for due runs: a nudged drain starts within this (Prefect's
# default, 10 s, would dominate the webhook-to-email latency).
RUNNER_POLL_SECONDS = 1


def serve_deployments() -> None:
    """Blocks: polls for scheduled and nudged runs and executes them."""
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_RUNNER_POLL_FREQUENCY: RUNNER_POLL_SECONDS}):
        serve(*deployments(), print_starting_message=False)
