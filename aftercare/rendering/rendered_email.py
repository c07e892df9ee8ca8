"""A rendered email and the MIME message that carries it."""

from __future__ import annotations

from dataclasses import dataclass

from aftercare.emails.kinds import EmailKind


@dataclass(frozen=True)
class RenderedEmail:
    """What the templates produce for one email: every part a mail client shows."""

    kind: EmailKind
    subject: str
    preheader: str
    html: str
    text: str
