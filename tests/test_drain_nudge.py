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
    deployment = deployments()[0]  # the drain; the purge is the other one
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


def _settle_all_runs() -> None:
    """Leave no run of the deployment pending or running for the tests after this one."""
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        for run in _drain_runs():
            if run.state is not None and not run.state.is_final():
                client.set_flow_run_state(run.id, Cancelled(), force=True)


@pytest.fixture
def drain_deployment(prefect_api: str):  # noqa: ANN201
    deployment = deployments()[0]  # the drain; the purge is the other one
    deployment_id = deployment.apply()
    _settle_all_runs()  # a run another test left due now would rightly absorb the nudge
    yield deployment_id
    _settle_all_runs()


def test_a_run_scheduled_for_later_does_not_silence_the_nudge(drain_deployment) -> None:  # noqa: ANN001
    from datetime import UTC, datetime, timedelta

    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        client.create_flow_run_from_deployment(
            drain_deployment,
            state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(minutes=20)),
        )
    before = len(_drain_runs())
    nudger = DrainNudger(min_interval=0.05).start()
    try:
        nudger.nudge()
        assert _wait_for(lambda: len(_drain_runs()) == before + 1)
    finally:
        nudger.stop()
    assert nudger.triggered == 1


def test_the_safety_net_starts_a_drain_for_due_work_no_webhook_announced(
    drain_deployment,  # noqa: ANN001
) -> None:
    due = {"now": False}
    before = len(_drain_runs())
    nudger = DrainNudger(
        min_interval=0.05, safety_seconds=0.1, work_is_due=lambda: due["now"]
    ).start()
    try:
        time.sleep(0.6)  # several safety checks with nothing due: no run
        assert len(_drain_runs()) == before and nudger.triggered == 0
        due["now"] = True  # say, a retry's backoff ran out
        assert _wait_for(lambda: len(_drain_runs()) == before + 1)
    finally:
        nudger.stop()
    assert nudger.safety_triggered >= 1


def test_a_dead_serves_runs_are_settled_so_the_next_drain_gets_the_slot(
    drain_deployment,  # noqa: ANN001
) -> None:
    from prefect.client.schemas.objects import StateType
    from prefect.states import Pending, Running

    from flows.nudge import AWAITING_SLOT
    from flows.serve import recover_abandoned_runs

    with get_client(sync_client=True) as client:
        # The dead serve's drain: it took the deployment's only slot and was running.
        abandoned = client.create_flow_run_from_deployment(drain_deployment)
        assert client.set_flow_run_state(abandoned.id, Pending()).state.type is StateType.PENDING
        client.set_flow_run_state(abandoned.id, Running())
        # The next drain is held back for the slot, for as long as that run looks alive.
        waiting = client.create_flow_run_from_deployment(drain_deployment)
        held = client.set_flow_run_state(waiting.id, Pending())
        assert held.state is not None and held.state.name == AWAITING_SLOT

        recovered = recover_abandoned_runs()

        assert (recovered.crashed, recovered.released) == (1, 1)
        assert client.read_flow_run(abandoned.id).state.type is StateType.CRASHED
        assert client.read_flow_run(waiting.id).state.type is StateType.SCHEDULED
        started = client.set_flow_run_state(waiting.id, Pending())
        assert started.state is not None and started.state.type is StateType.PENDING


def test_serve_starts_the_retention_purge_daily_without_a_scheduler(prefect_api: str) -> None:
    from flows.serve import PURGE_DEPLOYMENT, Daily

    for deployment in deployments():
        deployment.apply()

    def purge_runs() -> int:
        with get_client(sync_client=True) as client:
            return len(
                client.read_flow_runs(
                    deployment_filter=DeploymentFilter(
                        name=DeploymentFilterName(any_=["purge-expired"])
                    )
                )
            )

    before = purge_runs()
    with Daily(PURGE_DEPLOYMENT, every_seconds=0.3, first_after=0.05) as daily:
        assert _wait_for(lambda: purge_runs() >= before + 2)
    assert daily.started >= 2
