"""The generic webhook: any system posts a normalized ``OrderEvent``, Standard Webhooks style.

For stores without an adapter of their own (a custom shop, an ERP, a script). The body is
the event exactly as Aftercare models it (``schemas/generic_event.schema.json``, generated
from ``OrderEvent``; documented in ``docs/generic-webhooks.md``), and the envelope follows
the Standard Webhooks specification (https://www.standardwebhooks.com/,
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):

- ``webhook-id``: the message id, the same on every retry: the dedupe key;
- ``webhook-timestamp``: unix seconds when it was signed; outside the tolerance it is a replay;
- ``webhook-signature``: space-separated ``v1,<base64>`` entries, each
  ``base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}"))``; one match is enough, so the
  sender can rotate secrets by signing with both for a while;
- the secret is either ``whsec_<base64 key>`` (how Standard Webhooks libraries print one) or
  any other string, used as its UTF-8 bytes.

``source`` may be omitted; when present it must be ``"generic"``. Refusing any other value
(rather than overwriting it) keeps a generic sender from writing into another store's
namespace (``shopify:order:…`` idempotency keys) and tells it so. ``source_event_id`` may be
omitted too and then defaults to ``webhook-id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

import msgspec
from pydantic import ValidationError

from aftercare.events import PARTS_BY_KIND, OrderEvent
from aftercare.settings import GenericOptions
from aftercare.stores import (
    Accepted,
    Delivery,
    MalformedPayloadError,
    ParsedDelivery,
    SignatureError,
    StaleDeliveryError,
    UnreadableDeliveryError,
)
from aftercare.stores.identifying_fields import require_fields
from aftercare.stores.payload_fields import load_json
from aftercare.validation_errors import field_problems

SOURCE = "generic"
SECRET_SETTING = "AFTERCARE_GENERIC__WEBHOOK_SECRET"
TOLERANCE_SETTING = "AFTERCARE_GENERIC__TIMESTAMP_TOLERANCE_SECONDS"

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` entry a sender puts on ``body`` (``v1,<base64>``).

    Public so senders written in Python, the docs' example and the tests sign exactly as
    Aftercare verifies.
    """
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            raise SignatureError(
                f"{SECRET_SETTING} starts with {SECRET_PREFIX!r} but the rest is not base64: "
                "copy the whole secret the sender shows, or use a plain secret without the prefix"
            ) from None
    return secret.encode("utf-8")


class GenericAdapter:
    """Verifies and reads generic webhook deliveries (one ``StoreAdapter``)."""

    source = SOURCE
    # The Standard Webhooks envelope: webhook-id, webhook-timestamp, webhook-signature.
    kept_header_prefixes: tuple[str, ...] = ("webhook-",)

    def __init__(self, options: GenericOptions) -> None:
        self.options = options

    # --- StoreAdapter -------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> None:
        """Check the signature, then the timestamp.

        The signature first: the timestamp is signed, so only an authentic delivery is told
        it is stale (a replay, or the sender's clock far off), and a forged one learns nothing
        but "forged". The tolerance applies both ways: a timestamp from the future is a
        replay prepared in advance or a broken clock.
        """
        secret = self.options.webhook_secret
        if secret is None or not secret.get_secret_value():
            raise SignatureError(
                f"no generic webhook secret is configured: set {SECRET_SETTING} to the secret "
                "shared with the sender"
            )
        webhook_id = self._header(delivery, ID_HEADER)
        timestamp_text = self._header(delivery, TIMESTAMP_HEADER)
        sent = self._header(delivery, SIGNATURE_HEADER)
        if not timestamp_text.isdigit():
            raise SignatureError("the webhook-timestamp header is not unix seconds")
        timestamp = int(timestamp_text)
        expected = signature(
            secret.get_secret_value(), webhook_id, timestamp, delivery.body
        ).encode("ascii")
        candidates = [entry.encode("utf-8") for entry in sent.split()]
        # compare_digest on every candidate: how many entries matched never shows in timing.
        matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
        if not any(matches):
            raise SignatureError(
                "no v1 entry of the webhook-signature header matches the id, timestamp and "
                f"body: either the request is forged or {SECRET_SETTING} differs from the "
                "sender's secret"
            )
        age = delivery.received_at.timestamp() - timestamp
        tolerance = self.options.timestamp_tolerance_seconds
        if abs(age) > tolerance:
            when = f"{age:.0f} s ago" if age > 0 else f"{-age:.0f} s in the future"
            raise StaleDeliveryError(
                f"the delivery was signed {when}, outside the {tolerance} s tolerance "
                f"({TOLERANCE_SETTING}): a replay, or the sender's clock is wrong"
            )

    def delivery_id(self, delivery: Delivery) -> str:
        """``webhook-id``: the sender keeps it across retries of one message."""
        webhook_id = (delivery.headers.get(ID_HEADER) or "").strip()
        if not webhook_id:
            raise UnreadableDeliveryError("the webhook-id header is missing")
        return webhook_id

    def accept(self, delivery: Delivery) -> Accepted:
        delivery_id = self.delivery_id(delivery)
        fields = require_fields(delivery.body, ("kind", "occurred_at"), "generic event")
        return Accepted(delivery_id, str(msgspec.json.decode(fields["kind"])))

    def is_ping(self, delivery: Delivery) -> bool:
        return False

    def parse(self, delivery: Delivery) -> ParsedDelivery:
        delivery_id = self.delivery_id(delivery)
        data = load_json(delivery.body)
        if not isinstance(data, dict):
            raise MalformedPayloadError("the body is not a JSON object (one order event)")
        if data.setdefault("source", SOURCE) != SOURCE:
            raise MalformedPayloadError(
                f'source: must be "{SOURCE}" or left out (generic events live in their own '
                "namespace)"
            )
        data.setdefault("source_event_id", delivery_id)
        try:
            event = OrderEvent.model_validate(data)
        except ValidationError as exc:
            raise MalformedPayloadError(
                f"the body is not a valid order event: {field_problems(exc)}"
            ) from None
        relevant = {
            name: value
            for name, value in delivery.headers.items()
            if name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "content-type")
        }
        return ParsedDelivery(
            source=SOURCE,
            delivery_id=delivery_id,
            topic=event.kind.value,
            events=(event,),
            relevant_headers=relevant,
        )

    @staticmethod
    def _header(delivery: Delivery, name: str) -> str:
        value = (delivery.headers.get(name) or "").strip()
        if not value:
            raise SignatureError(
                f"the {name} header is missing: generic webhooks are signed with webhook-id, "
                "webhook-timestamp and webhook-signature (docs/generic-webhooks.md)"
            )
        return value


# --- the published format -------------------------------------------------------------------------

SCHEMA_PATH = "schemas/generic_event.schema.json"

# What each kind must carry (``PARTS_BY_KIND``, as ``OrderEvent`` enforces it) is published
# in the description and as if/then rules, so a sender can validate before sending.
_ENVELOPE = (
    f"""\
One order event, POSTed as the JSON body to /webhooks/generic (docs/generic-webhooks.md).

Headers (Standard Webhooks): {ID_HEADER} (message id, the same on every retry: the dedupe key);
{TIMESTAMP_HEADER} (unix seconds when signed; refused outside the receiver's tolerance,
default 300 s, in either direction); {SIGNATURE_HEADER} (space-separated "v1,<base64>"
entries, each base64(HMAC-SHA256(secret, "<{ID_HEADER}>.<{TIMESTAMP_HEADER}>.<body>"));
a secret "whsec_<base64>" is decoded first, any other secret is used as its UTF-8 bytes).

Money is a decimal string ("19.99"), times are ISO 8601 with a UTC offset. "source" may be
left out and must otherwise be "generic"; "source_event_id" defaults to {ID_HEADER}.
Each kind needs its parts (null counts as missing): """
    + "; ".join(f"{kind.value}: {', '.join(parts)}" for kind, parts in PARTS_BY_KIND.items())
    + "."
)


def generic_event_schema() -> dict[str, Any]:
    """The JSON Schema of the generic body: ``OrderEvent``'s, plus the envelope's rules."""
    schema = OrderEvent.model_json_schema()
    properties = schema["properties"]
    properties["source"] = {
        "const": SOURCE,
        "default": SOURCE,
        "title": "Source",
        "description": 'Always "generic"; may be left out.',
    }
    properties["source_event_id"] = {
        **properties["source_event_id"],
        "description": f"The event's own id; defaults to the {ID_HEADER} header.",
    }
    schema["required"] = [
        name for name in schema["required"] if name not in ("source", "source_event_id")
    ]
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
            "then": {
                "required": list(parts),
                "properties": {part: {"not": {"type": "null"}} for part in parts},
            },
        }
        for kind, parts in PARTS_BY_KIND.items()
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated from aftercare.events.OrderEvent by `python -m "
        f"aftercare.stores.generic > {SCHEMA_PATH}`; do not edit by hand.",
        **schema,
        "title": "Aftercare generic order event",
        "description": _ENVELOPE,
    }


def render_generic_event_schema() -> str:
    """The schema file's exact text, so a test can tell when the committed copy drifts."""
    return json.dumps(generic_event_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render_generic_event_schema(), end="")
