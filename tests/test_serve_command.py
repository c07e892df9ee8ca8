"""``aftercare serve`` as a store owner runs it: one command, webhooks in, emails out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ses_server import free_loopback_port
from tests.test_webhook_receiver import SHOPIFY_SECRET, shopify_headers, shopify_sample

pytestmark = pytest.mark.prefect


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_serve_receives_shopify_webhooks_and_sends_their_emails(tmp_path: Path) -> None:
    port = free_loopback_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "AFTERCARE_DATABASE_URL": f"sqlite:///{tmp_path / 'aftercare.db'}",
        "AFTERCARE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "AFTERCARE_SHOPIFY__WEBHOOK_SECRET": SHOPIFY_SECRET,
        "AFTERCARE_SHOPIFY__CONFIRM_ON": "orders/create",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Prefect API child goes with it
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert _wait(healthy, 60), (tmp_path / "serve.log").read_text()
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
    finally:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is still there
        process.wait()
        log.close()
