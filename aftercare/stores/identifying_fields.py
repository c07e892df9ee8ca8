"""A webhook body's identifying fields, read without building the rest of the document.

Before it acknowledges a delivery the receiver must know that the body is JSON and carries
the fields that say what it is about (an order's ``id`` and ``line_items``, a fulfillment's
``order_id``), so that a broken one is answered 400/422 while the store still listens.
Everything else waits for the drain. A Shopify order is about 12 KB of JSON; turning all of
it into Python objects took twice as long as checking its syntax and picking out these few
fields, which msgspec does without allocating for the fields it skips: time on the event
loop of every request.
"""

from __future__ import annotations

import functools

import msgspec

from aftercare.stores import MalformedPayloadError, UnreadableDeliveryError

# What ``require_keys`` counts as missing: absent, null or the empty string.
_MISSING = (b"null", b'""')


def require_fields(body: bytes, keys: tuple[str, ...], topic: str) -> dict[str, bytes]:
    """The JSON text of each of ``keys`` at the top of the object ``body``.

    400 when the body is not JSON (RFC 8259: UTF-8, no NaN, no unpaired surrogates); 422
    when it is not an object or one of ``keys`` is missing (the message names it, as the
    operator has to fix that field to replay it).
    """
    try:
        # The fields skipped are checked for syntax but not for UTF-8; the whole body is.
        body.decode("utf-8")
        found = _decoder(keys).decode(body)
    except UnicodeDecodeError:
        raise UnreadableDeliveryError("the body is not JSON (not UTF-8)") from None
    except RecursionError:  # msgspec's limit, about 1,000 levels; no store sends that
        raise UnreadableDeliveryError("the body is not JSON (nested too deeply)") from None
    except msgspec.ValidationError:
        raise MalformedPayloadError(f"the {topic} body is not a JSON object") from None
    except msgspec.DecodeError:
        raise UnreadableDeliveryError("the body is not JSON") from None
    values = {key: bytes(getattr(found, _field(i))) for i, key in enumerate(keys)}
    for key, text in values.items():
        if text in _MISSING:
            raise MalformedPayloadError(f"the {topic} payload is missing {key}")
    return values


@functools.cache
def _decoder(keys: tuple[str, ...]) -> msgspec.json.Decoder[msgspec.Struct]:
    # Fields named f0, f1, … renamed to the keys: a key need not be a Python identifier.
    fields = [(_field(i), msgspec.Raw, msgspec.Raw(b"null")) for i in range(len(keys))]
    shape = msgspec.defstruct(
        "IdentifyingFields",
        fields,
        rename={_field(i): key for i, key in enumerate(keys)},
    )
    return msgspec.json.Decoder(shape)


def _field(index: int) -> str:
    return f"f{index}"
