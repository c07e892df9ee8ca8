"""A real Prefect API for the flow tests, started once per test session.

``prefect_test_harness`` runs Prefect's own server in a subprocess on a temporary SQLite
database; flows run through the real engine against it. Flow heartbeats are off: the
heartbeat thread's join costs about a second per flow run and tests run many.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield PREFECT_API_URL.value()
