"""The ``aftercare`` command: the domain's commands plus those that run Prefect flows.

``demo``, ``process`` and ``drain`` run the drain flow, ``serve`` serves the deployments
beside the webhook receiver: they live here, beside the flows, and ``build_app`` adds them
to the domain's command line (``aftercare.cli.build_cli``: db, outbox, inbox, track,
templates). ``[project.scripts]`` points the installed ``aftercare`` at ``app``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from aftercare.cli import build_cli, console, load_settings, migrate
from aftercare.events import OrderEvent
from aftercare.privacy import mask_email

if TYPE_CHECKING:
    import uvicorn

    from aftercare.receiver import Receiver
    from aftercare.settings import Settings
    from flows.nudge import DrainNudger


def build_app() -> typer.Typer:
    """The whole ``aftercare`` command line, the flow commands first."""
    return build_cli(commands=(demo, process, drain, serve, setup, scan_delays))


def _local_prefect_defaults() -> None:
    """Settings for the local Prefect API a flow command may start, unless the user set them.

    Set before Prefect is imported, and inherited by every process it starts.
    """
    # Prefect's telemetry heartbeat writes to the ephemeral server's SQLite file while the
    # flow does, and logs "database is locked" tracebacks; a local pipeline needs no telemetry.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start after installing compiles Prefect's server and creates its database,
    # which can take longer than Prefect's 20 s default for its local API to come up.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _run_drain() -> dict:
    """Drain through the real Prefect flow (an ephemeral local API when none is configured)."""
    _local_prefect_defaults()
    from flows.drain_inbox import drain_inbox

    return drain_inbox()


def demo() -> None:
    """Run the demo store's events through the real pipeline into ./outbox/ (no AWS needed)."""
    # The demo's emails ask through Aftercare's own pages (rating, "did this answer your
    # question?"), served by `aftercare serve` on this machine, unless told otherwise; the
    # demo's flows read the settings from the environment.
    with _environment_default("AFTERCARE_ACTION_LINKS", "true"):
        _demo()


@contextlib.contextmanager
def _environment_default(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` unless already set, for the duration only."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _demo() -> None:
    from aftercare.sample_store import load_sample_store
    from aftercare.sample_store.demo import (
        demo_emails,
        install_sample_store,
        queue_later_events,
        write_demo_tickets,
    )
    from aftercare.storage.database import engine_for, session_factory

    started = time.monotonic()
    settings = load_settings()
    run_started = datetime.now(UTC)
    migrate(settings)
    sessions = session_factory(engine_for(settings.database_url))
    sample = load_sample_store(run_started)
    load = install_sample_store(sessions, sample, run_started, settings.store, settings.delays)
    console.print(
        f"Fern & Field loaded: {load.products} products, "
        f"{load.past_orders + load.history_orders} past orders added, "
        f"{load.new_events} new events queued ({load.duplicate_events} already received before)."
    )
    summary = _run_drain()
    if queue_later_events(sessions, sample, run_started):
        _run_drain()  # the carrier's delivery scans: their delivered emails
    scan = _scan_for_demo()
    emails = demo_emails(sessions)
    where = f"{settings.outbox_dir}/" if settings.transport == "outbox" else "SES message id"
    table = Table(title=f"Emails from the demo store ({where})")
    for column in (
        "kind",
        "to",
        "subject",
        "file" if settings.transport == "outbox" else "id",
        "status",
        "this run",
    ):
        table.add_column(column, overflow="fold")
    for email in emails:
        fresh = email.created_at >= run_started
        table.add_row(
            email.kind,
            mask_email(email.recipient),
            email.subject,
            email.location or "-",
            email.status,
            "new" if fresh else "not sent again",
        )
    console.print(table)
    new = sum(1 for e in emails if e.created_at >= run_started)
    handed = summary["send"]["sent"] + scan["sent"]
    console.print(
        f"{new} new emails this run, {handed} handed to the transport; "
        f"{len(emails) - new} were sent by an earlier run and not sent again. "
        f"({time.monotonic() - started:.1f} s)"
    )
    if scan["notices"]:
        console.print(
            f"The delay scan found {scan['late']} late order(s) and raised "
            f"{scan['notices']} delay notice(s)."
        )
    waiting = sorted(
        {e.kind for e in emails if e.created_at >= run_started and e.status == "pending"}
    )
    if waiting:
        window = settings.send_window
        console.print(
            f"Waiting for the customer's daytime ({window.start:%H:%M}-{window.end:%H:%M} their"
            f" time): {', '.join(waiting)}; each waits in the outbox for their morning."
        )
    if settings.transport == "outbox":
        console.print(f"Open the .eml files in {settings.outbox_dir}/ with any mail program.")
    if settings.action_links:
        console.print(
            f'Their rating and "did this answer your question?" links open {settings.public_url}:'
            " run `aftercare serve`, click one, and `aftercare report` counts it."
        )
    tickets = write_demo_tickets(sessions, Path.cwd(), run_started)
    console.print(
        f"The store's support tickets over its order history are in {tickets.name}: "
        f"`aftercare faq learn {tickets.name}` learns which questions follow which email, "
        "and `aftercare explain EMAIL_ID` shows why an email answers what it answers."
    )


def _scan_for_demo() -> dict:
    """The delay scan, as ``aftercare serve`` runs it every 15 minutes."""
    from flows.scan_for_delays import scan_for_delays

    return scan_for_delays()


def process(
    path: Annotated[Path, typer.Argument(help="A JSON file: one normalized event or a list.")],
) -> None:
    """Queue the events in a JSON file and drain them through the Prefect flow."""
    from aftercare.drain import build_pipeline, receive_event

    settings = load_settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        events = TypeAdapter(list[OrderEvent]).validate_python(
            raw if isinstance(raw, list) else [raw]
        )
    except (OSError, json.JSONDecodeError) as exc:
        console.print(f"[red]Cannot read {path}:[/red] {exc}")
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        console.print(f"[red]{path} is not a valid order event:[/red]\n{exc}")
        raise typer.Exit(2) from exc
    migrate(settings)
    pipeline = build_pipeline(settings)
    new = sum(1 for e in events if not receive_event(pipeline, e).duplicate)
    console.print(f"{new} new events queued, {len(events) - new} duplicates ignored.")
    summary = _run_drain()
    prepared, sent = summary["prepare"], summary["send"]
    console.print(
        f"{prepared['emails_written']} emails written, {sent['sent']} sent, {sent['failed']} "
        f"failed, {prepared['retried'] + sent['retried']} waiting to retry."
    )


def scan_delays(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which orders are late; raise and send nothing.")
    ] = False,
) -> None:
    """Find late orders and tell their customers (the scheduled scan does this every 15 min)."""
    from rich.progress import Progress

    from aftercare.drain import build_pipeline
    from aftercare.drain.delay_scan import count_due, scan_for_delays

    settings = load_settings()
    migrate(settings)
    pipeline = build_pipeline(settings)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Looking at orders", total=count_due(pipeline, pipeline.clock()))
        report = scan_for_delays(
            pipeline, dry_run=dry_run, progress=lambda n: progress.update(task, completed=n)
        )
    table = Table(title="Late orders" + (" (dry run: nothing raised)" if dry_run else ""))
    for column in ("order", "stage", "why", "new date", "notice"):
        table.add_column(column)
    for found in report.late:
        table.add_row(
            found.order_number,
            found.stage.replace("_", " "),
            found.why,
            found.new_estimated_delivery,
            "raised" if found.notified else ("would raise" if dry_run else "told before"),
        )
    console.print(table)
    sent = _run_drain()["send"]["sent"] if report.notices else 0
    console.print(
        f"{report.looked_at} orders looked at, {len(report.late)} late, "
        f"{report.notices} notices raised, {sent} emails sent."
    )


def drain() -> None:
    """Process every due event and email now (the scheduled deployment does this every minute)."""
    settings = load_settings()
    migrate(settings)
    console.print_json(data=_run_drain())


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    receiver_only: Annotated[
        bool,
        typer.Option(
            help="Only receive webhooks; Prefect workers run the flows "
            "(the default when PREFECT_API_URL points at a Prefect server)."
        ),
    ] = False,
) -> None:
    """Receive store webhooks on /webhooks/{shopify,woocommerce,generic} and send the emails.

    On the embedded default this one command is everything a small store runs: the receiver
    plus Aftercare's Prefect deployments (the inbox drain, every minute and on each webhook).
    """
    _local_prefect_defaults()
    import threading

    from prefect.settings import PREFECT_HOME

    from flows.serve import (
        LEARN_FAQ_DEPLOYMENT,
        PURGE_DEPLOYMENT,
        REBUILD_CROSS_SELL_DEPLOYMENT,
        SCAN_DELAYS_DEPLOYMENT,
        AnotherServeRunningError,
        Daily,
        local_prefect_api,
        only_serve,
        register_deployments,
        serve_deployments,
    )

    settings = load_settings()
    migrate(settings)
    if receiver_only or os.environ.get("PREFECT_API_URL"):
        receiver, server, nudger = _receiver_for(settings, host, port)
        console.print("Flows run on your Prefect workers (see prefect.yaml); this only receives.")
        with nudger:
            server.run()
        return
    try:
        with only_serve(PREFECT_HOME.value()):
            receiver, server, nudger = _receiver_for(settings, host, port)
            with local_prefect_api() as api_url:
                register_deployments()  # before the first webhook can nudge them
                _recover_from_a_previous_serve(settings)
                web = threading.Thread(target=server.run, name="webhook-receiver", daemon=True)
                learning = (
                    Daily(LEARN_FAQ_DEPLOYMENT, first_after=120)
                    if settings.faq_tickets_source
                    else contextlib.nullcontext()
                )
                scans = Daily(
                    SCAN_DELAYS_DEPLOYMENT,
                    every_seconds=settings.delay_scan_every_seconds,
                    first_after=settings.delay_scan_first_after_seconds,
                )
                # The cross-sell model: drains learn one from the stored orders when none
                # is stored; rebuilt daily from then on (5 minutes after start).
                rebuilds = Daily(REBUILD_CROSS_SELL_DEPLOYMENT, first_after=300)
                with nudger, Daily(PURGE_DEPLOYMENT), learning, scans, rebuilds:
                    web.start()
                    console.print(
                        f"Serving the drain-inbox deployment (Prefect API {api_url}): it runs "
                        "whenever a webhook arrives, and every "
                        f"{settings.safety_drain_seconds:.0f} s when something is due."
                    )
                    nudger.nudge()  # what the last serve left due goes out now
                    try:
                        serve_deployments()
                    finally:
                        server.should_exit = True
                        web.join(timeout=10)
    except AnotherServeRunningError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def setup(
    work_pool: Annotated[str, typer.Option(help="The work pool prefect.yaml deploys to.")] = (
        "aftercare"
    ),
    unresponsive_after: Annotated[
        float,
        typer.Option(
            min=60,
            help="Seconds without a heartbeat after which a drain's run is marked Crashed.",
        ),
    ] = 90,
) -> None:
    """Prepare a Prefect server for Aftercare's workers (run once, before `prefect deploy`).

    Creates the process work pool and the automation that marks a drain whose worker died
    as Crashed, so its concurrency slot is free again. The embedded default needs none of it.
    """
    if not os.environ.get("PREFECT_API_URL"):
        console.print(
            "[red]PREFECT_API_URL is not set.[/red] `aftercare setup` prepares a Prefect "
            "server for workers; the embedded default (`aftercare serve` alone) needs no setup."
        )
        raise typer.Exit(2)
    from flows.prefect_setup import set_up

    try:
        report = set_up(work_pool, unresponsive_after)
    except Exception as exc:  # noqa: BLE001 - a connection problem, said in one line
        where = os.environ["PREFECT_API_URL"]
        console.print(f"[red]Cannot set up the Prefect server at {where}:[/red] {exc}")
        raise typer.Exit(1) from None
    pool = "created" if report.work_pool_created else "already there"
    automation = "replaced" if report.automation_replaced else "created"
    console.print(
        f"Work pool {work_pool!r}: {pool}. Unresponsive-run automation: {automation} (a drain "
        f"silent for {unresponsive_after:.0f} s is marked Crashed). Next: `prefect deploy --all`, "
        f"then `prefect worker start --pool {work_pool}` on each machine."
    )


def _recover_from_a_previous_serve(settings: Settings) -> None:
    """What a serve that died left behind, settled before this one takes webhooks.

    Its drain runs hold the deployment's concurrency slot in the local Prefect database, and
    its drain's claims would keep events and emails waiting for the claim timeout; nothing
    else can be draining while this process holds the serve lock.
    """
    from aftercare.drain import build_pipeline
    from aftercare.drain.recovery import recover_after_crash
    from flows.serve import recover_abandoned_runs

    runs = recover_abandoned_runs()
    held = recover_after_crash(build_pipeline(settings))
    if runs.crashed or held.events_released or held.sends_settled:
        console.print(
            f"Recovered from a previous serve that stopped mid-drain: {runs.crashed} drain "
            f"run(s) settled, {held.events_released} event(s) and {held.sends_settled} "
            "email(s) it held are due again (each email still goes out once)."
        )


def _receiver_for(
    settings: Settings, host: str, port: int
) -> tuple[Receiver, uvicorn.Server, DrainNudger]:
    """The webhook receiver, its HTTP server and the nudger that starts drains for it."""
    from datetime import timedelta

    import uvicorn

    from aftercare.drain.backlog import work_is_due
    from aftercare.drain.order_notes import noting_sources
    from aftercare.receiver import build_app, build_receiver
    from flows.nudge import DrainNudger

    def nudge() -> None:
        nudger.nudge()

    receiver = build_receiver(settings, nudge)
    claim_timeout = timedelta(seconds=settings.claim_timeout_seconds)
    nudger = DrainNudger(
        safety_seconds=settings.safety_drain_seconds,
        work_is_due=lambda: work_is_due(
            receiver.sessions,
            claim_timeout,
            datetime.now(UTC),
            forwarding=settings.action_webhook_url is not None,
            noting=noting_sources(settings),
        ),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(receiver), host=host, port=port, log_level="warning", access_log=False
        )
    )
    routes = ", ".join(f"/webhooks/{name}" for name in sorted(receiver.adapters))
    console.print(f"Receiving webhooks on http://{host}:{port} ({routes}); GET /healthz")
    return receiver, server, nudger


app = build_app()

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
