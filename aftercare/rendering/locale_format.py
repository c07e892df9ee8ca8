"""Money, dates and numbers as the customer reads them, through Babel (CLDR data).

Hand-written formatting gets the details wrong for most of the world: ``1.234,50 €`` in
Germany, ``€1,234.50`` in Ireland, ``CHF 1’234.50`` in Switzerland; which way a date range
reads; which day a timestamp falls on in the customer's time zone. These wrappers pin the
choices Aftercare makes (a long date, a compact range) so every email uses the same ones.

Their results are cached: CLDR formatting costs tens of microseconds a call, an email makes
dozens of calls, and at volume the same prices, totals and dates recur email after email.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale, localedata
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, format_percent

# Every email kind has an English template; other languages are translations.
FALLBACK_LANGUAGE = "en"

# Calendars a store may choose for its customers' dates; Gregorian unless it says so.
Calendar = Literal["gregorian", "buddhist"]
BUDDHIST_ERA_OFFSET = 543
_BUDDHIST_ERA_NAME = "พ.ศ."  # CLDR th: the Buddhist calendar's era (buddhist/eras/abbr)

# "Jun 13 – 17, 2024" / "13.–17. Juni 2024": the year once, as CLDR words it per language.
_RANGE_SKELETON = "yMMMMd"


@lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale:
    """The Babel locale for a tag such as ``de_AT`` or ``pt-BR``."""
    return Locale.parse(tag.replace("-", "_"))


def language_tag(tag: str) -> str:
    """The BCP 47 tag for ``<html lang>``: ``de_AT`` becomes ``de-AT``."""
    return str(babel_locale(tag)).replace("_", "-")


def text_direction(tag: str) -> str:
    """``rtl`` for right-to-left scripts (Arabic, Hebrew, Persian), else ``ltr``."""
    return "rtl" if babel_locale(tag).character_order == "right-to-left" else "ltr"


def country_name(code: str, tag: str) -> str:
    """A country's name in the customer's language (``CH`` is "Schweiz" in German)."""
    return babel_locale(tag).territories.get(code.upper(), code.upper())


@lru_cache(maxsize=8192)
def format_money(amount: Decimal, currency: str, tag: str) -> str:
    """An amount in its ISO 4217 currency, with the locale's symbol, separators and order."""
    return format_currency(amount, currency, locale=babel_locale(tag))


@lru_cache(maxsize=8192)
def format_number(value: int | Decimal, tag: str) -> str:
    """A plain number in the locale's digits and separators."""
    return format_decimal(value, locale=babel_locale(tag))


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar day ``moment`` falls on for someone in ``time_zone``.

    A refund made at 23:30 UTC happened "tomorrow" for a customer in Tokyo; emails talk
    about the customer's day, not the server's.
    """
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass a timezone-aware one")
    return moment.astimezone(ZoneInfo(time_zone)).date()


@lru_cache(maxsize=8192)
def format_day(day: date, tag: str, calendar: Calendar = "gregorian") -> str:
    """A single day in full, weekday included ("Thursday, June 13, 2024").

    The weekday matters in a promise: "by Friday" is what the customer remembers.
    """
    formatted = format_date(day, format="full", locale=babel_locale(tag))
    return _in_calendar(formatted, (day,), tag, calendar)


@lru_cache(maxsize=8192)
def format_day_range(first: date, last: date, tag: str, calendar: Calendar = "gregorian") -> str:
    """Two days as one compact range ("Jun 13 – 17, 2024"); one day when they are equal."""
    if first > last:
        raise ValueError(f"a date range cannot end ({last}) before it starts ({first})")
    if first == last:
        formatted = format_date(first, format="long", locale=babel_locale(tag))
    else:
        formatted = format_interval(first, last, skeleton=_RANGE_SKELETON, locale=babel_locale(tag))
    return _in_calendar(formatted, (first, last), tag, calendar)


def _in_calendar(formatted: str, days: tuple[date, ...], tag: str, calendar: Calendar) -> str:
    """``formatted`` (Gregorian, as Babel writes every date) in the Thai solar calendar's
    Buddhist era when asked: the same days and months, the year plus 543, and CLDR's Thai
    name for that era (พ.ศ.) where the Gregorian one (ค.ศ.) stood.

    Babel formats the Gregorian calendar only; the Thai solar calendar differs from it in
    the year alone (since 1941 it starts on 1 January too), so this is exact.
    """
    if calendar != "buddhist":
        return formatted
    for year in sorted({d.year for d in days}, reverse=True):
        formatted = re.sub(rf"(?<!\d){year}(?!\d)", str(year + BUDDHIST_ERA_OFFSET), formatted)
    gregorian, buddhist = _era_names(tag)
    return formatted.replace(gregorian, buddhist) if gregorian else formatted


@lru_cache(maxsize=64)
def _era_names(tag: str) -> tuple[str | None, str]:
    """The locale's abbreviated name of the Common Era, and the Buddhist era's (Thai's)."""
    eras = babel_locale(tag).eras.get("abbreviated", {})
    return eras.get(1), _BUDDHIST_ERA_NAME


@lru_cache(maxsize=8192)
def format_count_range(low: int, high: int, tag: str) -> str:
    """A range of counts such as business days ("1–3"), or one number when they are equal."""
    if low == high:
        return format_number(high, tag)
    return f"{format_number(low, tag)}\u2013{format_number(high, tag)}"


@lru_cache(maxsize=8192)
def format_rate(rate: Decimal, tag: str) -> str:
    """A tax rate as a percentage, keeping its decimals (Swiss VAT is 8.1 %, not 8 %)."""
    return format_percent(rate, locale=babel_locale(tag), decimal_quantization=False)


def email_locale(wanted: str, template_locales: Collection[str]) -> str:
    """The locale an email is written and formatted in, given the translations that exist.

    A customer whose language has templates gets their own locale (``de_AT`` with ``de``
    templates). Otherwise the email falls back to English, and its money and dates are
    formatted as English for the customer's region (``en_CH``: ``€ 1’234.50``) when CLDR
    has that variant, so one email never mixes an English sentence with a German date.
    """
    tag = str(babel_locale(wanted))
    available = {str(babel_locale(t)) for t in template_locales}
    language = babel_locale(tag).language
    if tag in available or language in available:
        return tag
    fallback = (
        FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in available or not available else min(available)
    )
    territory = babel_locale(tag).territory
    if territory and localedata.exists(f"{fallback}_{territory}"):
        return f"{fallback}_{territory}"
    return fallback
