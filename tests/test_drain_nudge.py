"""Webhook nudges start the drain deployment, and a burst of them starts it once."""

from __future__ import annotations

import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

from flows.nudge import DrainNudger
from flows.serve import deployments

pytestmark = pytest.mark.prefect


def _drain_runs() -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["drain-inbox"])),
            limit=50,
        )


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_burst_of_nudges_schedules_one_drain_run(prefect_api: str) -> None:
    (deployment,) = deployments()
    deployment.apply()
    before = len(_drain_runs())
    nudger = DrainNudger(min_interval=0.05).start()
    try:
        for _ in range(200):
            nudger.nudge()
        assert _wait_for(lambda: len(_drain_runs()) == before + 1)
        for _ in range(50):  # the scheduled run is still waiting: it will see these events
            nudger.nudge()
            time.sleep(0.005)
        time.sleep(0.5)
    finally:
        nudger.stop()
    runs = _drain_runs()
    assert len(runs) == before + 1
    assert runs[0].parameters == {"idle_seconds": deployment.parameters["idle_seconds"]}
    assert nudger.triggered == 1


def test_a_nudge_without_a_reachable_deployment_is_logged_not_raised(
    prefect_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    nudger = DrainNudger(
        deployment="drain-inbox/no-such-deployment", min_interval=0.01, retry_seconds=0.05
    ).start()
    try:
        nudger.nudge()
        assert _wait_for(lambda: "could not nudge" in caplog.text)
        time.sleep(0.3)  # it keeps retrying, but warns once per streak
    finally:
        nudger.stop()
    assert nudger.triggered == 0
    assert caplog.text.count("could not nudge") == 1
