"""The ``aftercare`` command line: the domain package's commands, and how they are put together.

``build_cli`` builds the Typer app: the database schema (``db``), emails (``outbox``), events
(``inbox``), tracking numbers (``track``) and templates. The commands that run Prefect flows
(``demo``, ``process``, ``drain``, ``serve``) live in ``flows/cli.py``, which builds the
installed ``aftercare`` command from these and its own: the domain package never imports
``flows``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aftercare.catalogue_commands import catalog_import
from aftercare.command_line import console, load_settings, migrate
from aftercare.cross_sell_commands import cross_sell_rebuild, cross_sell_show
from aftercare.faq_commands import explain, faq_learn, faq_match
from aftercare.logging_setup import configure_logging
from aftercare.privacy import mask_email
from aftercare.report_commands import actions_list, report

__all__ = ["build_cli", "console", "load_settings", "migrate"]


def build_cli(*, commands: Sequence[Callable[..., None]] = ()) -> typer.Typer:
    """The command line: ``commands`` first, then the domain's own.

    ``flows.cli`` brings the commands that run flows; each is named after its function.
    """
    app = typer.Typer(
        help="Aftercare: order events in, helpful transactional emails out.", no_args_is_help=True
    )
    app.callback()(_verbosity)
    for command in (*commands, track):
        app.command()(command)

    db = typer.Typer(help="The database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db")

    outbox = typer.Typer(
        help="Emails: what was sent, what failed, what is waiting.", no_args_is_help=True
    )
    outbox.command("list")(outbox_list)
    outbox.command("retry")(outbox_retry)
    app.add_typer(outbox, name="outbox")

    inbox = typer.Typer(help="Events: what arrived and what became of it.", no_args_is_help=True)
    inbox.command("list")(inbox_list)
    inbox.command("replay")(inbox_replay)
    app.add_typer(inbox, name="inbox")

    customer = typer.Typer(
        help="A customer's personal data: report it, erase it.", no_args_is_help=True
    )
    customer.command("report")(customer_report)
    customer.command("forget")(customer_forget)
    app.add_typer(customer, name="customer")

    templates = typer.Typer(
        help="Email templates: check them against sample orders, preview them.",
        no_args_is_help=True,
    )
    faq = typer.Typer(
        help="FAQ answers: match a ticket to its question, learn from past tickets.",
        no_args_is_help=True,
    )
    faq.command("match")(faq_match)
    faq.command("learn")(faq_learn)
    app.add_typer(faq, name="faq")
    app.command("explain")(explain)
    cross_sell = typer.Typer(
        help="Cross-sell: rebuild the model from the order history, see what it offers.",
        no_args_is_help=True,
    )
    cross_sell.command("rebuild")(cross_sell_rebuild)
    cross_sell.command("show")(cross_sell_show)
    app.add_typer(cross_sell, name="cross-sell")
    app.command("report")(report)
    actions = typer.Typer(
        help="Customers' answers through the emails' links: ratings, FAQ votes, choices.",
        no_args_is_help=True,
    )
    actions.command("list")(actions_list)
    app.add_typer(actions, name="actions")

    catalog = typer.Typer(
        help="The product catalogue cross-sell offers from: import products and stock.",
        no_args_is_help=True,
    )
    catalog.command("import")(catalog_import)
    app.add_typer(catalog, name="catalog")

    templates.command("check")(templates_check)
    templates.command("preview")(templates_preview)
    templates.command("extract")(templates_extract)
    templates.command("update")(templates_update)
    app.add_typer(templates, name="templates")
    return app


def _verbosity(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO.")] = False,
) -> None:
    configure_logging(logging.INFO if verbose else logging.WARNING)


def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = load_settings()
    migrate(settings)
    console.print(f"Database at {_safe_url(settings.database_url)} is up to date.")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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

    settings = load_settings()
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
    settings = load_settings()
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


def outbox_retry(outbox_id: int) -> None:
    """Send a failed or dead email again (after fixing what its last error names)."""
    from aftercare.storage import outbox
    from aftercare.storage.database import engine_for, session_factory

    settings = load_settings()
    with session_factory(engine_for(settings.database_url)).begin() as session:
        ok = outbox.requeue(session, outbox_id, datetime.now(UTC))
    if not ok:
        console.print(f"[red]Email {outbox_id} is not failed or dead; nothing to retry.[/red]")
        raise typer.Exit(1)
    console.print(f"Email {outbox_id} queued again; it goes out with the next drain.")


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

    settings = load_settings()
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

    settings = load_settings()
    sessions = session_factory(engine_for(settings.database_url))
    corrected = body.read_bytes() if body is not None else None
    try:
        result = replay(sessions, inbox_id, datetime.now(UTC), corrected)
    except ReplayError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Event {inbox_id}: {result.message}. Run `aftercare drain` or wait a minute.")


def _answer_by_hand(request):  # noqa: ANN001, ANN202 - a PrivacyRequest, a PrivacyAnswer
    from aftercare.drain import privacy_requests
    from aftercare.storage.database import engine_for, session_factory
    from aftercare.stores.registry import build_adapters

    settings = load_settings()
    with session_factory(engine_for(settings.database_url)).begin() as session:
        return privacy_requests.answer(
            session, build_adapters(settings), request, now=datetime.now(UTC)
        )


def customer_report(email: str) -> None:
    """Print, as JSON, what is stored about the customer with this email (a data request)."""
    import json

    from aftercare.drain.privacy_requests import report_request

    result = _answer_by_hand(report_request(email))
    typer.echo(json.dumps(result.report, indent=2, ensure_ascii=False))


def customer_forget(email: str) -> None:
    """Erase the personal data of the customer with this email; nothing is sent again."""
    from aftercare.drain.privacy_requests import forget_request

    result = _answer_by_hand(forget_request(email))
    counts = result.erased.as_record() if result.erased else {}
    console.print(
        f"Erased {mask_email(email)}: "
        + ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
    )


def templates_check(
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="Folder to check (default: the configured one)."),
    ] = None,
) -> None:
    """Render every template in every locale against sample orders; exit 1 on any error."""
    from aftercare.authoring.check import check_templates, format_report

    settings = load_settings()
    report = check_templates(
        templates_dir or settings.templates_dir, settings.store, faq_dir=settings.faq_dir
    )
    typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(1)


def templates_extract(
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="Folder to read (default: the configured one)."),
    ] = None,
) -> None:
    """Collect every sentence marked for translation into locales/messages.pot."""
    from aftercare.authoring.translation_catalogues import write_template

    path, count = write_template(templates_dir or load_settings().templates_dir)
    typer.echo(f"{count} sentences written to {path}")


def templates_update(
    locale: Annotated[
        list[str], typer.Option("--locale", "-l", help="Catalogue to update: ru, th, zh-CN …")
    ],
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="Folder to update (default: the configured one)."),
    ] = None,
) -> None:
    """Bring a language's messages.po up to the templates: new sentences empty, changed ones
    marked fuzzy with their old translation, for any .po editor."""
    from aftercare.authoring.translation_catalogues import update_locale

    folder = templates_dir or load_settings().templates_dir
    for tag in locale:
        result = update_locale(folder, tag)
        verb = "created" if result.created else "updated"
        typer.echo(
            f"{result.path} {verb}: {result.untranslated} to translate,"
            f" {result.fuzzy} to confirm (fuzzy)"
        )


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

    settings = load_settings()
    pages = write_preview(templates_dir or settings.templates_dir, out, settings.store)
    failed = [page for page in pages if page.error]
    typer.echo(f"{len(pages)} emails written; open {out / 'index.html'} in a browser.")
    for page in failed:
        typer.echo(f"error: {page.locale} {page.kind} ({page.sample}): {page.error}")
    if failed:
        raise typer.Exit(1)
