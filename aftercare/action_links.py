"""Signed, expiring action links: the customer answers an email in one click.

Every link in an email that asks the customer something — the satisfaction rating, "did
this answer your question?" under an FAQ answer, the delay email's options — is
``{public_url}/a/{token}``. The token names the email (its outbox idempotency key: unique per
logical email, known before the email is stored), the action, its subject (the FAQ snippet's
id for ``faq_helpful``, else empty) and the value the link stands for, with the time it was
made, signed by ``itsdangerous``'s ``TimestampSigner`` under the link secret
(``opt_out.py``'s, salted for this purpose, so an opt-out token is never an action token
and the other way round). It expires after ``action_link_days`` (60 by default): a rating
link in an email read a year later does nothing, and a leaked link stops working.

An email carries up to a dozen of these, so a token is short and cheap: no JSON, the action
and value in two letters, the key as it is (base64 only when it has characters a URL path
cannot carry), the signature an HMAC-SHA256 cut to 128 bits (RFC 2104, section 5, allows
truncating to half the hash; NIST SP 800-107 to 64 bits or more). About 90 characters for
a Shopify order's key, and about 2 µs to make (``bench/render.py``).

Rotation: the secret the links are signed with is ``AFTERCARE_LINK_SECRET``; the ones in
``AFTERCARE_LINK_SECRET_PREVIOUS`` (comma-separated) are still accepted when reading, so the
links in emails already sent keep working while a new secret takes over.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal, get_args

from itsdangerous import BadSignature, TimestampSigner
from itsdangerous.encoding import base64_encode, int_to_bytes
from itsdangerous.signer import SigningAlgorithm

from aftercare.errors import AftercareError
from aftercare.opt_out import link_secrets
from aftercare.settings import Settings

ACTION_PATH = "/a/"
DEFAULT_DAYS = 60

Action = Literal["rating", "faq_helpful", "delay_choice"]
ACTIONS: tuple[Action, ...] = get_args(Action)

# Each action's values, in the order a page offers them, and their letter in a token.
VALUES: dict[Action, tuple[str, ...]] = {
    "rating": ("good", "okay", "bad"),
    "faq_helpful": ("yes", "no"),
    "delay_choice": ("wait", "refund", "reship", "ship_ready"),
}
# Choices with consequences for the order: never taken from a GET (mail scanners open every
# link), only from the confirming POST of the link's page.
CONSEQUENTIAL: frozenset[tuple[Action, str]] = frozenset(
    {("delay_choice", "refund"), ("delay_choice", "reship"), ("delay_choice", "ship_ready")}
)
_ACTION_LETTER: dict[Action, str] = {"rating": "r", "faq_helpful": "f", "delay_choice": "d"}
_VALUE_LETTER: dict[str, str] = {
    "good": "g",
    "okay": "o",
    "bad": "b",
    "yes": "y",
    "no": "n",
    "wait": "w",
    "refund": "r",
    "reship": "s",
    "ship_ready": "p",  # send what is Present now
}
_CODE: dict[tuple[Action, str], str] = {
    (action, value): _ACTION_LETTER[action] + _VALUE_LETTER[value]
    for action, values in VALUES.items()
    for value in values
}
_FROM_CODE: dict[str, tuple[Action, str]] = {code: pair for pair, code in _CODE.items()}

# Namespaces the signature (the opt-out's is "aftercare.marketing-opt-out").
_SALT = "aftercare.customer-action"
# A subject is an FAQ snippet's id (``faq_snippets/*.md``: lower-case words and hyphens).
_SUBJECT = re.compile(r"[a-z0-9_-]{0,100}")
# A key of these characters goes into the token as it is ('~' after the subject says so);
# any other is base64url ('!'). Both marks are allowed in a URL path segment (RFC 3986).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9:_.-]+")
_MAX_KEY_CHARS = 400  # outbox_emails.idempotency_key
# A token made by a machine whose clock runs ahead of this one's is fine; one from the far
# future was not made by any of ours.
_CLOCK_SKEW = timedelta(minutes=10)
_SIGNATURE_BYTES = 16


class BadActionTokenError(AftercareError):
    """A token Aftercare did not make: forged, altered, cut short, or another secret's."""


class ExpiredActionTokenError(AftercareError):
    """A token Aftercare made, older than the links' lifetime: it does nothing any more."""

    def __init__(self, message: str, request: ActionRequest) -> None:
        super().__init__(message)
        self.request = request


@dataclass(frozen=True)
class ActionRequest:
    """What a valid token says: which email asked, which action, about what, which answer."""

    email_key: str
    action: Action
    value: str
    subject: str
    signed_at: datetime

    @property
    def consequential(self) -> bool:
        """A choice the store acts on (refund, reship): recorded only when confirmed."""
        return (self.action, self.value) in CONSEQUENTIAL


class _TruncatedHmacSha256(SigningAlgorithm):
    """HMAC-SHA256 cut to its first 128 bits: 22 characters of base64 instead of 43."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.new(key, value, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


class _ActionSigner(TimestampSigner):
    """``TimestampSigner`` with the time from ``clock`` and each secret's derived key kept
    (itsdangerous derives it, one SHA-256, on every signature: a third of the cost)."""

    def __init__(self, secrets: Sequence[str], clock: Callable[[], float]) -> None:
        super().__init__(
            list(secrets),
            salt=_SALT,
            digest_method=hashlib.sha256,
            algorithm=_TruncatedHmacSha256(),
        )
        self._clock = clock
        self._derived: dict[bytes | None, bytes] = {}
        # Signed with the last secret's derived key, as itsdangerous does.
        self._keyed = hmac.new(self.derive_key(), digestmod=hashlib.sha256)
        self._stamped_at = -1
        self._stamp = b""

    def get_timestamp(self) -> int:
        return int(self._clock())

    def sign_fast(self, payload: str) -> str:
        """``sign(payload)``, byte for byte, at half the cost: the same token
        ``itsdangerous`` makes and reads (the tests compare them), with the timestamp part
        made once a second and the HMAC from a keyed state copied per token, instead of
        itsdangerous's layers of objects (an email signs a dozen of these)."""
        now = int(self._clock())
        if now != self._stamped_at:
            self._stamped_at = now
            self._stamp = b"." + base64_encode(int_to_bytes(now))
        signed = payload.encode() + self._stamp
        mac = self._keyed.copy()  # the key's two pad blocks hashed once, not per token
        mac.update(signed)
        return (signed + b"." + base64_encode(mac.digest()[:_SIGNATURE_BYTES])).decode()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        derived = self._derived.get(cache_key)
        if derived is None:
            derived = self._derived[cache_key] = super().derive_key(secret_key)
        return derived


class ActionLinks:
    """Makes and reads action tokens under one secret (and older ones, for reading)."""

    def __init__(
        self,
        secret: str,
        public_url: str,
        *,
        days: int = DEFAULT_DAYS,
        previous_secrets: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        # itsdangerous signs with the last key and accepts every one of them.
        self._signer = _ActionSigner([*previous_secrets, secret], clock)
        self.public_url = public_url.rstrip("/")
        self.lifetime = timedelta(days=days)

    def token(self, email_key: str, action: Action, value: str, subject: str = "") -> str:
        code = _CODE.get((action, value))
        if code is None:
            raise ValueError(f"{value!r} is not an answer of the action {action!r}")
        if not _SUBJECT.fullmatch(subject):
            raise ValueError(f"{subject!r} is not an FAQ snippet's id")
        if not email_key or len(email_key) > _MAX_KEY_CHARS:
            raise ValueError("an email's idempotency key is 1 to 400 characters")
        if _PLAIN_KEY.fullmatch(email_key):
            payload = f"{code}{subject}~{email_key}"
        else:
            encoded = base64.urlsafe_b64encode(email_key.encode()).rstrip(b"=").decode()
            payload = f"{code}{subject}!{encoded}"
        return self._signer.sign_fast(payload)

    def url(self, email_key: str, action: Action, value: str, subject: str = "") -> str:
        """The link for one answer: ``links.url(key, "rating", "good")``,
        ``links.url(key, "faq_helpful", "yes", subject=snippet_id)``."""
        return f"{self.public_url}{ACTION_PATH}{self.token(email_key, action, value, subject)}"

    def read(self, token: str, now: datetime) -> ActionRequest:
        """What ``token`` asks; ``BadActionTokenError`` unless Aftercare signed it,
        ``ExpiredActionTokenError`` when it is older than the links' lifetime at ``now``."""
        try:
            payload, signed_at = self._signer.unsign(token, return_timestamp=True)
            request = _parse(payload.decode(), signed_at)
        except (BadSignature, ValueError, UnicodeError, binascii.Error):
            raise BadActionTokenError("the link is not one Aftercare made") from None
        if signed_at > now + _CLOCK_SKEW:
            raise BadActionTokenError("the link is not one Aftercare made")
        if now - signed_at > self.lifetime:
            raise ExpiredActionTokenError(
                f"the link expired ({self.lifetime.days} days after its email)", request
            )
        return request


def _parse(payload: str, signed_at: datetime) -> ActionRequest:
    """The request of a signed payload; ``ValueError`` for one that is not an action's (a
    token of another purpose signed under the same secret and salt cannot exist, but a
    future format might)."""
    pair = _FROM_CODE.get(payload[:2])
    if pair is None:
        raise ValueError("no action code")
    action, value = pair
    rest = payload[2:]
    marks = [i for i in (rest.find("~"), rest.find("!")) if i >= 0]
    if not marks:
        raise ValueError("no email key")
    split = min(marks)
    subject, mark, key = rest[:split], rest[split], rest[split + 1 :]
    if mark == "!":
        key = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    if not key or not _SUBJECT.fullmatch(subject):
        raise ValueError("not an action token's shape")
    return ActionRequest(key, action, value, subject, signed_at.astimezone(UTC))


def action_links(settings: Settings) -> ActionLinks | None:
    """The action links of this configuration, or None when they are off
    (``AFTERCARE_ACTION_LINKS`` unset: the receiver is not reachable from the customers'
    mail, and the emails keep the store's own links).

    Raises ``opt_out.LinkSecretError`` as the opt-out links do: on a database server without
    ``AFTERCARE_LINK_SECRET``.
    """
    if not settings.action_links:
        return None
    secret, previous = link_secrets(settings)
    return _links(secret, previous, str(settings.public_url), settings.action_link_days)


@cache
def _links(secret: str, previous: tuple[str, ...], public_url: str, days: int) -> ActionLinks:
    """One per configuration and process: its signer keeps the derived keys."""
    return ActionLinks(secret, public_url, days=days, previous_secrets=previous)
