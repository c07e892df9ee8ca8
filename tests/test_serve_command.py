"""``aftercare serve`` as a store owner runs it: one command, webhooks in, emails out."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.ses_server import free_loopback_port
from tests.test_webhook_receiver import SHOPIFY_SECRET, shopify_headers, shopify_sample

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parent.parent


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _serve_env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "AFTERCARE_DATABASE_URL": f"sqlite:///{tmp_path / 'aftercare.db'}",
        "AFTERCARE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "AFTERCARE_SHOPIFY__WEBHOOK_SECRET": SHOPIFY_SECRET,
        "AFTERCARE_SHOPIFY__CONFIRM_ON": "orders/create",
        # Any hour: the delay scan's notices would otherwise wait for the customer's
        # morning when the test runs in the evening (the window has its own tests).
        "AFTERCARE_SEND_WINDOW__START": "00:00",
        "AFTERCARE_SEND_WINDOW__END": "00:00",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # This checkout's code, whichever checkout the installed package points at.
        "PYTHONPATH": str(ROOT),
    }


@contextlib.contextmanager
def _serving(
    tmp_path: Path, port: int, log_name: str = "serve.log", **extra_env: str
) -> Iterator[subprocess.Popen]:
    """``aftercare serve`` in its own process group, healthy; stopped (or killed) after."""
    log = (tmp_path / log_name).open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**_serve_env(tmp_path), **extra_env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Prefect API child goes with it
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        # An upper bound, not a timing: Prefect's temporary API server can take a minute
        # to start on a loaded two-core machine.
        assert _wait(healthy, 180), (tmp_path / log_name).read_text()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is still there
        process.wait()
        log.close()


def _post_order(base: str, number: int) -> None:
    data = json.loads(shopify_sample("orders_create", cancelled_at=None))
    body = json.dumps({**data, "id": data["id"] + number, "name": f"#{9000 + number}"}).encode()
    answer = httpx.post(
        f"{base}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", f"evt-order-{number}"),
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def test_serve_receives_shopify_webhooks_and_sends_their_emails(tmp_path: Path) -> None:
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    with _serving(tmp_path, port):
        order = shopify_sample("orders_create", cancelled_at=None)
        shipment = shopify_sample("fulfillments_create")
        for body, topic, event_id in [
            (order, "orders/create", "evt-order"),
            (shipment, "fulfillments/create", "evt-ship"),
        ]:
            answer = httpx.post(
                f"{base}/webhooks/shopify",
                content=body,
                headers=shopify_headers(body, topic, event_id),
                timeout=5,
            )
            assert answer.status_code == 200
        outbox = tmp_path / "outbox"
        assert _wait(lambda: len(list(outbox.glob("*.eml"))) == 2, 90), (
            tmp_path / "serve.log"
        ).read_text()[-3000:]
        kinds = sorted(p.name.split("-")[0] for p in outbox.glob("*.eml"))
        assert kinds == ["order_confirmation", "order_shipped"]


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda p: os.killpg(p.pid, signal.SIGKILL), id="SIGKILL of the group"),
        pytest.param(lambda p: p.send_signal(signal.SIGTERM), id="SIGTERM of serve"),
    ],
)
def test_a_serve_stopped_mid_drain_sends_every_email_once_after_a_restart(
    tmp_path: Path, stop: Callable[[subprocess.Popen], None]
) -> None:
    """The store's server reboots while a drain is sending: the restarted serve sends every
    acknowledged email within a minute, by itself, and none twice."""
    orders = 400
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    outbox = tmp_path / "outbox"

    def sent() -> int:
        return len(list(outbox.glob("*.eml")))

    with _serving(tmp_path, port) as first:
        for number in range(orders):
            _post_order(base, number)
        assert _wait(lambda: sent() > 0, 60), (tmp_path / "serve.log").read_text()[-3000:]
        sent_at_stop = sent()
        stop(first)  # mid-drain: the burst takes the drain more than a second
        first.wait(timeout=30)
    # (A SIGTERM lets the drain finish the group it is sending: what counts is that the stop
    # came while emails were still to go.)
    assert sent_at_stop < orders, "the drain finished before the stop; no crash tried"
    with _serving(tmp_path, port, "serve-again.log"):
        restarted = time.monotonic()
        assert _wait(lambda: sent() == orders, 60), (
            f"{sent()} of {orders} sent a minute after the restart\n"
            + (tmp_path / "serve-again.log").read_text()[-3000:]
        )
        waited = time.monotonic() - restarted
        time.sleep(2)  # nothing more may follow
    names = [p.name for p in outbox.glob("*.eml")]
    assert len(names) == orders == len(set(names))
    assert waited < 60
    engine = create_engine(f"sqlite:///{tmp_path / 'aftercare.db'}")
    with engine.connect() as db:
        statuses = db.execute(text("SELECT status, count(*) FROM outbox_emails GROUP BY status"))
        assert dict(statuses.all()) == {"sent": orders}
    engine.dispose()


def _daytime_zone() -> str:
    """A time zone where it is working hours now, so the scan's notice is not held back."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    for name in (
        "Pacific/Auckland",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
    ):
        if 10 <= datetime.now(UTC).astimezone(ZoneInfo(name)).hour < 18:
            return name
    raise AssertionError("no zone in working hours: the list above leaves a gap")


def test_serve_runs_the_delay_scan_by_itself(tmp_path: Path) -> None:
    """An order placed long ago and never shipped: no webhook comes, yet serve's own delay
    scan finds it and sends the notice."""
    from dataclasses import replace

    from aftercare.drain import build_pipeline, drain, receive_event
    from aftercare.sample_store import orders
    from aftercare.settings import Settings
    from aftercare.storage.database import engine_for
    from aftercare.storage.schema_migrations import upgrade
    from tests.conftest import Clock

    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'aftercare.db'}",
        outbox_dir=tmp_path / "outbox",
    )
    upgrade(engine_for(settings.database_url))
    placed_then = Clock(orders.PLACED_AT + timedelta(minutes=5))
    pipeline = replace(build_pipeline(settings), clock=placed_then)
    customer = orders.customer(time_zone=_daytime_zone())
    receive_event(pipeline, orders.placed(customer=customer))
    drain(pipeline)  # the confirmation, in 2024
    port = free_loopback_port()
    with _serving(tmp_path, port, AFTERCARE_DELAY_SCAN_FIRST_AFTER_SECONDS="1"):
        outbox = tmp_path / "outbox"
        assert _wait(lambda: list(outbox.glob("order_delayed-*.eml")), 90), (
            tmp_path / "serve.log"
        ).read_text()[-3000:]
