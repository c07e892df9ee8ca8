"""Which language an email is written in: the customer's, their country's, or the store's.

In this order: the customer's own locale (Shopify's ``customer_locale``, a WooCommerce
language plugin's order meta) when the store offers its language; without one, the main
language of the country the order ships to, when the store offers it (a Thai address
gets Thai); else the store's default. A customer who named a language the store does not
offer gets the store's default, not their country's: someone who reads German and ships
to Bangkok is not helped by Thai.

Regional variants go to the offered locale of the same language and script (``ru-UA`` →
``ru``, ``zh-SG`` and ``zh-Hans`` → ``zh-CN``). Traditional Chinese (``zh-TW``, ``zh-HK``,
``zh-MO``, ``zh-Hant``) goes to Simplified only where the store allows it
(``StoreFacts.allow_traditional_to_simplified``): the script differs, and a store may
rather answer a Taiwanese customer in English. Babel (CLDR) tells the script of a tag
(``zh_TW`` is ``zh_Hant_TW``) and a country's languages; every choice says why, for the
email's record.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from babel import Locale, UnknownLocaleError, localedata
from babel.languages import get_official_languages

ChoiceSource = Literal["customer", "shipping_country", "store_default"]


@dataclass(frozen=True)
class LocaleChoice:
    """The locale an email is written in, and why."""

    # The offered locale, as the store lists it ("zh-CN").
    locale: str
    # Money and dates: the chosen language for the customer's region where CLDR has it
    # (``en_CH`` for a Swiss customer of an English email), else ``locale``.
    formatting: str
    source: ChoiceSource
    # What the customer's locale (or, without one, their country) asked for: "zh-TW".
    wanted: str | None
    because: str

    @property
    def fell_back(self) -> bool:
        """Whether the email is in another language or script than the customer asked for."""
        if self.wanted is None:
            return False
        return not _same_language(_parse(self.wanted), _parse(self.locale))

    def as_record(self) -> dict[str, str | None]:
        return {
            "wanted": self.wanted,
            "chose": self.locale,
            "source": self.source,
            "because": self.because,
        }


def choose_locale(
    customer_locale: str | None,
    shipping_country: str | None,
    *,
    offered: Collection[str],
    default: str,
    allow_traditional_to_simplified: bool = False,
) -> LocaleChoice:
    """The locale to write to a customer in (see the module's docstring for the order).

    ``offered`` are the store's locales; ``default`` is always offered, listed or not. An
    unknown ``customer_locale`` counts as none.
    """
    default_tag = _written(default)
    offers = _offers((*offered, default))
    wanted = _parse(customer_locale) if customer_locale else None
    if wanted is not None:
        chosen, why = _match(wanted, offers, allow_traditional_to_simplified)
        asked = _written(str(wanted))
        if chosen is not None:
            because = (
                "the customer's locale"
                if _written(chosen) == asked
                else f"the customer's locale {asked}, in the store's {_written(chosen)}"
            )
            return _choice(chosen, wanted, "customer", asked, because)
        return _choice(
            default, wanted, "store_default", asked, f"{why}; the store's default, {default_tag}"
        )
    country = (shipping_country or "").upper()
    languages = get_official_languages(country, de_facto=True) if country else ()
    if languages:
        main = _parse(f"{languages[0]}_{country}") or _parse(languages[0])
        if main is not None:
            chosen, why = _match(main, offers, allow_traditional_to_simplified)
            asked = _written(str(main))
            if chosen is not None:
                return _choice(
                    chosen,
                    main,
                    "shipping_country",
                    asked,
                    f"no customer locale; {asked} is the main language of {country}",
                )
            return _choice(
                default,
                None,
                "store_default",
                asked,
                f"no customer locale; {asked}, the main language of {country}: {why};"
                f" the store's default, {default_tag}",
            )
    because = (
        f"no customer locale, and no main language known for {country}"
        if country
        else "no customer locale or shipping country known"
    )
    return _choice(default, None, "store_default", None, because)


def _choice(
    chosen: str, region_of: Locale | None, source: ChoiceSource, wanted: str | None, because: str
) -> LocaleChoice:
    return LocaleChoice(
        locale=_written(chosen),
        formatting=_formatting(chosen, region_of),
        source=source,
        wanted=wanted,
        because=because,
    )


def _formatting(chosen: str, region_of: Locale | None) -> str:
    """The chosen language formatted for the customer's region, where CLDR has the pair."""
    locale = _parse(chosen)
    if locale is None:
        return chosen
    if region_of is None or not region_of.territory or locale.territory == region_of.territory:
        return chosen.replace("-", "_")
    if _same_language(locale, region_of):
        # Their own language and region: ``ru_UA`` is formatted as ``ru_UA``.
        return str(region_of)
    language = f"{locale.language}_{locale.script}" if locale.script else locale.language
    regional = f"{language}_{region_of.territory}"
    return regional if localedata.exists(regional) else chosen.replace("-", "_")


def _parse(tag: str | None) -> Locale | None:
    if not tag:
        return None
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def _written(tag: str) -> str:
    """A tag as the product writes it: ``zh-CN``, ``ru-UA``, ``en`` (BCP 47, no script
    where the region implies it)."""
    locale = _parse(tag)
    if locale is None:
        return tag.replace("_", "-")
    parts = [locale.language]
    if locale.script and not locale.territory:
        parts.append(locale.script)
    if locale.territory:
        parts.append(locale.territory)
    return "-".join(parts)


def _same_language(a: Locale | None, b: Locale | None) -> bool:
    """Same language and script (``zh_Hans_SG`` and ``zh_Hans_CN``; not ``zh_Hant_TW``)."""
    if a is None or b is None:
        return False
    return a.language == b.language and (a.script or None) == (b.script or None)


def _offers(tags: Collection[str]) -> list[tuple[str, Locale]]:
    found: list[tuple[str, Locale]] = []
    for tag in tags:
        locale = _parse(tag)
        if locale is not None and all(str(locale) != str(other) for _, other in found):
            found.append((tag, locale))
    return found


def _match(
    wanted: Locale, offers: list[tuple[str, Locale]], allow_traditional_to_simplified: bool
) -> tuple[str | None, str]:
    """The offered locale for ``wanted``, or None and why there is none."""
    for tag, offer in offers:
        if str(offer) == str(wanted):
            return tag, ""
    same = [(tag, offer) for tag, offer in offers if _same_language(offer, wanted)]
    if same:
        # The same region, else the bare language, else the first listed.
        for tag, offer in same:
            if offer.territory == wanted.territory:
                return tag, ""
        for tag, offer in same:
            if not offer.territory:
                return tag, ""
        return same[0][0], ""
    asked = _written(str(wanted))
    if wanted.language == "zh" and wanted.script == "Hant":
        simplified = [tag for tag, offer in offers if offer.language == "zh"]
        if simplified and allow_traditional_to_simplified:
            return simplified[0], ""
        if simplified:
            return None, f"the store does not allow {asked} → {_written(simplified[0])}"
    return None, f"the store does not offer {asked}"
