"""``aftercare catalog import FILE``: the store's products and stock, from a file.

For a store that sends no product webhooks, or to fill the catalogue before the first
ones arrive: a CSV (the simple header or Shopify's product export) or Shopify / WooCommerce
product JSON, told from its content (``catalogue_import``). The file is read whole before
anything is written, and written in one transaction: a file with a bad row imports nothing
and lists every problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aftercare.catalogue_changes import Skipped
from aftercare.command_line import console, load_settings, migrate


def catalog_import(
    file: Annotated[Path, typer.Argument(help="A CSV, or Shopify / WooCommerce product JSON.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file; write nothing.")
    ] = False,
) -> None:
    """Add or update products and their stock from a file; exit 1, importing nothing,
    when any row or product is wrong."""
    from aftercare.catalogue_import import CatalogueFileError, read_catalogue_file
    from aftercare.storage.catalogue_records import apply_catalogue_change
    from aftercare.storage.database import engine_for, session_factory

    settings = load_settings()
    try:
        read = read_catalogue_file(file, settings.store)
    except CatalogueFileError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    table = Table(title=escape(f"{file.name} ({read.format})"))
    table.add_column("")
    table.add_column("products", justify="right")
    table.add_row("read", str(read.products))
    if dry_run:
        table.add_row("skipped", str(len(read.change.skipped)))
        console.print(table)
        console.print("Dry run: nothing written.")
        _print_skipped(read.change.skipped)
        return
    migrate(settings)
    with session_factory(engine_for(settings.database_url)).begin() as session:
        written = apply_catalogue_change(session, read.change, datetime.now(UTC))
    for label, count in (
        ("added", len(written.created)),
        ("updated", len(written.updated)),
        ("unchanged", len(written.unchanged)),
        ("unpublished (now unofferable)", len(written.unpublished)),
        ("skipped", len(written.skipped)),
    ):
        table.add_row(label, str(count))
    console.print(table)
    console.print(f"Catalogue revision {written.revision}.")
    _print_skipped(written.skipped)


def _print_skipped(skipped: tuple[Skipped, ...]) -> None:
    for skip in skipped:
        console.print(escape(f"skipped {skip.subject}: {skip.reason}"))
