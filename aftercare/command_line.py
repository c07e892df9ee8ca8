"""What every ``aftercare`` command shares: the console, the settings, the schema."""

from __future__ import annotations

import shutil

import typer
from pydantic import ValidationError
from rich.console import Console

from aftercare.settings import Settings

# Wide enough for the demo's table when output goes to a file or CI log (no terminal).
console = Console(width=shutil.get_terminal_size((150, 40)).columns)


def load_settings() -> Settings:
    """The settings, or exit 2 saying what is invalid."""
    try:
        return Settings()
    except ValidationError as exc:
        console.print(f"[red]Settings are invalid:[/red]\n{exc}")
        raise typer.Exit(2) from exc


def migrate(settings: Settings) -> None:
    """Create or migrate the database to the newest schema."""
    from aftercare.storage.database import engine_for
    from aftercare.storage.schema_migrations import upgrade

    upgrade(engine_for(settings.database_url))
