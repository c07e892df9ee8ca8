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
    """A template failed to render; the message names the template file and line."""


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
