"""The one link a shipped email gives for "where is my order?".

In order of preference (DESIGN.md, "Tracking links"):

1. the store's own tracking page, from a URL template the store configures: it keeps
   the customer on the store's site and in its branding;
2. the link the store sent with the parcel (Shopify's ``tracking_url``), when it is https
   and names this parcel, not a carrier's empty search form;
3. the carrier's page, when the number itself says who the carrier is;
4. a universal tracker, which follows any number across carriers.

Every link is an absolute https URL with the tracking number percent-encoded: the number
comes from a webhook, so ``javascript:``, HTML or a 500-character string in it must end
up as harmless text in a query string, never as a link of its own. The result records
which rule chose the link, so the sent email's record can say why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus, urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from aftercare.enrichment.tracking.carriers import (
    CarrierMatch,
    Courier,
    courier_named,
    identify,
    normalize_tracking_number,
)

if TYPE_CHECKING:
    pass

DEFAULT_UNIVERSAL_TRACKER = "https://t.17track.net/en#nums={number}"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Characters RFC 3986 never allows raw in a URL, plus the quotes and angle brackets that
# would end an HTML attribute. Letters outside ASCII are refused too: a homograph host
# ("раypal") is a phishing trick.
_UNSAFE_URL_CHARS = frozenset(" \"<>\\^`{|}'")
# What a tracking number may contain to be put into someone else's URL.
_LINKABLE_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9./_-]{0,63}", re.ASCII)
# Web search result pages are not tracking pages, whatever their query says.
_SEARCH_ENGINES = frozenset({"google", "bing", "duckduckgo", "yahoo", "yandex", "baidu", "ecosia"})


class LinkSource(StrEnum):
    """Which rule chose a tracking link (kept with the sent email)."""

    STORE_PAGE = "store_page"
    STORE_URL = "store_url"
    CARRIER = "carrier"
    UNIVERSAL = "universal"


def _check_template(template: str, allowed: set[str], required: set[str]) -> str:
    names = set(_PLACEHOLDER.findall(template))
    if unknown := names - allowed:
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}}; use {', '.join(sorted(allowed))}"
        )
    if not names & required:
        raise ValueError(f"the template needs one of {', '.join(sorted(required))}")
    filled = _PLACEHOLDER.sub("x", template)
    if safe_https_url(filled) is None:
        raise ValueError(f"{template!r} is not an absolute https URL")
    return template


class TrackingLinkSettings(BaseModel):
    """Where a store wants tracking links to point.

    ``store_page_template`` is the store's own tracking page, with ``{number}`` and/or
    ``{order}`` (the order number without "#"), e.g.
    ``https://shop.example/apps/track?order={order}&number={number}``.
    ``universal_tracker_template`` (with ``{number}``) is the last resort for a number no
    carrier claims.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_page_template: str | None = None
    universal_tracker_template: str = DEFAULT_UNIVERSAL_TRACKER

    @field_validator("store_page_template")
    @classmethod
    def _store_page(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _check_template(value.strip(), {"number", "order"}, {"number", "order"})

    @field_validator("universal_tracker_template")
    @classmethod
    def _universal(cls, value: str) -> str:
        return _check_template(value.strip(), {"number"}, {"number"})


@dataclass(frozen=True)
class TrackingLink:
    """The link to give the customer, and what we know about the number behind it.

    ``number`` is the normalized number, or ``None`` when there is none or it is not
    something to show a customer (markup, a script, a paragraph of text). ``reading`` is
    the carrier reading the link choice trusted, if any, whichever rule won.
    """

    url: str
    source: LinkSource
    number: str | None
    reading: CarrierMatch | None


def safe_https_url(url: str | None) -> str | None:
    """``url`` when it is an absolute https URL that is safe in an email, else ``None``.

    Refused: other schemes (``http``, ``javascript:``, ``data:``), relative links,
    whitespace, quotes and angle brackets, non-ASCII characters, and user info before the
    host (``https://shop.example@evil.example/`` goes to evil.example).
    """
    if not url:
        return None
    url = url.strip()
    if not url.isascii() or not url.isprintable() or _UNSAFE_URL_CHARS.intersection(url):
        return None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme != "https" or not hostname or "@" in parts.netloc:
        return None
    return url


def _fill(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced by its value, percent-encoded.

    ``str.replace`` rather than ``str.format``: a template's braces are the store's, and
    ``format`` would read ``{number.__class__}`` as an attribute lookup.
    """
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(value, safe=""))
    return template


def linkable_number(raw: str | None) -> str | None:
    """The normalized number when it can go into a link, else ``None``.

    Tracking numbers are letters, digits and at most a few separators; anything else
    (markup, a URL, text in another script, a 500-character paste) is not a number
    any tracker will find, and is not worth repeating to the customer.
    """
    if raw is None:
        return None
    number = normalize_tracking_number(raw)
    return number if _LINKABLE_NUMBER.fullmatch(number) else None


def _is_search_page(url: str) -> bool:
    hostname = urlsplit(url).hostname or ""
    return bool(_SEARCH_ENGINES.intersection(hostname.split(".")))


def _names_parcel(url: str, number: str) -> bool:
    """Whether ``url`` carries ``number``, however the store spaced or encoded it."""
    return number in normalize_tracking_number(unquote_plus(url))


def usable_store_url(url: str, number: str | None) -> str | None:
    """The store's link when it leads to this parcel's page, else ``None``.

    A link that does not contain the tracking number is a carrier's search form
    ("https://www.ups.com/track"), where the customer would have to type the number
    the email could have linked; with no number to compare, any safe link is taken.
    """
    safe = safe_https_url(url)
    if safe is None or _is_search_page(safe):
        return None
    if number is not None and not _names_parcel(safe, number):
        return None
    return safe


def carrier_reading(number: str, store_carrier: str | None) -> CarrierMatch | None:
    """The reading of ``number`` to trust for a carrier page, or ``None`` to guess no carrier.

    The store bought the label, so when it names a carrier we know, only that carrier's
    formats count (a DHL Paket number also passes a USPS check digit). A carrier we do not
    know still rules out every other one, except a valid S10 number, which names its own
    issuing post. With no name, the readings with a valid check digit count, else those
    with a shape only one carrier uses; they must all agree on the carrier.
    """
    readings = [m for m in identify(number) if m.plausible]
    if store_carrier and store_carrier.strip():
        named: Courier | None = courier_named(store_carrier)
        if named is None:
            return next((m for m in readings if m.origin_country and m.verified), None)
        return next((m for m in readings if named in (m.courier, m.format.courier)), None)
    # A valid check digit outweighs a shape: "LX123456785DE" is an S10 item, although
    # DHL eCommerce numbers also start with "LX".
    strongest = [m for m in readings if m.verified] or [m for m in readings if m.confident]
    if len({m.courier.code for m in strongest}) == 1:
        return strongest[0]
    return None


def choose_tracking_link(
    raw_number: str | None,
    *,
    store_urls: Sequence[str] = (),
    store_carrier: str | None = None,
    order_number: str | None = None,
    settings: TrackingLinkSettings | None = None,
) -> TrackingLink | None:
    """The best link for one parcel, or ``None`` when there is nothing to track.

    ``raw_number`` is the tracking number as the store sent it, ``store_urls`` the links it
    sent, ``store_carrier`` the carrier name it gave, ``order_number`` the customer-facing
    order number (for the store's page).
    """
    settings = settings or TrackingLinkSettings()
    has_number = bool(raw_number and raw_number.strip())
    if not has_number and not any(u and u.strip() for u in store_urls):
        return None
    number = linkable_number(raw_number)
    reading = carrier_reading(number, store_carrier) if number else None

    def link(url: str | None, source: LinkSource) -> TrackingLink | None:
        url = safe_https_url(url)
        return TrackingLink(url, source, number, reading) if url else None

    template = settings.store_page_template
    if template is not None:
        values = {"number": number, "order": order_number}
        needed = set(_PLACEHOLDER.findall(template))
        if all(values[name] for name in needed):
            filled = _fill(template, **{name: values[name] or "" for name in needed})
            if found := link(filled, LinkSource.STORE_PAGE):
                return found
    for url in store_urls:
        if found := link(usable_store_url(url, number), LinkSource.STORE_URL):
            return found
    if reading is not None and (found := link(reading.tracking_url, LinkSource.CARRIER)):
        return found
    if number is not None:
        return link(_fill(settings.universal_tracker_template, number=number), LinkSource.UNIVERSAL)
    return None
