"""``aftercare faq match|learn`` and ``aftercare explain``: the FAQ answers from outside.

A support lead checks what a ticket would be counted as (``match``), feeds the helpdesk's
export in (``learn``) and, when a customer asks "why did your email tell me that?", reads
the email's record (``explain``). Customer addresses never appear: emails are masked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aftercare.command_line import console, load_settings, migrate
from aftercare.privacy import mask_email


def faq_match(
    text: Annotated[str, typer.Argument(help="A support ticket's text (subject and body).")],
) -> None:
    """Say which FAQ question a support ticket asks, with its score, or that it asks none."""
    from aftercare.enrichment.faq.matching import TicketMatcher
    from aftercare.enrichment.faq.snippets import InvalidSnippetsError, load_snippets

    settings = load_settings()
    try:
        library = load_snippets(settings.faq_dir)
    except InvalidSnippetsError as exc:
        console.print(f"[red]The FAQ snippets have problems:[/red]\n{exc}")
        raise typer.Exit(1) from None
    matcher = TicketMatcher.from_library(library, locale=settings.store.default_locale)
    found = matcher.match(text)
    if found is None:
        console.print("No FAQ question matches this ticket.")
        return
    console.print(
        f"{found.snippet_id}  (topic {found.topic}, score {found.score:.2f})\n{found.question}"
        + (f"\nkeywords: {', '.join(found.keywords)}" if found.keywords else "")
    )


def faq_learn(
    export: Annotated[Path, typer.Argument(help="A support-ticket export (CSV).")],
    window_days: Annotated[
        int,
        typer.Option(
            min=1, max=365, help="A ticket counts for the email this many days before it."
        ),
    ] = 30,
) -> None:
    """Learn from past tickets which questions follow which email; the ranking uses it next."""
    from aftercare.drain.pipeline import faq_library_for
    from aftercare.learning.run import learn_from_export
    from aftercare.learning.ticket_export import TicketExportError
    from aftercare.storage.database import engine_for, session_factory

    settings = load_settings()
    migrate(settings)
    sessions = session_factory(engine_for(settings.database_url))
    try:
        outcome = learn_from_export(
            export,
            sessions,
            faq_library_for(settings.faq_dir),
            settings.store,
            window=timedelta(days=window_days),
            now=datetime.now(UTC),
        )
    except TicketExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    report = outcome.report
    console.print(
        f"{report.tickets} tickets read ({len(outcome.rejected)} rows left out), "
        f"{report.matched} matched a question, {report.linked} followed an email "
        f"(of {report.emails} past emails); {len(report.rates)} rates stored."
    )
    for row in outcome.rejected[:5]:
        console.print(f"  line {row.line}: {row.reason}")
    if len(outcome.rejected) > 5:
        console.print(f"  ... and {len(outcome.rejected) - 5} more rows left out")
    table = Table(title="Most asked after each email (asked / emails it fitted)")
    for column in ("email", "snippet", "asked", "of", "prior", "now ranks by"):
        table.add_column(column)
    library = faq_library_for(settings.faq_dir)
    from aftercare.enrichment.faq.selection import smoothed_rate

    by_kind: dict[str, list] = {}
    for (kind, snippet_id), rate in report.rates.items():
        by_kind.setdefault(kind, []).append((snippet_id, rate))
    for kind in sorted(by_kind):
        top = sorted(by_kind[kind], key=lambda item: -item[1].asked)[:5]
        for snippet_id, rate in top:
            if rate.asked == 0:
                continue
            snippet = library.get(settings.store.default_locale, snippet_id)
            prior = snippet.prior_for(kind) if snippet else 0.0
            table.add_row(
                kind,
                snippet_id,
                str(rate.asked),
                str(rate.eligible),
                f"{prior:.2f}",
                f"{smoothed_rate(prior, rate):.3f}",
            )
    console.print(table)
    if report.unanswered:
        console.print("Asked where no snippet of the question fitted (snippets to write):")
        for (kind, topic), count in report.unanswered.most_common(8):
            console.print(f"  {topic} after {kind}: {count}")


def explain(
    email_id: Annotated[int, typer.Argument(help="The email's id (aftercare outbox list).")],
) -> None:
    """Why an email says what it says: its event, FAQ answers, tracking link, products."""
    from aftercare.storage.database import engine_for, session_factory
    from aftercare.storage.schema import OutboxEmailRow

    settings = load_settings()
    with session_factory(engine_for(settings.database_url))() as session:
        row = session.get(OutboxEmailRow, email_id)
        if row is None:
            console.print(f"[red]No email {email_id}[/red] (see `aftercare outbox list`).")
            raise typer.Exit(1)
        record = row.explanation or {}
        console.print(
            f"Email {row.id}: {row.kind} to {mask_email(row.recipient)}, {row.status}\n"
            f"Subject: {row.subject}"
        )
    event = record.get("event") or {}
    if event:
        console.print(
            f"Because of: {event.get('kind')} event {event.get('id')} from {event.get('source')}"
        )
    choice = record.get("locale_choice") or {}
    if choice:
        wanted = choice.get("wanted") or "nothing"
        console.print(
            f"Language: {choice.get('chose')} (wanted {wanted}: {choice.get('because')}),"
            f" formatted as {record.get('locale')}"
        )
    console.print(f"Tracking link: {record.get('tracking') or 'none'}")
    questions = record.get("likely_questions") or []
    if questions:
        table = Table(title="FAQ answers, in the order shown")
        for column in ("snippet", "score", "why"):
            table.add_column(column, overflow="fold")
        for q in questions:
            score = q.get("score")
            table.add_row(q["id"], "-" if score is None else f"{score:.3f}", q.get("why", ""))
        console.print(table)
    else:
        console.print("FAQ answers: none")
    facts = record.get("faq_conditions") or {}
    if facts:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(facts.items()))
        console.print(f"Order facts the answers were chosen by: {shown}")
    products = record.get("cross_sell") or []
    if products:
        table = Table(title="Products offered, in the order shown")
        for column in ("product", "score", "why"):
            table.add_column(column, overflow="fold")
        for p in products:
            score = p.get("score")
            table.add_row(p["id"], "-" if score is None else f"{score:.3f}", p.get("why", ""))
        console.print(table)
        opt_out = "yes" if record.get("cross_sell_opt_out") else "no"
        console.print(f"One-click opt-out link and List-Unsubscribe headers: {opt_out}")
    else:
        why = record.get("cross_sell_none")
        console.print("Products: none" + (f" ({why})" if why else ""))
    for note in record.get("notes") or []:
        console.print(f"Note: {note}")
