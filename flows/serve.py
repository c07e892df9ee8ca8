"""Serve Aftercare's deployments from this process (the embedded default).

With a Prefect server configured, register ``prefect.yaml`` and run workers instead; the
webhook receiver then only stores and nudges.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.drain_inbox import drain_inbox

# A served drain lingers this long after the inbox runs dry, so a stream of webhooks keeps
# one run busy instead of paying a run's start-up (seconds) for every burst.
DRAIN_IDLE_SECONDS = 10.0


def deployments() -> list[RunnerDeployment]:
    return [
        drain_inbox.to_deployment(
            name="drain-inbox",
            interval=60,
            parameters={"idle_seconds": DRAIN_IDLE_SECONDS},
            concurrency_limit=1,
        ),
    ]


def serve_deployments() -> None:
    """Blocks: polls for scheduled and nudged runs and executes them."""
    serve(*deployments(), print_starting_message=False)
