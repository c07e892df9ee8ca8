"""The signature Shopify and WooCommerce both use: base64(HMAC-SHA256(raw body, secret)).

Compared in constant time (``hmac.compare_digest``), so the answer's timing tells a forger
nothing about how much of a guessed signature was right.
"""

from __future__ import annotations

import base64
import hmac

from pydantic import SecretStr

from aftercare.stores import Delivery, SignatureError


def verify_body_hmac(
    delivery: Delivery,
    secret: SecretStr | None,
    *,
    header: str,
    header_label: str,
    no_secret: str,
    missing_header: str,
    wrong_secret: str,
) -> None:
    """Raise ``SignatureError`` (with the given store-specific advice) unless authentic."""
    if secret is None or not secret.get_secret_value():
        raise SignatureError(no_secret)
    sent = delivery.headers.get(header)
    if not sent:
        raise SignatureError(f"the {header_label} header is missing: {missing_header}")
    # ``hmac.digest``: OpenSSL's one-shot HMAC, without building an HMAC object per request.
    digest = hmac.digest(secret.get_secret_value().encode("utf-8"), delivery.body, "sha256")
    if not hmac.compare_digest(base64.b64encode(digest), sent.strip().encode("utf-8")):
        raise SignatureError(
            f"the {header_label} signature does not match the body: either the request is "
            f"forged or {wrong_secret}"
        )
