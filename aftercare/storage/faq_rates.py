"""The learned FAQ rates, stored: written whole by ``aftercare faq learn``, read per drain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from aftercare.enrichment.faq.selection import LearnedRate
from aftercare.storage.schema import FaqRateRow


def replace_rates(
    session: Session, rates: Mapping[tuple[str, str], LearnedRate], learned_at: datetime
) -> int:
    """Put ``rates`` in place of what was learned before (one transaction: a drain reads
    either the old rates or the new ones, never half of each)."""
    session.execute(delete(FaqRateRow))
    rows = [
        {
            "kind": kind,
            "snippet_id": snippet_id,
            "asked": rate.asked,
            "eligible": rate.eligible,
            "learned_at": learned_at,
        }
        for (kind, snippet_id), rate in sorted(rates.items())
    ]
    if rows:
        session.execute(insert(FaqRateRow), rows)
    return len(rows)


def load_rates(session: Session) -> dict[tuple[str, str], LearnedRate]:
    rows = session.execute(
        select(FaqRateRow.kind, FaqRateRow.snippet_id, FaqRateRow.asked, FaqRateRow.eligible)
    ).all()
    return {(kind, sid): LearnedRate(asked, eligible) for kind, sid, asked, eligible in rows}


def learned_at(session: Session) -> datetime | None:
    return session.scalar(select(FaqRateRow.learned_at).limit(1))
