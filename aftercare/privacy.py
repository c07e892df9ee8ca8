"""Keeping personal data out of what people other than the customer see (logs, tables)."""

from __future__ import annotations


def mask_email(address: str) -> str:
    """``ada.lovelace@example.com`` → ``a***e@example.com``: enough to tell rows apart."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    if len(local) <= 2:
        return f"{local[0]}***@{domain}"
    return f"{local[0]}***{local[-1]}@{domain}"
