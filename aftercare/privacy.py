"""Keeping personal data out of what people other than the customer see (logs, tables)."""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from aftercare.logging_setup import scrub_personal_data
from aftercare.validation_errors import field_problems


def mask_email(address: str) -> str:
    """``ada.lovelace@example.com`` → ``a***e@example.com``: enough to tell rows apart."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    if len(local) <= 2:
        return f"{local[0]}***@{domain}"
    return f"{local[0]}***{local[-1]}@{domain}"


def describe_error(exc: BaseException) -> str:
    """An error for the inbox/outbox record and the logs, without customer data.

    SQLAlchemy errors print their bound parameters (emails, addresses); the engines are
    built with ``hide_parameters``, and the driver's own message is kept short.
    """
    if isinstance(exc, ValidationError):
        text = field_problems(exc)  # names the field, never the value (an address)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return scrub_personal_data(text.split("\n[SQL:", 1)[0])[:2000]


# Where an erased customer's email address points: ``.example`` is reserved and never
# delivers (RFC 2606), yet is a valid address, so the stored order still loads as a model.
ERASED_DOMAIN = "erased.example"


def erased_address(stable_key: str) -> str:
    """The address an erased customer's email becomes: stable, so the same customer erased
    twice stays one row, and not reversible (a hash of the key, never the address itself)."""
    digest = hashlib.sha256(f"aftercare-erased:{stable_key}".encode()).hexdigest()[:24]
    return f"erased-{digest}@{ERASED_DOMAIN}"


def is_erased_address(address: str) -> bool:
    return address.lower().endswith(f"@{ERASED_DOMAIN}")
