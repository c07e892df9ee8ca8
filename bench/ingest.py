"""Webhook ingest benchmark: how fast signed Shopify ``orders/create`` deliveries are stored
and acknowledged, next to a bare hello-world route of the same server, in the same run.

    python bench/ingest.py [--seconds 10] [--connections 16]

Needs ``wrk`` (Debian: ``apt-get install wrk``) as the load generator: a Python client on a
2-core machine would measure itself. The server runs as ``aftercare serve`` runs the
receiver: one uvicorn process (one core) and the inbox writer process it starts, which
shares the other core with wrk (one thread). Every request carries a unique
``X-Shopify-Event-Id`` (the body, and so the signature, stays the same), so each one is a
new inbox row, not a duplicate.
Targets (issue 4): ≥ 50 % of the hello-world rate, p99 < 25 ms.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "shopify" / "orders_create.json"
SECRET = "bench-secret"
POSTGRES_ADMIN = os.environ.get(
    "AFTERCARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

LUA = """
counter = 0
request = function()
  counter = counter + 1
  wrk.headers["X-Shopify-Event-Id"] = "bench-" .. id_prefix .. "-" .. counter
  return wrk.format("POST", path, nil, body)
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "ingest_server.py"),
            "--database-url",
            database_url,
            "--port",
            str(port),
        ],
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("benchmark server did not start")


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    result = {"rate": rate}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        result[f"p{pct}"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = int(non2xx.group(1)) if non2xx else 0
    return result


def write_script(directory: Path, path: str, body: bytes, headers: dict[str, str]) -> Path:
    lines = [
        f'path = "{path}"',
        f"body = {json.dumps(body.decode())}",
        f'id_prefix = "{uuid.uuid4().hex[:8]}"',
        'wrk.method = "POST"',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script = directory / f"{path.strip('/').replace('/', '_')}.lua"
    script.write_text("\n".join(lines) + "\n" + LUA)
    return script


def server_stack() -> str:
    """What uvicorn runs on here: it picks httptools and uvloop when they are installed,
    which changes the hello-world rate more than the ingest rate."""
    import importlib.util

    import uvicorn

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {uvicorn.__version__}, HTTP parser {parser}, event loop {loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    order = json.loads(SAMPLE.read_text())
    order["cancelled_at"] = None
    body = json.dumps(order).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Shop-Domain": "bench.myshopify.com",
        "X-Shopify-Triggered-At": "2026-11-16T09:30:00.000000Z",
    }
    env = {
        **os.environ,
        "AFTERCARE_SHOPIFY__WEBHOOK_SECRET": SECRET,
        "AFTERCARE_SHOPIFY__CONFIRM_ON": "orders/create",
        "PYTHONPATH": str(ROOT),
    }

    work = Path(tempfile.mkdtemp(prefix="aftercare-ingest-"))
    pg_name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
    databases = {
        "SQLite (WAL)": f"sqlite:///{work / 'ingest.db'}",
        "PostgreSQL": POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}",
    }
    rows = []
    try:
        for label, url in databases.items():
            port = free_port()
            server = start_server(url, port, env)
            try:
                base = f"http://127.0.0.1:{port}"
                hello = run_wrk(
                    f"{base}/hello",
                    write_script(work, "/hello", body, headers),
                    args.seconds,
                    args.connections,
                )
                ingest = run_wrk(
                    f"{base}/webhooks/shopify",
                    write_script(work, "/webhooks/shopify", body, headers),
                    args.seconds,
                    args.connections,
                )
            finally:
                server.terminate()
                server.wait()
            rows.append((label, hello, ingest))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nSigned Shopify orders/create, {args.connections} connections, {args.seconds} s each "
        f"(wrk, 1 thread; server: 1 uvicorn process and its inbox writer process; "
        f"{server_stack()})\n"
    )
    print("| database | route | requests/s | p50 ms | p99 ms | non-2xx | % of hello |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, hello, ingest in rows:
        for name, r in (("hello world (baseline)", hello), ("/webhooks/shopify", ingest)):
            share = 100 * r["rate"] / hello["rate"]
            print(
                f"| {label} | {name} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                f"{r['errors']} | {share:.0f} % |"
            )


if __name__ == "__main__":
    main()
