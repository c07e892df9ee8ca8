"""End to end: signed Shopify webhooks in, emails out of the drain flow, as `aftercare serve`
runs on the embedded default (SQLite, `.eml` outbox, a local Prefect API).

    python bench/pipeline_e2e.py [--burst 2000] [--rate 50] [--seconds 30]

Two phases against one `aftercare serve` process:
- burst: `--burst` distinct orders posted as fast as the client can, once a warm-up of 50
  has started a drain run; sustained emails/s is measured from the burst's first
  acknowledgement to its last email sent;
- steady: `--rate` webhooks/s for `--seconds`; webhook-to-email latency is each email's
  `sent_at` minus its delivery's `received_at` (both recorded by Aftercare itself).
Baseline, same run: the same number of events drained with one Prefect flow run per event
(what the drain's batching avoids), measured on a small sample and reported per email.
Targets (issue 4): >= 200 emails/s sustained, p95 <= 5 s at 50 webhooks/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "tests" / "fixtures" / "shopify" / "orders_create.json").read_text())
SECRET = "bench-secret"


def order_body(i: int) -> bytes:
    order = dict(SAMPLE)
    order.update(
        id=9_000_000 + i,
        name=f"#B{i:06d}",
        email=f"customer{i}@example.com",
        contact_email=f"customer{i}@example.com",
        cancelled_at=None,
    )
    order["customer"] = {
        **order["customer"],
        "id": 8_000_000 + i,
        "email": f"customer{i}@example.com",
    }
    return json.dumps(order).encode()


def headers_for(body: bytes, i: int, run: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Event-Id": f"{run}-{i}",
        "X-Shopify-Triggered-At": "2026-11-16T09:30:00.000000Z",
    }


async def post_all(
    base: str, bodies: list[tuple[int, bytes]], run: str, rate: float | None, concurrency: int = 16
) -> float:
    """Post every body; at ``rate`` per second when given, else as fast as possible."""
    start = time.monotonic()
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(n: int, i: int, body: bytes) -> None:
            if rate:
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            async with semaphore:
                answer = await client.post(
                    f"{base}/webhooks/shopify", content=body, headers=headers_for(body, i, run)
                )
                answer.raise_for_status()

        await asyncio.gather(*(one(n, i, b) for n, (i, b) in enumerate(bodies)))
    return time.monotonic() - start


WARM_UP = 50


def raw_request(host: str, body: bytes, i: int, run: str) -> bytes:
    """One complete HTTP/1.1 request, signed, built before the clock starts."""
    lines = ["POST /webhooks/shopify HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers_for(body, i, run).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def post_burst(host: str, port: int, requests: list[bytes], concurrency: int = 16) -> float:
    """Post pre-built requests on ``concurrency`` keep-alive connections, as fast as the
    server answers. A plain socket client: httpx costs about a millisecond of CPU a request,
    on the same two cores the server and the drain need."""
    pending = iter(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for request in pending:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"webhook answered {status}")
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.monotonic() - start


def sent_rows(engine, run: str) -> list[tuple[float, float]]:
    """(received_at, sent_at) epoch seconds for every email of this phase's deliveries."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT i.received_at, o.sent_at FROM outbox_emails o "
                "JOIN inbox_events i ON o.inbox_event_id = i.id "
                "WHERE i.source_event_id LIKE :run AND o.status = 'sent'"
            ),
            {"run": f"{run}-%"},
        ).all()
    from datetime import datetime

    def epoch(value) -> float:
        return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).timestamp()

    return [(epoch(r[0]), epoch(r[1])) for r in rows]


def wait_for(engine, run: str, count: int, seconds: float) -> list[tuple[float, float]]:
    deadline = time.monotonic() + seconds
    rows = sent_rows(engine, run)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = sent_rows(engine, run)
    return rows


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def per_event_flow_baseline(work: Path, sample: int) -> float:
    """Seconds per email when every event gets its own Prefect flow run (in-process)."""
    script = f"""
import time
from prefect import flow
from aftercare.settings import Settings
from aftercare.drain import (
    build_pipeline, claim_events, prepare_emails, receive_event, send_due_emails,
)
from aftercare.storage.database import engine_for
from aftercare.storage.schema_migrations import upgrade
from aftercare.sample_store import orders

settings = Settings(
    database_url="sqlite:///{work / "baseline.db"}",
    outbox_dir="{work / "baseline-outbox"}",
    _env_file=None,
)
upgrade(engine_for(settings.database_url))
pipeline = build_pipeline(settings)

@flow
def one_event() -> None:
    claimed = claim_events(pipeline, limit=1)
    prepare_emails(pipeline, claimed)
    send_due_emails(pipeline, limit=1)

for i in range({sample}):
    receive_event(pipeline, orders.placed(f"e{{i}}", external_id=f"o{{i}}", number=f"#{{i}}"))
one_event()  # warm-up: the local API starts
start = time.perf_counter()
for _ in range({sample} - 1):
    one_event()
print((time.perf_counter() - start) / ({sample} - 1))
"""
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the ephemeral Prefect API it starts goes with it
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PREFECT_HOME": str(work / "prefect-baseline"),
            # Its API starts while the machine is still busy with the phases above.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        },
    )
    out, _ = process.communicate()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode != 0:
        raise RuntimeError("the per-event baseline failed")
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--baseline-sample", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aftercare-e2e-"))
    db_url = f"sqlite:///{work / 'aftercare.db'}"
    port = 8790
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AFTERCARE_"))},
        "AFTERCARE_DATABASE_URL": db_url,
        "AFTERCARE_OUTBOX_DIR": str(work / "outbox"),
        "AFTERCARE_SHOPIFY__WEBHOOK_SECRET": SECRET,
        "AFTERCARE_SHOPIFY__CONFIRM_ON": "orders/create",
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its Prefect API and flow-run processes go with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit((work / "serve.log").read_text()[-3000:])
            time.sleep(0.3)
        engine = create_engine(db_url)
        time.sleep(3)  # the runner registers and polls

        host = f"127.0.0.1:{port}"
        # Warm-up: the first webhooks start a drain run (a Prefect flow run starts in a few
        # seconds); the burst then meets a running drain, as on a busy day.
        warm = [raw_request(host, order_body(10**6 + i), i, "warm") for i in range(WARM_UP)]
        asyncio.run(post_burst("127.0.0.1", port, warm))
        wait_for(engine, "warm", WARM_UP, 120)
        requests = [raw_request(host, order_body(i), i, "burst") for i in range(args.burst)]
        post_seconds = asyncio.run(post_burst("127.0.0.1", port, requests))
        burst = wait_for(engine, "burst", args.burst, 600)
        first_received = min(r for r, _ in burst)
        last_sent = max(s for _, s in burst)
        burst_rate = len(burst) / (last_sent - first_received)

        steady_n = int(args.rate * args.seconds)
        bodies = [(args.burst + i, order_body(args.burst + i)) for i in range(steady_n)]
        asyncio.run(post_all(base, bodies, "steady", rate=args.rate))
        steady = wait_for(engine, "steady", steady_n, 300)
        latencies = [sent - received for received, sent in steady]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # anything it left behind
        log.close()

    baseline = per_event_flow_baseline(work, args.baseline_sample)
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nEnd to end on the embedded default (SQLite, .eml outbox, aftercare serve), "
        f"{os.cpu_count()} cores\n"
    )
    print("| measure | value |")
    print("|---|---:|")
    print(
        f"| burst: webhooks posted | {args.burst} in {post_seconds:.1f} s "
        f"({args.burst / post_seconds:.0f}/s acknowledged) |"
    )
    print(f"| burst: emails sent | {len(burst)} |")
    print(f"| burst: sustained emails/s (first ack → last email) | {burst_rate:.0f} |")
    print(
        f"| steady {args.rate:.0f} webhooks/s for {args.seconds} s: emails sent | {len(steady)} |"
    )
    print(f"| steady: webhook-to-email p50 | {statistics.median(latencies):.2f} s |")
    print(f"| steady: webhook-to-email p95 | {percentile(latencies, 95):.2f} s |")
    print(
        f"| baseline: one flow run per event | {1 / baseline:.1f} emails/s "
        f"({baseline * 1000:.0f} ms per email) |"
    )


if __name__ == "__main__":
    main()
