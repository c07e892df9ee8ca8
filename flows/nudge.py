"""Start the drain soon after a webhook arrives, without one flow run per webhook.

The receiver calls ``nudge()`` after each stored delivery; a background thread turns a burst
of nudges into at most one ``run_deployment`` call, and none while a drain run is about to
start anyway (pending, waiting for the running drain's concurrency slot, or scheduled within
the next few seconds: it will see the new events). A run scheduled for later does not count:
the new email must not wait for it.

It is also the safety net. Every ``safety_seconds`` it asks ``work_is_due`` (one cheap query
of Aftercare's own database) and starts a drain when something is due that no webhook
nudged: a retry whose backoff ran out, events a crashed drain left claimed, a nudge that was
lost. Prefect's scheduler is no help on the embedded default: its local API does not run it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
    FlowRunFilterStateType,
    Operator,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment

log = logging.getLogger(__name__)

DRAIN_DEPLOYMENT = "drain-inbox/drain-inbox"

# Prefect's name for a run the server held back because the deployment's slot is taken: it
# starts as soon as the running drain ends, and will see the new events.
AWAITING_SLOT = "AwaitingConcurrencySlot"


class DrainNudger:
    def __init__(
        self,
        deployment: str = DRAIN_DEPLOYMENT,
        min_interval: float = 0.5,
        retry_seconds: float = 2.0,
        coalesce_seconds: float = 5.0,
        safety_seconds: float | None = None,
        work_is_due: Callable[[], bool] | None = None,
    ) -> None:
        self.deployment = deployment
        self.min_interval = min_interval
        self.retry_seconds = retry_seconds
        self.coalesce_seconds = coalesce_seconds
        self.safety_seconds = safety_seconds if work_is_due is not None else None
        self.work_is_due = work_is_due
        self.triggered = 0
        self.safety_triggered = 0
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
            nudged = self._wanted.wait(timeout=self.safety_seconds)
            if self._stopped.is_set():
                return
            self._wanted.clear()
            try:
                if not nudged and not self._due():
                    continue
                if not self._drain_starting_soon():
                    run_deployment(name=self.deployment, timeout=0)
                    self.triggered += 1
                    if not nudged:
                        self.safety_triggered += 1
                        log.info("safety net: due work found without a nudge; drain started")
                failing = False
            except Exception:  # noqa: BLE001 - the safety net retries
                if not failing:  # once per streak, not once per webhook
                    log.warning(
                        "could not nudge the drain; retrying, and the safety net will start "
                        "one for the events anyway",
                        exc_info=True,
                    )
                failing = True
                self._wanted.set()  # keep the nudge: the deployment may not be registered yet
                self._stopped.wait(self.retry_seconds)
                continue
            self._stopped.wait(self.min_interval)

    def _due(self) -> bool:
        assert self.work_is_due is not None  # the timer only runs with it
        return self.work_is_due()

    def _drain_starting_soon(self) -> bool:
        """A drain run that will start within the coalescing window, or is about to."""
        _, deployment_name = self.deployment.split("/", 1)
        soon = datetime.now(UTC) + timedelta(seconds=self.coalesce_seconds)
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=[deployment_name])
                ),
                flow_run_filter=FlowRunFilter(
                    operator=Operator.or_,
                    state=FlowRunFilterState(
                        operator=Operator.or_,
                        type=FlowRunFilterStateType(any_=[StateType.PENDING]),
                        name=FlowRunFilterStateName(any_=[AWAITING_SLOT]),
                    ),
                    # Only SCHEDULED runs carry one (Prefect clears it when a run leaves
                    # the state), unlike ``expected_start_time``, which keeps the first.
                    next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=soon),
                ),
                limit=1,
            )
        return bool(runs)
