"""The marketing opt-out list: hashes of addresses that get no product recommendations.

Keyed by ``opt_out.address_hash`` (the SHA-256 of the lower-cased address), never the
address: the list outlives the customer's erasure (``storage/erasure.py`` leaves it alone),
as a suppression list must, and holds no one's email.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from aftercare.storage.insert_if_absent import insert_if_absent
from aftercare.storage.schema import MarketingOptOutRow

_opt_outs = MarketingOptOutRow.__table__

# How an opt-out arrived (``via``).
VIA_ONE_CLICK = "one-click"  # a mailbox provider's RFC 8058 POST
VIA_PAGE = "opt-out page"  # the confirm button on the link's page


def record_opt_out(session: Session, address_hash: str, via: str, now: datetime) -> bool:
    """Add ``address_hash`` to the list; False when it was there already (nothing changes:
    the first opt-out's time and way are kept, so a second click is harmless)."""
    values = {"address_hash": address_hash, "via": via, "opted_out_at": now}
    return insert_if_absent(session, _opt_outs, values, ["address_hash"]) is not None


def opted_out(
    connection_or_session: Connection | Session, address_hashes: Collection[str]
) -> set[str]:
    """Which of ``address_hashes`` opted out: one query for a whole group of emails."""
    if not address_hashes:
        return set()
    connection = (
        connection_or_session.connection()
        if isinstance(connection_or_session, Session)
        else connection_or_session
    )
    found = connection.execute(
        select(_opt_outs.c.address_hash).where(_opt_outs.c.address_hash.in_(set(address_hashes)))
    )
    return set(found.scalars())
