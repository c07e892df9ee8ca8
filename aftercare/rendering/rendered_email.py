"""A rendered email and the MIME message that carries it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedEmail:
    """What the templates produce for one email: every part a mail client shows.

    ``kind`` is the templates' base name the email was rendered from (``order_shipped``);
    the renderer keeps what it was given, so an ``EmailKind`` stays one.
    """

    kind: str
    subject: str
    preheader: str
    html: str
    text: str
