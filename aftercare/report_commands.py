"""``aftercare report``: did the emails work? Per kind and locale, for the last N days.

Prints the numbers ``learning/email_report.py`` computes (or them as JSON, for a
dashboard): emails sent, the customers' ratings (CSAT), each FAQ answer shown and marked
helpful, the delay choices, and with ``--tickets`` the helpdesk tickets that followed each
kind of email per 100 sent.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from aftercare.command_line import console, load_settings

_PERIOD = re.compile(r"^(\d+)\s*([dhw])$")


def parse_period(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``: how far back the report looks."""
    found = _PERIOD.match(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a period like 30d, 12h or 2w")
    amount, unit = int(found.group(1)), found.group(2)
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "w": timedelta(weeks=amount),
    }[unit]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def report(
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 2w.")] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    tickets: Annotated[
        str | None,
        typer.Option(help="A helpdesk export (CSV file, folder or https URL): tickets per 100."),
    ] = None,
) -> None:
    """Per email kind and locale: sent, ratings, FAQ answers helpful, delay choices."""
    from sqlalchemy.exc import DBAPIError

    from aftercare.learning.email_report import email_report
    from aftercare.learning.run import read_source
    from aftercare.learning.ticket_export import TicketExportError
    from aftercare.storage.database import engine_for, session_factory

    settings = load_settings()
    until = datetime.now(UTC)
    start = until - parse_period(since)
    exported = None
    if tickets is not None:
        try:
            exported, _ = read_source(tickets, ZoneInfo(settings.store.time_zone))
        except TicketExportError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    try:
        with session_factory(engine_for(settings.database_url))() as session:
            found = email_report(
                session, start, until, _clicks(session, start), exported, settings.store
            )
    except DBAPIError:
        console.print(
            "[red]The database lacks this version's tables[/red]: run `aftercare db upgrade`."
        )
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(found.as_record(), indent=2, ensure_ascii=False))
        return
    _print(found)


def _clicks(session, since: datetime):  # noqa: ANN001, ANN202 - a Session; Clicks
    """The recorded clicks on the period's emails (none before the actions table exists)."""
    from aftercare.learning.email_report import Click

    try:
        from aftercare.storage.customer_actions import actions_since
    except ImportError:  # the action links are not installed in this version
        return ()
    return (
        Click(a.email_key, a.action, a.subject or "", a.value)
        for a in actions_since(session, since)
    )


def _print(found) -> None:  # noqa: ANN001 - an EmailReport
    console.print(f"Emails sent {found.since:%Y-%m-%d %H:%M} to {found.until:%Y-%m-%d %H:%M} UTC")
    table = Table(title="Per kind and locale")
    for column in (
        "kind",
        "locale",
        "sent",
        "good",
        "okay",
        "bad",
        "CSAT",
        "wait",
        "refund",
        "reship",
        "ship ready",
    ):
        table.add_column(column, justify="left" if column in ("kind", "locale") else "right")
    for k in found.kinds:
        table.add_row(
            k.kind,
            k.locale,
            str(k.sent),
            *(str(k.ratings[r]) for r in ("good", "okay", "bad")),
            _share(k.csat),
            *(str(k.delay_choices[c]) for c in ("wait", "refund", "reship", "ship_ready")),
        )
    console.print(table)
    faq = Table(title="FAQ answers: shown, and marked helpful")
    for column in ("kind", "locale", "snippet", "shown", "helpful", "not helpful", "helpful %"):
        faq.add_column(
            column, justify="left" if column in ("kind", "locale", "snippet") else "right"
        )
    for k in found.kinds:
        for snippet, votes in sorted(k.snippets.items(), key=lambda item: -item[1].shown):
            faq.add_row(
                k.kind,
                k.locale,
                snippet,
                str(votes.shown),
                str(votes.helpful),
                str(votes.not_helpful),
                _share(votes.helpful_share),
            )
    console.print(faq)
    if found.deflection is not None:
        after = Table(title="Helpdesk tickets after each kind of email")
        for column in ("kind", "emails", "tickets", "per 100"):
            after.add_column(column, justify="left" if column == "kind" else "right")
        for d in found.deflection:
            per_100 = "-" if d.per_100 is None else f"{d.per_100:.1f}"
            after.add_row(d.kind, str(d.emails), str(d.tickets), per_100)
        console.print(after)


def actions_list(
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 2w.")] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What customers answered through the emails' links, newest last, and whether the
    store has been told (``AFTERCARE_ACTION_WEBHOOK_URL``) and the order noted (the store's
    API credentials, ``drain/order_notes.py``)."""
    from sqlalchemy.exc import DBAPIError

    from aftercare.drain.order_notes import noting_sources
    from aftercare.storage.customer_actions import actions_since
    from aftercare.storage.database import engine_for, session_factory

    settings = load_settings()
    noting = noting_sources(settings)
    start = datetime.now(UTC) - parse_period(since)
    try:
        with session_factory(engine_for(settings.database_url))() as session:
            found = actions_since(session, start)
    except DBAPIError:
        console.print(
            "[red]The database lacks this version's tables[/red]: run `aftercare db upgrade`."
        )
        raise typer.Exit(1) from None
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "at": a.last_clicked_at.isoformat(),
                        "email_kind": a.email_kind,
                        "order": a.order_external_id,
                        "action": a.action,
                        "subject": a.subject or None,
                        "value": a.value,
                        "comment": a.comment,
                        "clicks": a.clicks,
                        "confirmed": a.confirmed_at is not None,
                        "forwarded": a.forwarded_at is not None,
                        "forward_error": a.forward_error,
                        "noted": a.noted_at is not None,
                        "note_error": a.note_error,
                    }
                    for a in found
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"Customers' answers since {start:%Y-%m-%d %H:%M} UTC")
    for column in (
        "when",
        "email",
        "order",
        "action",
        "answer",
        "clicks",
        "confirmed",
        "store told",
        "order note",
    ):
        table.add_column(column, overflow="fold")
    for a in found:
        told = "yes" if a.forwarded_at else (a.forward_error or "not yet")
        noted = "yes" if a.noted_at else (a.note_error or _not_noted(a.order_source, noting))
        answer = f"{a.subject}: {a.value}" if a.subject else a.value
        if a.comment:
            answer += f' ("{a.comment}")'
        table.add_row(
            f"{a.last_clicked_at:%Y-%m-%d %H:%M}",
            a.email_kind,
            a.order_external_id or "-",
            a.action,
            answer,
            str(a.clicks),
            "yes" if a.confirmed_at else "-",
            told,
            noted,
        )
    console.print(table if found else "No answers in that period.")


def _not_noted(source: str | None, noting: frozenset[str]) -> str:
    """An answer not on its order yet: on its way, or "-" when its store has no API
    credentials set (or the answer names no order)."""
    return "not yet" if source in noting else "-"
