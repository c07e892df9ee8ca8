"""The ``aftercare`` command: the domain's commands plus those that run Prefect flows.

``demo``, ``process`` and ``drain`` run the drain flow, ``serve`` serves the deployments
beside the webhook receiver: they live here, beside the flows, and ``build_app`` adds them
to the domain's command line (``aftercare.cli.build_cli``: db, outbox, inbox, track,
templates). ``[project.scripts]`` points the installed ``aftercare`` at ``app``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from aftercare.cli import build_cli, console, load_settings, migrate
from aftercare.events import OrderEvent
from aftercare.privacy import mask_email


def build_app() -> typer.Typer:
    """The whole ``aftercare`` command line, the flow commands first."""
    return build_cli(commands=(demo, process, drain, serve))


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
    from aftercare.sample_store import load_sample_store
    from aftercare.sample_store.demo import demo_emails, install_sample_store
    from aftercare.storage.database import engine_for, session_factory

    started = time.monotonic()
    settings = load_settings()
    run_started = datetime.now(UTC)
    migrate(settings)
    sessions = session_factory(engine_for(settings.database_url))
    load = install_sample_store(sessions, load_sample_store(run_started), run_started)
    console.print(
        f"Fern & Field loaded: {load.products} products, {load.past_orders} past orders added, "
        f"{load.new_events} new events queued ({load.duplicate_events} already received before)."
    )
    summary = _run_drain()
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
    console.print(
        f"{new} new emails this run, {summary['send']['sent']} handed to the transport; "
        f"{len(emails) - new} were sent by an earlier run and not sent again. "
        f"({time.monotonic() - started:.1f} s)"
    )
    if settings.transport == "outbox":
        console.print(f"Open the .eml files in {settings.outbox_dir}/ with any mail program.")


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

    import uvicorn

    from aftercare.receiver import build_app, build_receiver
    from flows.nudge import DrainNudger
    from flows.serve import local_prefect_api, register_deployments, serve_deployments

    settings = load_settings()
    migrate(settings)
    nudger = DrainNudger()
    receiver = build_receiver(settings, nudger.nudge)
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(receiver), host=host, port=port, log_level="warning", access_log=False
        )
    )
    routes = ", ".join(f"/webhooks/{name}" for name in sorted(receiver.adapters))
    console.print(f"Receiving webhooks on http://{host}:{port} ({routes}); GET /healthz")
    if receiver_only or os.environ.get("PREFECT_API_URL"):
        console.print("Flows run on your Prefect workers (see prefect.yaml); this only receives.")
        with nudger:
            server.run()
        return
    with local_prefect_api() as api_url, nudger:
        register_deployments()  # before the first webhook can nudge them
        web = threading.Thread(target=server.run, name="webhook-receiver", daemon=True)
        web.start()
        console.print(
            f"Serving the drain-inbox deployment (Prefect API {api_url}): it runs "
            "every minute and whenever a webhook arrives."
        )
        try:
            serve_deployments()
        finally:
            server.should_exit = True
            web.join(timeout=10)


app = build_app()

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
