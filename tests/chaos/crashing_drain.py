"""A drain that kills itself (SIGKILL, no clean-up) at a chosen point, as a crash would.

    python -m tests.chaos.crashing_drain POINT AFTER SENDS_LOG

``POINT``: ``before_claim`` (as a batch is about to be claimed), ``after_render`` (an email
rendered, its group not yet written), ``after_transport_accepts`` (the transport took the
email, the outbox does not yet say so). ``AFTER``: how many times the point passes before
the kill. Settings come from the environment as for ``aftercare drain``; every email the
transport accepts is appended to ``SENDS_LOG`` (one idempotency key a line) before the
kill can strike, so the test can count what reached the customer.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import aftercare.drain.prepare as prepare
from aftercare.drain import DrainSteps, build_pipeline, drain
from aftercare.drain.loop import claim_events
from aftercare.settings import Settings
from tests.chaos.harness import RecordingTransport


def main(point: str, after: int, sends_log: Path) -> None:
    passes = 0

    def checkpoint() -> None:
        nonlocal passes
        passes += 1
        if passes > after:
            os.kill(os.getpid(), signal.SIGKILL)

    pipeline = build_pipeline(Settings())
    on_accept = checkpoint if point == "after_transport_accepts" else None
    pipeline = replace(
        pipeline, transport=RecordingTransport(pipeline.transport, sends_log, on_accept)
    )
    steps = DrainSteps()
    if point == "before_claim":

        def claim(p):  # noqa: ANN001, ANN202
            checkpoint()
            return claim_events(p)

        steps = replace(steps, claim=claim)
    elif point == "after_render":
        compose = prepare._compose

        def compose_then_maybe_die(*args):  # noqa: ANN002, ANN202
            email = compose(*args)
            checkpoint()
            return email

        prepare._compose = compose_then_maybe_die
    drain(pipeline, steps=steps)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
