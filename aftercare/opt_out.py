"""The marketing opt-out: signed links, their mail headers, and who may see product suggestions.

In the EU a product recommendation in a transactional email is direct marketing, allowed to
existing customers under the soft opt-in (ePrivacy Directive art. 13(2)) only with a simple
way to refuse it in every such email. So every email with a cross-sell block links to
``/opt-out/{token}`` on the receiver and carries ``List-Unsubscribe`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and an opted-out customer
never sees a cross-sell block again; the order's own news is unchanged.

The token is the address's hash (``address_hash``) and the store the email was for, signed
with ``itsdangerous``'s HMAC signer under the link secret: the address never appears in a
link, a header or a log, and a token cannot be forged or altered for someone else's hash.
It never expires, because an email read a year later must still be refusable.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from itsdangerous import BadSignature, Signer
from sqlalchemy.engine import make_url

from aftercare.errors import AftercareError
from aftercare.events import MarketingConsent
from aftercare.settings import MarketingConsentPolicy, Settings

log = logging.getLogger(__name__)

OPT_OUT_PATH = "/opt-out/"
# Namespaces the signature: a token signed for another purpose under the same secret (a
# future rating link, say) is not an opt-out token.
_SALT = "aftercare.marketing-opt-out"
# What a store's source name looks like (``shopify``, ``woocommerce``, ``generic``).
_SOURCE = re.compile(r"[a-z0-9_-]{1,40}")
# A generated secret kept beside an SQLite database: ``aftercare.db.link-secret``.
SECRET_FILE_SUFFIX = ".link-secret"
MIN_SECRET_CHARS = 32
SECRET_SETTING = "AFTERCARE_LINK_SECRET"
# RFC 8058, section 3.1: the one key/value pair a one-click POST sends.
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class LinkSecretError(AftercareError):
    """No usable secret to sign opt-out links with: the operator has to set one."""


class BadOptOutTokenError(AftercareError):
    """A token Aftercare did not sign: tampered, cut short, or signed with another secret."""


def address_hash(address: str) -> str:
    """The SHA-256 (hex) of the lower-cased, stripped address: what the opt-out list keeps."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OptOutRequest:
    """What a valid token says: whose opt-out (by hash), from an email for which store."""

    address_hash: str
    source: str | None


class OptOutLinks:
    """Makes and reads opt-out tokens under one secret; built once per process.

    A token is ``<hash>[~<store>].<signature>``: the address's SHA-256 in URL-safe base64,
    the store the email was for, and an HMAC-SHA256 over both by ``itsdangerous.Signer``
    (salted for this purpose). About 95 characters, and a few microseconds to make: every
    email with product suggestions makes one.
    """

    def __init__(self, secret: str, public_url: str, previous_secrets: Sequence[str] = ()) -> None:
        # Signs with ``secret``; still accepts tokens of the ``previous_secrets`` (rotation).
        self._signer = Signer([*previous_secrets, secret], salt=_SALT, digest_method=hashlib.sha256)
        self.public_url = public_url.rstrip("/")

    def token(self, address: str, source: str | None = None) -> str:
        digest = base64.urlsafe_b64encode(bytes.fromhex(address_hash(address))).rstrip(b"=")
        if source is not None:
            if not _SOURCE.fullmatch(source):
                raise ValueError(f"{source!r} is not a store's source name")
            digest += b"~" + source.encode()
        return self._signer.sign(digest).decode()

    def url(self, address: str, source: str | None = None) -> str:
        return f"{self.public_url}{OPT_OUT_PATH}{self.token(address, source)}"

    def read(self, token: str) -> OptOutRequest:
        """The request ``token`` carries; ``BadOptOutTokenError`` unless Aftercare signed it."""
        try:
            value = self._signer.unsign(token.encode()).decode()
            digest, _, source = value.partition("~")
            raw = base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4))
        except (BadSignature, ValueError, UnicodeError):
            raise BadOptOutTokenError("the opt-out link is not one Aftercare made") from None
        if len(raw) != 32 or (source and not _SOURCE.fullmatch(source)):
            # Signed, so ours, but not an opt-out token's shape.
            raise BadOptOutTokenError("the opt-out link is not one Aftercare made")
        return OptOutRequest(raw.hex(), source or None)


def opt_out_links(settings: Settings) -> OptOutLinks:
    """The links of this configuration (the secret is found, or generated, once)."""
    secret, previous = link_secrets(settings)
    return _links(secret, previous, str(settings.public_url))


@cache
def _links(secret: str, previous: tuple[str, ...], public_url: str) -> OptOutLinks:
    return OptOutLinks(secret, public_url, previous)


def link_secrets(settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The secret every link to Aftercare is signed with (``AFTERCARE_LINK_SECRET``, or the
    one generated beside an SQLite database), and the earlier ones still accepted when
    reading (``AFTERCARE_LINK_SECRET_PREVIOUS``, comma-separated): a rotated secret leaves
    the links in emails already sent working until they are retired from that list."""
    configured = settings.link_secret.get_secret_value() if settings.link_secret else None
    listed = (
        settings.link_secret_previous.get_secret_value() if settings.link_secret_previous else ""
    )
    previous = tuple(part.strip() for part in listed.split(",") if part.strip())
    for old in previous:
        if len(old) < MIN_SECRET_CHARS:
            raise LinkSecretError(
                f"{SECRET_SETTING}_PREVIOUS holds a secret shorter than {MIN_SECRET_CHARS} "
                "characters; list the earlier secrets exactly, separated by commas"
            )
    return _found_secret(configured, settings.database_url), previous


@cache
def _found_secret(configured: str | None, database_url: str) -> str:
    return _secret(configured, database_url)


def opt_out_url(settings: Settings, address: str, *, source: str | None = None) -> str:
    """The link that ends product suggestions for ``address`` (``source``: the store)."""
    return opt_out_links(settings).url(address, source)


def list_unsubscribe_headers(url: str, *, mailto: str | None = None) -> dict[str, str]:
    """The RFC 8058 headers for an email whose opt-out link is ``url``.

    Gmail and Yahoo require both on bulk senders' marketing, and show their own
    "Unsubscribe" button for them; the mailbox provider POSTs ``List-Unsubscribe=One-Click``
    to ``url``. Both headers must be covered by the DKIM signature (RFC 8058, section 4).
    ``mailto``: an address that also unsubscribes, for clients that only know RFC 2369's.
    """
    links = f"<{url}>" if mailto is None else f"<{url}>, <mailto:{mailto}>"
    return {"List-Unsubscribe": links, "List-Unsubscribe-Post": ONE_CLICK_BODY}


def may_show_cross_sell(
    consent: MarketingConsent | None, opted_out: bool, policy: MarketingConsentPolicy
) -> bool:
    """Whether an email to this customer may carry product recommendations.

    Never after an opt-out or when the store says they unsubscribed. Otherwise, under the
    soft opt-in, yes (an unknown consent included: the store sends none, or WooCommerce);
    under "explicit", only when the store says they subscribed.
    """
    if opted_out or consent == "unsubscribed":
        return False
    if policy == "explicit":
        return consent == "subscribed"
    return True


# --- the secret ---------------------------------------------------------------------------------


def _secret(configured: str | None, database_url: str) -> str:
    """``AFTERCARE_LINK_SECRET``; unset, one kept beside an SQLite database file.

    With a database server, the receiver and every drain worker may run on different
    machines and must all sign with one secret, so none is invented: ``LinkSecretError``.
    """
    if configured is not None:
        if len(configured) < MIN_SECRET_CHARS:
            raise LinkSecretError(
                f"{SECRET_SETTING} is shorter than {MIN_SECRET_CHARS} characters; use a random "
                "one, e.g. the output of `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`"
            )
        return configured
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise LinkSecretError(
            f"{SECRET_SETTING} is not set. With a {url.get_backend_name()} database the "
            "receiver and every drain must sign opt-out links with one secret; set it to a "
            "random string of at least 32 characters (`python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`) and never change it, or the links in emails "
            "already sent stop working"
        )
    if not url.database or url.database == ":memory:":
        log.warning(
            "opt-out links are signed with a secret that lives as long as this process (an "
            "in-memory database); set %s to keep them valid",
            SECRET_SETTING,
        )
        return secrets.token_urlsafe(32)
    return kept_secret(Path(url.database).with_name(Path(url.database).name + SECRET_FILE_SUFFIX))


def kept_secret(path: Path) -> str:
    """The secret in ``path``, generated there first if there is none.

    Two processes starting at once (the receiver and a drain) end with the same secret: the
    new file is written aside and linked into place, which fails if the other came first.
    """
    if not path.exists():
        aside = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process generated it first: theirs is used
        else:
            log.warning(
                "opt-out links are signed with a secret generated in %s; keep that file with "
                "the database (or set %s): without it, the links in emails already sent stop "
                "working",
                path,
                SECRET_SETTING,
            )
        finally:
            aside.unlink()
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise LinkSecretError(
            f"{path} does not hold an opt-out link secret (empty or cut short); restore it "
            f"from a backup, or delete it to generate a new one (old links stop working)"
        )
    return secret
