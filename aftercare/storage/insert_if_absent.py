"""``INSERT … ON CONFLICT DO NOTHING`` on both SQLite and PostgreSQL.

Deduplication rests on this: the first writer of a key wins and every later one learns,
without an exception and without a race between "check" and "insert", that it lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_absent(
    session: Session, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> int | None:
    """Insert ``values``; the new row's id, or ``None`` when the key already existed."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values)
    else:  # pragma: no cover - guarded by the supported URLs
        raise NotImplementedError(
            f"database {dialect!r} is not supported; use SQLite or PostgreSQL"
        )
    stmt = stmt.on_conflict_do_nothing(index_elements=conflict_columns).returning(table.c.id)
    return session.connection().execute(stmt).scalar_one_or_none()
