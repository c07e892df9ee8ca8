"""Edits to a copy of the templates, as a marketer would make them, for tests that break them."""

from __future__ import annotations

from pathlib import Path


def insert_line(path: Path, after: str, new_line: str) -> int:
    """Insert ``new_line`` after the first line containing ``after``; its 1-based number."""
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if after in line) + 1
    lines.insert(index, new_line + "\n")
    path.write_text("".join(lines))
    return index + 1
