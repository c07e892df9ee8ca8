"""The fault-injection run, larger than the suite's: prints a table per database.

    .venv/bin/python bench/chaos.py [--orders 200] [--kills 12] [--ses-kills 4] [--hostile 400]

Scenarios, each on SQLite and PostgreSQL (``AFTERCARE_TEST_POSTGRES_URL``, default the local
server; a database is created and dropped for the run):

- duplicates: ``--orders`` paid Shopify orders, each delivered five times at once to the real
  receiver on loopback, then drained;
- kills: ``--kills`` drains SIGKILLed at a random point (before a claim, after rendering an
  email, after the transport accepted emails) after a random number of passes, each then
  restarted as ``aftercare serve`` restarts (recover what the dead drain held, drain);
  baseline, same run: the same kills restarted by a plain drain, as before the recovery;
- SES: ``--ses-kills`` drains sending through SES (moto's server) killed right after SES
  accepted an email: the one window no code can close (SES cannot be asked whether it took
  a message), measured;
- hostile: ``--hostile`` hypothesis-generated forged, broken and oversized requests.

Every count but "acknowledged" must read 0, except "needs a person" on the SES rows.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from aftercare.drain import build_pipeline, drain  # noqa: E402
from aftercare.receiver import InboxWriter, Receiver  # noqa: E402
from aftercare.settings import SesOptions, Settings  # noqa: E402
from aftercare.storage.database import make_engine, session_factory  # noqa: E402
from aftercare.storage.schema_migrations import upgrade  # noqa: E402
from aftercare.stores.registry import build_adapters  # noqa: E402
from tests.chaos import harness  # noqa: E402
from tests.ses_server import running_moto_server  # noqa: E402
from tests.webhook_server import running_receiver  # noqa: E402

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POINTS = ("before_claim", "after_render", "after_transport_accepts")
PERSONAL = re.compile(
    "|".join(
        map(
            re.escape,
            [
                *re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", str(harness.ORDER_SAMPLE)),
                "anna.keller@example.com",
                "Karl-Liebknecht",
            ],
        )
    )
)


@dataclass
class Row:
    scenario: str
    runs: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    unsent: int = 0
    needs_a_person: int = 0
    server_errors: int = 0
    forgeries_accepted: int = 0
    personal_data_in_logs: int = 0

    def add(self, tally: harness.Tally) -> None:
        self.runs += 1
        self.acknowledged += tally.acknowledged
        self.lost += tally.lost
        self.duplicated += tally.duplicated
        self.unsent += tally.unsent
        self.needs_a_person += tally.needs_a_person


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / f'chaos-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"aftercare_chaos_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of this process, as a log shipper would see them."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(args)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def fresh(url: str):  # noqa: ANN201
    engine = make_engine(url)
    upgrade(engine)
    return engine


def duplicates(url: str, work: Path, orders: int) -> Row:
    work.mkdir(parents=True, exist_ok=True)
    row = Row("duplicates x5 in parallel")
    engine = fresh(url)
    settings = Settings(
        database_url=url,
        outbox_dir=work / "dup-outbox",
        shopify={
            "webhook_secret": SecretStr(harness.SHOPIFY_SECRET),
            "confirm_on": "orders/create",
        },
        _env_file=None,
    )
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(settings),
        nudge=lambda: None,
    )
    from concurrent.futures import ThreadPoolExecutor

    with (
        captured_logs() as logs,
        running_receiver(receiver) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        bodies = [(harness.shopify_order(n), f"evt-{n}") for n in range(orders) for _ in range(5)]

        def post(item: tuple[bytes, str]) -> int:
            body, event_id = item
            headers = harness.shopify_headers(body, event_id)
            return client.post("/webhooks/shopify", content=body, headers=headers).status_code

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(post, bodies))
        writer.close()
        pipeline = build_pipeline(settings)
        sends = work / "dup-sends.log"
        drain(
            __import__("dataclasses").replace(
                pipeline, transport=harness.RecordingTransport(pipeline.transport, sends)
            )
        )
    row.server_errors = sum(1 for a in answers if a >= 500)
    row.add(harness.tally(engine, sends))
    row.personal_data_in_logs = len(PERSONAL.findall(logs.getvalue()))
    engine.dispose()
    return row


def kills(url: str, work: Path, count: int, orders: int, recover: bool, seed: int) -> Row:
    work.mkdir(parents=True, exist_ok=True)
    row = Row("kills at random points" + ("" if recover else " (baseline: no recovery)"))
    rng = random.Random(seed)
    harness.CRASH_OUTPUT.clear()
    with captured_logs() as logs:
        for i in range(count):
            point = rng.choice(POINTS)
            after = rng.randrange(0, 3 if point == "before_claim" else orders)
            run = work / f"kill-{recover}-{i}"
            run.mkdir()
            run_url = url if url.startswith("postgresql") else f"sqlite:///{run / 'a.db'}"
            engine = fresh(run_url)
            if url.startswith("postgresql"):
                with engine.begin() as c:
                    c.execute(
                        text(
                            "TRUNCATE inbox_events, outbox_emails, orders, customers, "
                            "line_items, fulfilments, refunds, products RESTART IDENTITY "
                            "CASCADE"
                        )
                    )
            settings = harness.crash_settings(run_url, run)
            _, tally = harness.run_scenario(
                point, after, settings, engine, run / "sends.log", count=orders, recover=recover
            )
            row.add(tally)
            engine.dispose()
    output = logs.getvalue() + b"".join(harness.CRASH_OUTPUT).decode("utf-8", "replace")
    row.personal_data_in_logs = len(PERSONAL.findall(output))
    return row


def ses_window(url: str, work: Path, count: int, orders: int, seed: int) -> Row:
    work.mkdir(parents=True, exist_ok=True)
    row = Row("SES: killed after SES accepted")
    rng = random.Random(seed)
    with running_moto_server() as endpoint:
        import boto3

        for i in range(count):
            run = work / f"ses-{i}"
            run.mkdir()
            run_url = url if url.startswith("postgresql") else f"sqlite:///{run / 'a.db'}"
            engine = fresh(run_url)
            if url.startswith("postgresql"):
                with engine.begin() as c:
                    c.execute(
                        text(
                            "TRUNCATE inbox_events, outbox_emails, orders, customers, "
                            "line_items, fulfilments, refunds RESTART IDENTITY CASCADE"
                        )
                    )
            options = SesOptions(region="eu-west-1", endpoint_url=endpoint)
            boto3.client(
                "sesv2",
                region_name="eu-west-1",
                endpoint_url=endpoint,
                aws_access_key_id="x",
                aws_secret_access_key="x",
            ).create_email_identity(EmailIdentity="hello@fernandfield.example")
            settings = harness.crash_settings(run_url, run, transport="ses", ses=options)
            _, tally = harness.run_scenario(
                "after_transport_accepts",
                rng.randrange(0, orders),
                settings,
                engine,
                run / "sends.log",
                count=orders,
            )
            row.add(tally)
            engine.dispose()
    return row


def hostile(url: str, work: Path, examples: int) -> Row:
    work.mkdir(parents=True, exist_ok=True)
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    from tests.chaos.test_hostile_input import GENERIC_SECRET, WOO_SECRET, _requests

    row = Row("hostile-input burst")
    engine = fresh(url)
    settings = Settings(
        database_url=url,
        outbox_dir=work / "hostile-outbox",
        shopify={"webhook_secret": SecretStr(harness.SHOPIFY_SECRET)},
        woocommerce={"webhook_secret": SecretStr(WOO_SECRET)},
        generic={"webhook_secret": SecretStr(GENERIC_SECRET)},
        _env_file=None,
    )
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(settings),
        nudge=lambda: None,
    )
    answers: list[tuple[dict, int]] = []
    with captured_logs() as logs, running_receiver(receiver) as base:

        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(request=_requests(settings.webhook_max_body_bytes))
        def burst(request: dict) -> None:
            try:
                answer = httpx.post(
                    f"{base}/webhooks/{request['store']}",
                    content=request["body"],
                    headers=request["headers"],
                    timeout=10,
                )
            except httpx.RemoteProtocolError:
                return
            answers.append((request, answer.status_code))

        burst()
        drain(build_pipeline(settings))  # what was stored is parsed: no crash there either
    writer.close()
    row.runs = 1
    row.acknowledged = len(answers)
    row.server_errors = sum(1 for _, status in answers if status >= 500)
    row.forgeries_accepted = sum(
        1 for r, status in answers if r["how"] != "signed" and status not in (401, 413)
    )
    row.personal_data_in_logs = len(PERSONAL.findall(logs.getvalue()))
    engine.dispose()
    return row


COLUMNS = (
    ("scenario", 47),
    ("runs", 5),
    ("acknowledged", 13),
    ("lost", 5),
    ("duplicated", 11),
    ("unsent", 7),
    ("needs_a_person", 15),
    ("server_errors", 6),
    ("forgeries_accepted", 10),
    ("personal_data_in_logs", 9),
)
HEADINGS = {
    "server_errors": "5xx",
    "forgeries_accepted": "forgeries",
    "personal_data_in_logs": "PII logs",
    "needs_a_person": "needs a person",
    "unsent": "unsent",
}


def print_table(kind: str, rows: list[Row]) -> None:
    print(f"\n{kind}")
    print(
        " ".join(
            HEADINGS.get(n, n).ljust(w) if n == "scenario" else HEADINGS.get(n, n).rjust(w)
            for n, w in COLUMNS
        )
    )
    for row in rows:
        print(
            " ".join(
                str(getattr(row, n)).ljust(w) if n == "scenario" else str(getattr(row, n)).rjust(w)
                for n, w in COLUMNS
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--ses-kills", type=int, default=4)
    parser.add_argument("--hostile", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    # moto's server takes any credentials; the killed drains inherit these.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.setdefault(name, "testing")
    logging.getLogger("hypothesis").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="aftercare-chaos-"))
    try:
        for kind in ("sqlite", "postgresql"):
            with database(kind, work) as url:
                rows = [
                    duplicates(url, work / f"{kind}-dup", args.orders),
                    kills(url, work / f"{kind}-k", args.kills, 60, True, args.seed),
                    kills(url, work / f"{kind}-b", args.kills, 60, False, args.seed),
                    ses_window(url, work / f"{kind}-ses", args.ses_kills, 60, args.seed),
                    hostile(url, work / f"{kind}-h", args.hostile),
                ]
            print_table(kind, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
