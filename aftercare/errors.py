"""Exception types, each with a message a store owner can act on.

They are grouped by who has to act: the store's data (``InvalidEventError``), the
templates a marketer edits (``TemplateError``), or the mail provider (``SendError``).
"""

from __future__ import annotations


class AftercareError(Exception):
    """Base class: anything Aftercare raises on purpose."""


class InvalidEventError(AftercareError):
    """An event's payload does not describe a valid order event; names the field."""


class OrderNotYetKnownError(AftercareError):
    """An event refers to an order Aftercare has not received yet (events out of order).

    Processing is retried later: the order's own webhook usually arrives within seconds.
    """


class TemplateError(AftercareError):
    """A template failed to render or to be inlined; says which file and line, and what.

    ``template`` is the file as the marketer knows it (``en/welcome.html``,
    ``partials/costs.html``), ``line`` the line their editor shows, and ``problem`` the
    bare explanation; each is ``None`` (``problem`` the whole message) when it cannot be
    named. The message puts them together — ``template en/welcome.html, line 12: 'oops'
    is undefined`` — because a store owner reads it in a log or the template check, while
    the check itself reads the attributes.
    """

    def __init__(
        self, problem: str, *, template: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(_located(problem, template, line))
        self.problem = problem
        self.template = template
        self.line = line


def _located(problem: str, template: str | None, line: int | None) -> str:
    if not template:
        return problem
    where = f"template {template}, line {line}" if line else f"template {template}"
    return f"{where}: {problem}"


class SendError(AftercareError):
    """The transport could not hand the email over."""


class TransientSendError(SendError):
    """Worth retrying with backoff: throttling, a timeout, a 5xx."""


class PermanentSendError(SendError):
    """Retrying cannot help: the provider rejected the message or the address."""


class DeliveryUnknownError(SendError):
    """The provider may or may not have taken the email (a timeout after sending it).

    Not retried: a retry could deliver a second copy. The outbox row fails with what to check.
    """
