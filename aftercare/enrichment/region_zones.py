"""The time zone of a shipping address: its country's, or its region's where the country spans
several.

The tz database names a country's zones (``zone1970.tab``, through ``pytz.country_timezones``)
but not which region lies in which, and lists them west to east or north to south, so its
first zone is not the country's main one: Canada's is St John's, Russia's Kaliningrad,
Australia's Lord Howe Island. No maintained library maps ISO 3166-2 subdivisions to zones
for the countries that need it: ``pytzsub`` (checked at 2026.7) covers only the United
States, Canada, Australia and Ukraine, and puts Ontario in Winnipeg's zone. So this module
keeps a short table of its own, from the tz database's zone comments (``zone1970.tab``:
"Central (most areas)", "MSK+07 - Primorye"), for the countries whose customers span more
than three hours or whose stores commonly ship there: the United States, Canada, Mexico,
Brazil, Russia, Indonesia, Australia, and Spain's and Portugal's Atlantic islands. Only
the regions off the country's main zone are listed; a region split between zones takes
the zone most of its people live in (Florida's panhandle is Central, Florida is Eastern).

A region is recognised by its ISO 3166-2 code (``CA``, ``US-CA``: WooCommerce's ``state``,
Shopify's ``province_code``) or by its name at the start of a word in English or the local
language (Shopify's ``province``, a typed "Primorsky Krai" or "Приморский край"); where a
store keeps no regions (WooCommerce has none for Russia), by the city.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import pytz

# The zone most of a multi-zone country's people live in, where the tz database's first is not.
MAIN_ZONES: dict[str, str] = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
    "US": "America/New_York",
    "MX": "America/Mexico_City",
    "ID": "Asia/Jakarta",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
}


@dataclass(frozen=True)
class _Region:
    zone: str
    codes: frozenset[str]  # ISO 3166-2 codes without the country (and Shopify's own)
    names: tuple[str, ...]  # name beginnings, lower case, English and local; main cities


def _region(zone: str, codes: str, names: str) -> _Region:
    return _Region(zone, frozenset(codes.split()), tuple(names.split("|")))


# Listed more specific first where one name begins another ("Sakhalin" before "Sakha"):
# the zone, the region codes (space-separated), the name beginnings ("|"-separated).
_REGIONS: dict[str, tuple[_Region, ...]] = {
    "US": (
        _region("America/New_York", "DC", "district of columbia|washington dc"),
        _region(
            "America/Chicago",
            "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI",
            "alabama|arkansas|illinois|iowa|kansas|louisiana|minnesota|mississippi|missouri|"
            "nebraska|north dakota|oklahoma|south dakota|tennessee|texas|wisconsin",
        ),
        _region("America/Denver", "CO MT NM UT WY", "colorado|montana|new mexico|utah|wyoming"),
        _region("America/Boise", "ID", "idaho"),
        _region("America/Phoenix", "AZ", "arizona"),
        _region("America/Los_Angeles", "CA NV OR WA", "california|nevada|oregon|washington"),
        _region("America/Anchorage", "AK", "alaska"),
        _region("Pacific/Honolulu", "HI", "hawaii"),
        _region("America/Puerto_Rico", "PR VI", "puerto rico|virgin islands"),
        _region("Pacific/Guam", "GU MP", "guam|northern mariana"),
        _region("Pacific/Pago_Pago", "AS", "american samoa"),
    ),
    "CA": (
        _region("America/St_Johns", "NL", "newfoundland"),
        _region(
            "America/Halifax",
            "NS NB PE",
            "nova scotia|new brunswick|nouveau-brunswick|prince edward|ile-du-prince",
        ),
        _region("America/Winnipeg", "MB", "manitoba"),
        _region("America/Regina", "SK", "saskatchewan"),
        _region("America/Edmonton", "AB NT", "alberta|northwest territories"),
        _region("America/Vancouver", "BC", "british columbia|colombie-britannique"),
        _region("America/Whitehorse", "YT", "yukon"),
    ),
    "MX": (
        _region("America/Cancun", "ROO", "quintana roo"),
        _region("America/Mazatlan", "BCS BS SIN NAY", "baja california sur|sinaloa|nayarit"),
        _region("America/Tijuana", "BCN BC", "baja california"),
        _region("America/Hermosillo", "SON", "sonora"),
    ),
    "BR": (
        _region("America/Rio_Branco", "AC", "acre"),
        _region("America/Manaus", "AM", "amazonas"),
        _region("America/Boa_Vista", "RR", "roraima"),
        _region("America/Porto_Velho", "RO", "rondonia"),
        _region("America/Campo_Grande", "MS", "mato grosso do sul"),
        _region("America/Cuiaba", "MT", "mato grosso"),
    ),
    "RU": (
        _region("Europe/Kaliningrad", "KGD", "kaliningrad|калининград"),
        _region("Europe/Samara", "SAM UD", "samar|самар|udmurt|удмурт|izhevsk|ижевск"),
        _region("Europe/Astrakhan", "AST", "astrakhan|астрахан"),
        _region("Europe/Saratov", "SAR", "saratov|саратов"),
        _region("Europe/Ulyanovsk", "ULY", "ulyanovsk|ульяновск"),
        _region(
            "Asia/Yekaterinburg",
            "SVE CHE BA PER ORE KGN TYU KHM YAN",
            "sverdlovsk|свердловск|yekaterinburg|ekaterinburg|екатеринбург|chelyabinsk|челябинск|"
            "bashkort|башкорт|ufa|уфа|perm|перм|orenburg|оренбург|kurgan|курган|tyumen|тюмен|khanty|"
            "ханты|yamal|ямал",
        ),
        _region("Asia/Tomsk", "TOM", "tomsk|томск"),
        _region("Asia/Omsk", "OMS", "omsk|омск"),
        _region("Asia/Novosibirsk", "NVS", "novosibirsk|новосибирск"),
        _region("Asia/Barnaul", "ALT AL", "altai|altay|алта|barnaul|барнаул"),
        _region(
            "Asia/Novokuznetsk",
            "KEM",
            "kemerovo|кемеров|kuzbass|кузбасс|novokuznetsk|новокузнецк",
        ),
        _region(
            "Asia/Krasnoyarsk",
            "KYA KK TY",
            "krasnoyarsk|красноярск|khakas|хакас|tuva|tyva|тыва|тува",
        ),
        _region("Asia/Irkutsk", "IRK BU", "irkutsk|иркутск|buryat|бурят|ulan-ude|улан-удэ"),
        _region("Asia/Chita", "ZAB", "zabaykal|zabaikal|забайкал|chita|чита"),
        _region("Asia/Sakhalin", "SAK", "sakhalin|сахалин|yuzhno|южно-сахалинск"),
        _region(
            "Asia/Yakutsk",
            "SA AMU",
            "sakha|саха|yakut|якут|amur|амур|blagoveshchensk|благовещенск",
        ),
        _region(
            "Asia/Vladivostok",
            "PRI KHA YEV",
            "primor|приморск|приморье|vladivostok|владивосток|khabarovsk|хабаровск|jewish|еврейск",
        ),
        _region("Asia/Magadan", "MAG", "magadan|магадан"),
        _region("Asia/Kamchatka", "KAM", "kamchat|камчат|petropavlovsk"),
        _region("Asia/Anadyr", "CHU", "chukot|чукот|anadyr|анадырь"),
    ),
    "ID": (
        _region(
            "Asia/Makassar",
            "BA NB NT KS KI KU SA ST SN SG GO SR",
            "bali|nusa tenggara|kalimantan selatan|south kalimantan|kalimantan timur|"
            "east kalimantan|kalimantan utara|north kalimantan|sulawesi|gorontalo|"
            "denpasar|makassar",
        ),
        _region("Asia/Jayapura", "MA MU PA PB PD PE PS PT", "maluku|papua|jayapura|ambon"),
    ),
    "AU": (
        _region("Australia/Brisbane", "QLD", "queensland"),
        _region("Australia/Adelaide", "SA", "south australia"),
        _region("Australia/Darwin", "NT", "northern territory"),
        _region("Australia/Perth", "WA", "western australia"),
        _region("Australia/Hobart", "TAS", "tasmania"),
        _region("Australia/Melbourne", "VIC", "victoria"),
    ),
    # Shopify and WooCommerce name Spain's provinces (GC Las Palmas, TF Santa Cruz de
    # Tenerife) and Portugal's districts (20 Azores, 30 Madeira; Madeira keeps Lisbon's time).
    "ES": (
        _region("Atlantic/Canary", "CN GC TF", "canarias|canary|las palmas|santa cruz de tenerife"),
    ),
    "PT": (_region("Atlantic/Azores", "20", "acores|azores"),),
}


def _plain(text: str) -> str:
    """Lower case without accents, so "Rondônia" and "Açores" match the table's words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


@cache
def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(_plain(name)))


def region_zone(country_code: str, region: str | None, city: str | None = None) -> str | None:
    """The zone of a region of a multi-zone country that lies off its main zone, or None."""
    regions = _REGIONS.get(country_code.upper(), ())
    if not regions:
        return None
    if region:
        code = region.strip().upper().removeprefix(f"{country_code.upper()}-")
        for entry in regions:
            if code in entry.codes:
                return entry.zone
    for text in (region, city):
        if not text:
            continue
        plain = _plain(text)
        for entry in regions:
            if any(_name_pattern(name).search(plain) for name in entry.names):
                return entry.zone
    return None


def country_zone(country_code: str) -> str | None:
    """The zone most of a country's people live in (the tz database's only one for most)."""
    code = country_code.upper()
    if code in MAIN_ZONES:
        return MAIN_ZONES[code]
    zones = pytz.country_timezones.get(code)
    return zones[0] if zones else None


def address_zone(country_code: str, region: str | None, city: str | None = None) -> str | None:
    """The IANA zone of an address: its region's where the table knows it, else its country's."""
    return region_zone(country_code, region, city) or country_zone(country_code)
