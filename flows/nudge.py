"""Start the drain soon after a webhook arrives, without one flow run per webhook.

The receiver calls ``nudge()`` after each stored delivery; a background thread turns a burst
of nudges into at most one ``run_deployment`` call, and none while a drain run is already
scheduled or pending (it will see the new events). Correctness never depends on a nudge: the
deployment's schedule drains every minute anyway, so a lost nudge only costs latency.
"""

from __future__ import annotations

import logging
import threading

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment

log = logging.getLogger(__name__)

DRAIN_DEPLOYMENT = "drain-inbox/drain-inbox"


class DrainNudger:
    def __init__(
        self,
        deployment: str = DRAIN_DEPLOYMENT,
        min_interval: float = 0.5,
        retry_seconds: float = 2.0,
    ) -> None:
        self.deployment = deployment
        self.min_interval = min_interval
        self.retry_seconds = retry_seconds
        self.triggered = 0
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drain-nudger", daemon=True)

    def start(self) -> DrainNudger:
        self._thread.start()
        return self

    def __enter__(self) -> DrainNudger:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        self._wanted.set()
        self._thread.join(timeout=5)

    def nudge(self) -> None:
        """Cheap and non-blocking: called on the request path."""
        self._wanted.set()

    def _loop(self) -> None:
        failing = False
        while not self._stopped.is_set():
            self._wanted.wait()
            if self._stopped.is_set():
                return
            self._wanted.clear()
            try:
                if not self._drain_waiting():
                    run_deployment(name=self.deployment, timeout=0)
                    self.triggered += 1
                failing = False
            except Exception:  # noqa: BLE001 - the scheduled drain is the safety net
                if not failing:  # once per streak, not once per webhook
                    log.warning(
                        "could not nudge the drain; retrying, and the scheduled run will pick "
                        "up the events anyway",
                        exc_info=True,
                    )
                failing = True
                self._wanted.set()  # keep the nudge: the deployment may not be registered yet
                self._stopped.wait(self.retry_seconds)
                continue
            self._stopped.wait(self.min_interval)

    def _drain_waiting(self) -> bool:
        flow_name, deployment_name = self.deployment.split("/", 1)
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=[deployment_name])
                ),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
                    )
                ),
                limit=1,
            )
        return bool(runs)
