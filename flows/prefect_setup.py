"""What a Prefect server needs before Aftercare's workers can run: ``aftercare setup``.

The work pool ``prefect.yaml`` deploys to, and the automation that marks a drain whose
worker died as Crashed. A worker killed with its machine leaves its flow run RUNNING on the
server; its deployment concurrency slot stays taken until the slot's lease runs out (five
minutes, renewed by the engine while the run lives), and the run looks alive in the UI
for good. Prefect's answer is flow-run heartbeats and an automation on their absence
(docs: "detect zombie flows"): Aftercare's deployments beat every
``HEARTBEAT_SECONDS`` (``prefect.yaml`` sets ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` for
them), and a run silent for ``UNRESPONSIVE_AFTER_SECONDS`` is marked Crashed, which frees
its slot. Only runs tagged ``aftercare`` are watched: Prefect's own default heartbeat is
every three minutes, and the store's other flows must not be crashed by our window.

The emails of the dead drain do not wait for this: its claims expire after
``AFTERCARE_CLAIM_TIMEOUT_SECONDS`` and the next drain takes them (``storage/outbox.py``).
Running it twice is harmless: it creates what is missing and replaces the automation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker

WORK_POOL = "aftercare"
TAG = "aftercare"
HEARTBEAT_SECONDS = 30  # Prefect's minimum
UNRESPONSIVE_AFTER_SECONDS = 90  # three missed heartbeats
AUTOMATION_NAME = "aftercare: mark unresponsive runs crashed"

_FINISHED = ("Completed", "Failed", "Cancelled", "Crashed")


@dataclass(frozen=True)
class SetupReport:
    work_pool_created: bool
    automation_replaced: bool


def unresponsive_run_automation(after_seconds: float = UNRESPONSIVE_AFTER_SECONDS) -> Automation:
    """Crash a run tagged ``aftercare`` that stopped beating without finishing."""
    return Automation(
        name=AUTOMATION_NAME,
        description=(
            "Aftercare's drains send a heartbeat every "
            f"{HEARTBEAT_SECONDS} s; one silent for {after_seconds:.0f} s lost its worker. "
            "Marking it Crashed frees its deployment concurrency slot."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in _FINISHED)},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {after_seconds:.0f} s: the worker running it stopped. "
                    "Its claimed emails are taken by the next drain; none is sent twice."
                ),
            )
        ],
    )


def set_up(
    work_pool: str = WORK_POOL, unresponsive_after: float = UNRESPONSIVE_AFTER_SECONDS
) -> SetupReport:
    """Create the work pool if missing and (re)create the unresponsive-run automation."""
    created = False
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(work_pool)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=work_pool,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
            created = True
    replaced = False
    try:
        existing = Automation.read(name=AUTOMATION_NAME)
    except ValueError:  # Prefect's way of saying "no automation by that name"
        existing = None
    if existing is not None:
        existing.delete()
        replaced = True
    unresponsive_run_automation(unresponsive_after).create()
    return SetupReport(work_pool_created=created, automation_replaced=replaced)
