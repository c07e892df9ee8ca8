"""The ``aftercare`` command line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from aftercare.events import OrderEvent
from aftercare.logging_setup import configure_logging
from aftercare.privacy import mask_email
from aftercare.settings import Settings

app = typer.Typer(
    help="Aftercare: order events in, helpful transactional emails out.", no_args_is_help=True
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
outbox_app = typer.Typer(
    help="Emails: what was sent, what failed, what is waiting.", no_args_is_help=True
)
inbox_app = typer.Typer(help="Events: what arrived and what became of it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(inbox_app, name="inbox")

# Wide enough for the demo's table when output goes to a file or CI log (no terminal).
console = Console(width=shutil.get_terminal_size((150, 40)).columns)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)
    # Prefect's telemetry heartbeat writes to the ephemeral server's SQLite file while the
    # flow does, and logs "database is locked" tracebacks; a local pipeline needs no telemetry.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start after installing compiles Prefect's server and creates its database,
    # which can take longer than Prefect's 20 s default for its local API to come up.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        console.print(f"[red]Settings are invalid:[/red]\n{exc}")
        raise typer.Exit(2) from exc


def _migrate(settings: Settings) -> None:
    from aftercare.storage.database import engine_for
    from aftercare.storage.schema_migrations import upgrade

    upgrade(engine_for(settings.database_url))


def _run_drain() -> dict:
    """Drain through the real Prefect flow (an ephemeral local API when none is configured)."""
    from flows.drain_inbox import drain_inbox

    return drain_inbox()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = _settings()
    _migrate(settings)
    console.print(f"Database at {_safe_url(settings.database_url)} is up to date.")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo() -> None:
    """Run the demo store's events through the real pipeline into ./outbox/ (no AWS needed)."""
    from aftercare.sample_store import load_sample_store
    from aftercare.sample_store.demo import demo_emails, install_sample_store
    from aftercare.storage.database import engine_for, session_factory

    started = time.monotonic()
    settings = _settings()
    run_started = datetime.now(UTC)
    _migrate(settings)
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


@app.command()
def process(
    path: Annotated[Path, typer.Argument(help="A JSON file: one normalized event or a list.")],
) -> None:
    """Queue the events in a JSON file and drain them through the Prefect flow."""
    from aftercare.drain.pipeline import build_pipeline, receive_event

    settings = _settings()
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
    _migrate(settings)
    pipeline = build_pipeline(settings)
    new = sum(1 for e in events if not receive_event(pipeline, e).duplicate)
    console.print(f"{new} new events queued, {len(events) - new} duplicates ignored.")
    summary = _run_drain()
    prepared, sent = summary["prepare"], summary["send"]
    console.print(
        f"{prepared['emails_written']} emails written, {sent['sent']} sent, {sent['failed']} "
        f"failed, {prepared['retried'] + sent['retried']} waiting to retry."
    )


@app.command()
def drain() -> None:
    """Process every due event and email now (the scheduled deployment does this every minute)."""
    settings = _settings()
    _migrate(settings)
    console.print_json(data=_run_drain())


@app.command()
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
    import threading

    import uvicorn

    from aftercare.receiver.app import Receiver, build_app
    from aftercare.receiver.inbox_writer import InboxWriter
    from aftercare.storage.database import engine_for, session_factory
    from aftercare.stores.registry import build_adapters
    from flows.nudge import DrainNudger
    from flows.serve import local_prefect_api, register_deployments, serve_deployments

    settings = _settings()
    _migrate(settings)
    adapters = build_adapters(settings)
    engine = engine_for(settings.database_url)
    sessions = session_factory(engine)

    def receiver_server(nudge: Callable[[], None]) -> uvicorn.Server:
        receiver = Receiver(
            sessions=sessions,
            writer=InboxWriter(engine),
            adapters=adapters,
            nudge=nudge,
            max_body_bytes=settings.webhook_max_body_bytes,
        )
        config = uvicorn.Config(
            build_app(receiver), host=host, port=port, log_level="warning", access_log=False
        )
        return uvicorn.Server(config)

    routes = ", ".join(f"/webhooks/{name}" for name in sorted(adapters))
    console.print(f"Receiving webhooks on http://{host}:{port} ({routes}); GET /healthz")
    if receiver_only or os.environ.get("PREFECT_API_URL"):
        console.print("Flows run on your Prefect workers (see prefect.yaml); this only receives.")
        with DrainNudger() as nudger:
            receiver_server(nudger.nudge).run()
        return
    with local_prefect_api() as api_url, DrainNudger() as nudger:
        register_deployments()  # before the first webhook can nudge them
        server = receiver_server(nudger.nudge)
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


@app.command()
def track(
    number: Annotated[str, typer.Argument(help="A tracking number; quote it if it has spaces.")],
    carrier: Annotated[
        str | None, typer.Option(help="The carrier name the store gave, e.g. 'DHL'.")
    ] = None,
    order: Annotated[
        str | None, typer.Option(help="The order number, for the store's own tracking page.")
    ] = None,
) -> None:
    """Say which carrier a tracking number belongs to and which link an email would give."""
    from rich.text import Text

    from aftercare.enrichment.tracking.carriers import identify
    from aftercare.enrichment.tracking.links import choose_tracking_link

    settings = _settings()
    readings = identify(number)
    # Text(...) everywhere: the number is the user's, and rich would read "[red]" as markup.
    table = Table(title=Text(f"What {number!r} looks like"))
    for column in ("carrier", "format", "check digit", "origin", "carrier page"):
        table.add_column(column, overflow="fold")
    for m in readings:
        check = m.format.check_digit
        table.add_row(
            Text(m.courier.name),
            Text(m.format_name),
            Text(f"{m.check_digit.value} ({check.name})" if check else "none in this format"),
            Text(m.origin_country or ""),
            Text(m.tracking_url or "-"),
        )
    if readings:
        console.print(table)
    else:
        console.print(Text("No carrier format fits this number."))
    link = choose_tracking_link(
        number,
        store_carrier=carrier,
        order_number=order,
        settings=settings.store.tracking_links,
    )
    if link is None:
        console.print(Text("No link: this is not something a tracking page could find."))
        raise typer.Exit(1)
    read_as = f", read as {link.reading.courier.name}" if link.reading else ""
    console.print(Text.assemble("Link (", (link.source.value, "bold"), read_as, "): ", link.url))


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, failed or dead")
    ] = None,
    limit: int = 50,
) -> None:
    """List emails, newest first (recipients masked)."""
    from aftercare.storage import outbox
    from aftercare.storage.database import engine_for, session_factory
    from aftercare.storage.schema import OutboxStatus

    if status is not None and status not in {s.value for s in OutboxStatus}:
        console.print(
            f"[red]Unknown status {status!r}[/red]; use one of "
            + ", ".join(s.value for s in OutboxStatus)
        )
        raise typer.Exit(2)
    settings = _settings()
    with session_factory(engine_for(settings.database_url))() as session:
        rows = outbox.list_emails(session, status=status, limit=limit)
        table = Table()
        for column in ("id", "kind", "to", "subject", "status", "attempts", "last error"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                str(r.id),
                r.kind,
                mask_email(r.recipient),
                r.subject,
                r.status,
                str(r.attempts),
                (r.last_error or "")[:120],
            )
    console.print(table)


@outbox_app.command("retry")
def outbox_retry(outbox_id: int) -> None:
    """Send a failed or dead email again (after fixing what its last error names)."""
    from aftercare.storage import outbox
    from aftercare.storage.database import engine_for, session_factory

    settings = _settings()
    with session_factory(engine_for(settings.database_url)).begin() as session:
        ok = outbox.requeue(session, outbox_id, datetime.now(UTC))
    if not ok:
        console.print(f"[red]Email {outbox_id} is not failed or dead; nothing to retry.[/red]")
        raise typer.Exit(1)
    console.print(f"Email {outbox_id} queued again; it goes out with the next drain.")


@inbox_app.command("list")
def inbox_list(
    status: Annotated[
        str | None, typer.Option(help="pending, processing, processed, dead, invalid")
    ] = None,
    limit: int = 50,
) -> None:
    """List received events, newest first."""
    from sqlalchemy import select

    from aftercare.storage.database import engine_for, session_factory
    from aftercare.storage.schema import InboxEventRow

    settings = _settings()
    query = select(InboxEventRow).order_by(InboxEventRow.id.desc()).limit(limit)
    if status:
        query = query.where(InboxEventRow.status == status)
    with session_factory(engine_for(settings.database_url))() as session:
        table = Table()
        for column in ("id", "source", "event id", "kind", "status", "attempts", "last error"):
            table.add_column(column)
        for r in session.scalars(query):
            table.add_row(
                str(r.id),
                r.source,
                r.source_event_id,
                r.kind,
                r.status,
                str(r.attempts),
                (r.last_error or "")[:120],
            )
    console.print(table)


@inbox_app.command("replay")
def inbox_replay(
    inbox_id: int,
    body: Annotated[
        Path | None,
        typer.Option(help="A corrected JSON body to use instead of the stored one."),
    ] = None,
) -> None:
    """Process an invalid delivery again (optionally with a fixed body), or a dead event."""
    from aftercare.drain.replay import ReplayError, replay
    from aftercare.storage.database import engine_for, session_factory

    settings = _settings()
    sessions = session_factory(engine_for(settings.database_url))
    corrected = body.read_bytes() if body is not None else None
    try:
        result = replay(sessions, inbox_id, datetime.now(UTC), corrected)
    except ReplayError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Event {inbox_id}: {result.message}. Run `aftercare drain` or wait a minute.")


# --- templates: check and preview (issue 3) ------------------------------------------------

templates_app = typer.Typer(
    help="Email templates: check them against sample orders, preview them.",
    no_args_is_help=True,
)
app.add_typer(templates_app, name="templates")


@templates_app.command("check")
def templates_check(
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="Folder to check (default: the configured one)."),
    ] = None,
) -> None:
    """Render every template in every locale against sample orders; exit 1 on any error."""
    from aftercare.authoring.check import check_templates, format_report

    settings = _settings()
    report = check_templates(templates_dir or settings.templates_dir, settings.store)
    typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(1)


@templates_app.command("preview")
def templates_preview(
    out: Annotated[Path, typer.Option(help="Folder to write the preview pages into.")] = Path(
        "preview"
    ),
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="Folder to preview (default: the configured one)."),
    ] = None,
) -> None:
    """Write every email with sample data, at 600 px and 375 px, as pages to open locally."""
    from aftercare.authoring.preview import write_preview

    settings = _settings()
    pages = write_preview(templates_dir or settings.templates_dir, out, settings.store)
    failed = [page for page in pages if page.error]
    typer.echo(f"{len(pages)} emails written; open {out / 'index.html'} in a browser.")
    for page in failed:
        typer.echo(f"error: {page.locale} {page.kind} ({page.sample}): {page.error}")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
