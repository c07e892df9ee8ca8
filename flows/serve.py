"""Serve Aftercare's deployments from this process (the embedded default).

With a Prefect server configured, register ``prefect.yaml`` and run workers instead; the
webhook receiver then only stores and nudges.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.drain_inbox import drain_inbox

# A served drain lingers this long after the inbox runs dry, so a stream of webhooks keeps
# one run busy instead of paying a run's start-up (seconds) for every burst.
DRAIN_IDLE_SECONDS = 10.0
DRAIN_CONCURRENCY = 1


def deployments() -> list[RunnerDeployment]:
    return [
        drain_inbox.to_deployment(
            name="drain-inbox",
            interval=60,
            parameters={"idle_seconds": DRAIN_IDLE_SECONDS},
            # One drain at a time on the embedded default: it already keeps a core busy,
            # and the receiver and the Prefect API need the other (a second drain measured
            # slower end to end on two cores, BENCHMARKS.md). Claims and order revisions
            # make more safe where there are more cores, or PostgreSQL and workers.
            concurrency_limit=DRAIN_CONCURRENCY,
        ),
    ]


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
