"""Store adapters: verify a webhook delivery and turn it into normalized order events.

One module per store (``shopify``, ``woocommerce``, ``generic``), each exposing an object that
implements ``StoreAdapter``. Nothing past the adapter knows which store spoke: the receiver
stores the delivery ``accept`` vouches for and answers the store; the drain turns it into
events with ``parse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aftercare.errors import AftercareError
from aftercare.events import OrderEvent


class DeliveryRejectedError(AftercareError):
    """Base for deliveries the receiver refuses; ``status`` is the HTTP answer."""

    status: int = 400


class SignatureError(DeliveryRejectedError):
    """Missing or wrong signature: not from the store (or the secret in settings is wrong).

    Nothing is stored or processed; the message says which header and which setting to check.
    """

    status = 401


class StaleDeliveryError(DeliveryRejectedError):
    """A signed timestamp outside the tolerance: a replay, or a clock far off."""

    status = 401


class MalformedPayloadError(DeliveryRejectedError):
    """Authentic, but the body is not what the topic promises; kept as ``invalid`` in the inbox.

    A 422: JSON, but a field is missing or wrong; the message names the field (never its
    value: messages end up in logs) so the operator can fix and replay it.
    """

    status = 422


class UnreadableDeliveryError(MalformedPayloadError):
    """A 400: the body is not JSON at all, or a header the store always sends is missing."""

    status = 400


@dataclass(frozen=True)
class Delivery:
    """One webhook request as it arrived: raw bytes (signatures cover them), lower-cased headers."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class ParsedDelivery:
    """What a verified delivery means.

    ``delivery_id`` is the dedupe key the inbox is unique on (with the source): stable across the
    store's retries of the same event. ``events`` is empty for a topic Aftercare does not act on
    (``ignored`` then says why): it is still recorded and answered 200, because Shopify deletes
    subscriptions that keep failing. ``topic`` is the store's own name for it, for operators.
    """

    source: str
    delivery_id: str
    topic: str
    events: tuple[OrderEvent, ...] = ()
    ignored: str | None = None
    relevant_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """What the receiver stores for a verified delivery before it answers.

    Only cheap checks happen on the request path (the body is JSON, the topic's identifying
    fields are there): a store waits for the answer, and full normalization costs more than
    the HTTP exchange itself. The drain parses the stored delivery; whatever it finds wrong
    then is kept as ``invalid`` for an operator, like a 4xx here would have been.
    """

    delivery_id: str
    topic: str
    ignored: str | None = None


def require_keys(data: object, keys: tuple[str, ...], topic: str) -> None:
    """422 naming the first of ``keys`` missing from the JSON object ``data``."""
    if not isinstance(data, dict):
        raise MalformedPayloadError(f"the {topic} body is not a JSON object")
    for key in keys:
        if data.get(key) in (None, ""):
            raise MalformedPayloadError(f"the {topic} payload is missing {key}")


class StoreAdapter(Protocol):
    source: str
    # The headers the receiver keeps with a stored delivery (lower-case prefixes), besides
    # the content type and user agent every delivery keeps: what ``parse`` reads later (the
    # topic, the ids, the signature and its timestamp), never a proxy's cookies or
    # authorization.
    kept_header_prefixes: tuple[str, ...]

    def verify(self, delivery: Delivery) -> None:
        """Raise ``SignatureError``/``StaleDeliveryError`` unless the delivery is authentic.

        Compares signatures in constant time (``hmac.compare_digest``).
        """
        ...

    def delivery_id(self, delivery: Delivery) -> str:
        """The dedupe key, from headers or body, without full parsing.

        Raises ``MalformedPayloadError`` when it cannot be derived.
        """
        ...

    def accept(self, delivery: Delivery) -> Accepted:
        """The cheap checks of the request path: dedupe key, topic, well-formed JSON.

        Raises ``MalformedPayloadError`` (400 not JSON, 422 a missing identifying field).
        """
        ...

    def parse(self, delivery: Delivery) -> ParsedDelivery:
        """The normalized events of a verified delivery; ``MalformedPayloadError`` if malformed."""
        ...

    def is_ping(self, delivery: Delivery) -> bool:
        """A store's "does this URL work?" request (WooCommerce's unsigned ``webhook_id=N``)."""
        ...
