"""Which carrier issued a tracking number: its shape, then its check digit.

A store often sends a tracking number without a usable link, or with a carrier name we
cannot map; the number itself usually says who carries the parcel. Each format below is a
pattern over the normalized number plus, where the carrier defines one, the check digit
that catches a mistyped or misread number. A pattern alone is weak evidence (every
14-digit number "looks like" something), so a match records whether its check digit
held, and callers decide how much to trust a match without one.

The facts (prefixes, lengths, which digits a check digit covers, tracking-page addresses)
come from the MIT-licensed tracking_number_data project by Jeff Keen, cross-checked with
the carriers' and standards bodies' own descriptions cited at each scheme. The table is
ours: rewritten for the normalized form and for Python's ``re``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from aftercare.events import CountryCode

# --- normalizing -----------------------------------------------------------------------

# Copy-paste from PDFs and carrier emails brings zero-width characters along with spaces.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def normalize_tracking_number(raw: str) -> str:
    """``raw`` without any whitespace or zero-width characters, upper-cased.

    Carriers print numbers in groups ("1Z 999 AA1 01 2345 6784") and case does not matter
    to any of them, so "1z999aa10123456784" is the same parcel. NFKC folds the full-width
    digits and letters a Japanese or Chinese keyboard types into ASCII.
    """
    folded = unicodedata.normalize("NFKC", raw.translate(_INVISIBLE))
    return "".join(folded.split()).upper()


# --- check digits ----------------------------------------------------------------------


class CheckDigit(Protocol):
    """A check-digit scheme: ``payload`` is the part the check character is computed from."""

    name: str

    def is_valid(self, payload: str, check: str) -> bool: ...


def _digit_value(char: str) -> int:
    """A payload character as a number for the mod 10 schemes.

    UPS numbers (and OnTrac's, which reuse the scheme) carry letters; UPS maps them onto
    digits as (ASCII code - 63) mod 10, so A=2 ... H=9, I=0 ... R=9, S=0 ... Z=7.
    """
    return int(char) if char.isdigit() else (ord(char) - 63) % 10


@dataclass(frozen=True)
class Mod10:
    """Weighted sum mod 10: the check digit brings the sum up to a multiple of ten.

    ``weights`` alternate over the payload, from its first character or, with
    ``from_right``, from its last. GS1 (General Specifications, section 7.9) weighs 3, 1
    from the right; UPS weighs 1, 2 from the left.
    """

    weights: tuple[int, int]
    from_right: bool
    name: str

    def is_valid(self, payload: str, check: str) -> bool:
        chars = reversed(payload) if self.from_right else iter(payload)
        total = sum(_digit_value(c) * self.weights[i % 2] for i, c in enumerate(chars))
        return check.isdigit() and (10 - total % 10) % 10 == int(check)


@dataclass(frozen=True)
class Mod7:
    """DHL Express waybills: the check digit is the serial number's remainder mod 7."""

    name: str = "mod7"

    def is_valid(self, payload: str, check: str) -> bool:
        return payload.isdigit() and check.isdigit() and int(payload) % 7 == int(check)


@dataclass(frozen=True)
class WeightedMod11:
    """FedEx Express: digits weighted 1, 3, 7 from the right, sum mod 11, then mod 10."""

    name: str = "mod11 (FedEx)"

    def is_valid(self, payload: str, check: str) -> bool:
        weights = (1, 3, 7)
        total = sum(int(c) * weights[i % 3] for i, c in enumerate(reversed(payload)))
        return check.isdigit() and total % 11 % 10 == int(check)


@dataclass(frozen=True)
class Luhn:
    """The Luhn formula (ISO/IEC 7812-1): every second digit from the check digit doubled."""

    name: str = "luhn"

    def is_valid(self, payload: str, check: str) -> bool:
        total = 0
        for i, char in enumerate(reversed(payload + check)):
            value = int(char) * (2 if i % 2 else 1)
            total += value - 9 if value > 9 else value
        return total % 10 == 0


@dataclass(frozen=True)
class S10:
    """UPU standard S10 (item identifiers): the eight serial digits weighted 8 6 4 2 3 5 9 7.

    Check digit = 11 - (sum mod 11), where 10 becomes 0 and 11 becomes 5.
    """

    name: str = "s10"

    def is_valid(self, payload: str, check: str) -> bool:
        weights = (8, 6, 4, 2, 3, 5, 9, 7)
        digit = 11 - sum(int(c) * w for c, w in zip(payload, weights, strict=True)) % 11
        return check == str({10: 0, 11: 5}.get(digit, digit))


_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Mod37_36:  # noqa: N801 - the standard's own name
    """ISO/IEC 7064 MOD 37,36, the hybrid system DPD uses for its parcel numbers.

    Each character (0-9, A-Z as 0-35) is folded into a running value mod 36, doubled mod
    37; the check character is the one that brings the final value to 1.
    """

    name: str = "mod37_36"

    def is_valid(self, payload: str, check: str) -> bool:
        modulus = 36
        product = modulus
        for char in payload:
            total = (product + _ALPHANUMERIC.index(char)) % modulus or modulus
            product = total * 2 % (modulus + 1)
        return check == _ALPHANUMERIC[(modulus + 1 - product) % modulus]


GS1_MOD10 = Mod10(weights=(3, 1), from_right=True, name="mod10 (GS1)")
UPS_MOD10 = Mod10(weights=(1, 2), from_right=False, name="mod10 (UPS)")


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Courier:
    """A carrier: how stores name it and where a customer follows a parcel.

    ``tracking_url`` has a ``{number}`` placeholder and is https: mail clients flag plain
    http links (the source data still lists a few http pages; those carriers serve https).
    """

    code: str
    name: str
    tracking_url: str | None
    # Words a store's carrier name starts with ("FedEx Ground", "DHL Express", "USPS").
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class TrackingFormat:
    """One numbering scheme of one courier.

    ``pattern`` is matched against the whole normalized number. Its ``payload`` and
    ``check`` groups feed ``check_digit``; an optional ``link`` group is the part the
    carrier's tracking page expects (a barcode that wraps a shorter tracking number).
    ``distinctive`` says the shape alone names the carrier (a letter prefix such as
    "1Z" or "TBA"); a bare run of digits without a check digit says little.
    """

    courier: Courier
    name: str
    pattern: re.Pattern[str]
    check_digit: CheckDigit | None
    distinctive: bool
    payload_prefix: str = ""


def _pattern(regex: str) -> re.Pattern[str]:
    # ASCII: ``\d`` must not match Arabic-Indic or full-width digits.
    return re.compile(regex, re.ASCII | re.VERBOSE)


AMAZON = Courier(
    "amazon", "Amazon Logistics", "https://track.amazon.com/tracking/{number}", ("amazon",)
)
CANADA_POST = Courier(
    "canada_post",
    "Canada Post",
    "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
    ("canada post", "postes canada", "canadapost"),
)
CANPAR = Courier(
    "canpar",
    "Canpar",
    "https://www.canpar.com/en/track/tracking.jsp?reference={number}&locale=en",
    ("canpar",),
)
DHL = Courier(
    "dhl", "DHL", "https://www.dhl.com/en/express/tracking.html?brand=DHL&AWB={number}", ("dhl",)
)
DPD = Courier(
    "dpd",
    "DPD",
    "https://www.dpdgroup.com/nl/mydpd/my-parcels/track?lang=en&parcelNumber={number}",
    ("dpd",),
)
FEDEX = Courier(
    "fedex", "FedEx", "https://www.fedex.com/apps/fedextrack/?tracknumbers={number}", ("fedex",)
)
GOFO = Courier(
    "gofo", "GOFO Express", "https://www.gofoexpress.com/tracking.html?searchID={number}", ("gofo",)
)
LANDMARK = Courier(
    "landmark",
    "Landmark Global",
    "https://track.landmarkglobal.com/?search={number}",
    ("landmark",),
)
# No tracking page in the source data; a universal tracker follows these.
LASERSHIP = Courier("lasership", "LaserShip", None, ("lasership", "laser ship"))
OLD_DOMINION = Courier(
    "old_dominion",
    "Old Dominion Freight Line",
    "https://www.odfl.com/us/en/tools/trace-track-ltl-freight/trace.html?proNumbers={number}",
    ("old dominion", "odfl"),
)
ONTRAC = Courier(
    "ontrac", "OnTrac", "https://www.ontrac.com/tracking/?number={number}", ("ontrac",)
)
PUROLATOR = Courier(
    "purolator",
    "Purolator",
    "https://www.purolator.com/en/shipping/tracker?searchValue={number}",
    ("purolator",),
)
# A UPU S10 number is issued by the origin country's postal service; the page depends on it.
S10_POST = Courier("s10", "International post (UPU S10)", None, ())
SPEEDEE = Courier(
    "speedee",
    "Spee-Dee Delivery",
    "https://www.speedeedelivery.com/track/?tracking={number}",
    ("spee-dee", "speedee", "spee dee"),
)
UPS = Courier(
    "ups", "UPS", "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums={number}", ("ups",)
)
USPS = Courier(
    "usps",
    "USPS",
    "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    ("usps", "united states postal service", "u.s. postal service"),
)
YODEL = Courier("yodel", "Yodel", "https://www.yodel.co.uk/tracking/{number}", ("yodel",))
YUNEXPRESS = Courier(
    "yunexpress",
    "YunExpress",
    "https://www.yuntrack.com/parcelTracking?id={number}",
    ("yunexpress", "yun express"),
)

COURIERS: tuple[Courier, ...] = (
    AMAZON,
    CANADA_POST,
    CANPAR,
    DHL,
    DPD,
    FEDEX,
    GOFO,
    LANDMARK,
    LASERSHIP,
    OLD_DOMINION,
    ONTRAC,
    PUROLATOR,
    S10_POST,
    SPEEDEE,
    UPS,
    USPS,
    YODEL,
    YUNEXPRESS,
)

# USPS Publication 199: a package barcode may start with the routing code "420" and the
# destination ZIP (5 digits, or ZIP+4) before the tracking number; the tracking number is
# what follows.
_USPS_ROUTING = r"(?:420 \d{5} (?:\d{4})? )?"

# Order matters only among matches of equal strength: letter-prefixed shapes first, then
# digit runs with a fixed prefix, then the bare digit runs (which overlap each other).
FORMATS: tuple[TrackingFormat, ...] = (
    TrackingFormat(
        UPS,
        "UPS",
        # "1Z", shipper account (6), service (2), package (7), check digit.
        _pattern(r"1Z (?P<payload>[0-9A-Z]{15}) (?P<check>\d)"),
        UPS_MOD10,
        distinctive=True,
    ),
    TrackingFormat(
        UPS,
        "UPS Waybill",
        _pattern(r"[AHJKTV] (?P<payload>\d{9}) (?P<check>\d)"),
        UPS_MOD10,
        distinctive=True,
    ),
    TrackingFormat(
        S10_POST,
        "S10",
        # Service indicator (2 letters), serial (8), check digit, issuing country (ISO 3166).
        _pattern(r"(?P<service>[A-Z]{2}) (?P<payload>\d{8}) (?P<check>\d) (?P<country>[A-Z]{2})"),
        S10(),
        distinctive=True,
    ),
    TrackingFormat(
        AMAZON,
        "Amazon Logistics",
        _pattern(r"TB[ACM] \d{12}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        AMAZON,
        "Amazon International",
        _pattern(r"[AFC] \d{10}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        CANPAR,
        "Canpar (22)",
        _pattern(r"[CDKLSUXZ] \d{21}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        DHL,
        "DHL Express (Piece ID)",
        _pattern(r"J[A-Z]{2,3} \d{9,10}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        DHL,
        "DHL E-Commerce",
        # A two-letter prefix, then 10 to 39 letters and digits, at least one a digit.
        _pattern(r"(?:GM|LX|RX|UV|CN|SG|TH|IN|HK|MY) (?=[A-Z]*\d) [0-9A-Z]{10,39}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        GOFO,
        "GOFO Express (US)",
        _pattern(r"GFUS \d{14}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        LANDMARK,
        "Landmark Global LTN",
        _pattern(r"LTN \d{8} N1"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        LASERSHIP,
        "LaserShip LX",
        _pattern(r"L[AIEHNX][1-3] \d{7}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        LASERSHIP,
        "LaserShip 1LS7 (15)",
        _pattern(r"1LS7[12] \d{4} \d{6}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        LASERSHIP,
        "LaserShip 1LS7 (18)",
        _pattern(r"1LS7 [12]\d{2} 01[1-4] \d{6} -1"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        LASERSHIP,
        "LaserShip 1LSCX (15)",
        _pattern(r"1LSCX [0-9A-Z]{10}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        ONTRAC,
        "OnTrac",
        # The leading letter is part of the payload: C counts as 4 in UPS's letter mapping.
        _pattern(r"(?P<payload>C\d{13}) (?P<check>\d)"),
        UPS_MOD10,
        distinctive=True,
    ),
    TrackingFormat(
        ONTRAC,
        "OnTrac D",
        _pattern(r"(?P<payload>D\d{13}) (?P<check>\d)"),
        UPS_MOD10,
        distinctive=True,
    ),
    TrackingFormat(
        PUROLATOR,
        "Purolator (alpha + 9)",
        _pattern(r"[A-Z]{3} \d{9}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        SPEEDEE,
        "Spee-Dee (20)",
        _pattern(r"SP \d{18}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        YODEL,
        "Yodel",
        _pattern(r"J J? D \d{16}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        YUNEXPRESS,
        "YunExpress",
        _pattern(r"YT \d{16}"),
        None,
        distinctive=True,
    ),
    TrackingFormat(
        OLD_DOMINION,
        "Old Dominion",
        _pattern(r"(?P<payload>(?:77[78]|072|780) \d{7}) (?P<check>\d)"),
        Luhn(),
        distinctive=False,
    ),
    TrackingFormat(
        OLD_DOMINION,
        "Old Dominion Guaranteed Shipment",
        _pattern(r"(?P<payload>80 \d{8}) (?P<check>\d)"),
        Luhn(),
        distinctive=False,
    ),
    TrackingFormat(
        PUROLATOR,
        "Purolator (12)",
        _pattern(r"(?P<payload>[0-5]\d{10}) (?P<check>\d)"),
        Luhn(),
        distinctive=False,
    ),
    TrackingFormat(
        DPD,
        "DPD (28)",
        # Destination postcode (7), parcel number (14), service (3), ISO 3166 numeric
        # country (3), then the check character over all 27 digits.
        _pattern(r"(?P<payload>\d{7} (?P<link>\d{14}) \d{3} \d{3}) (?P<check>[0-9A-Z])"),
        Mod37_36(),
        distinctive=False,
    ),
    TrackingFormat(
        DPD,
        "DPD (14)",
        _pattern(r"(?P<payload>\d{14}) (?P<check>[0-9A-Z])"),
        Mod37_36(),
        distinctive=False,
    ),
    TrackingFormat(
        USPS,
        "USPS IMpb N",
        # Application identifier 94, service (3), mailer ID (9 digits starting with 9, else
        # 6), package ID sized so the whole number is 22, 26 or 30 digits.
        _pattern(
            r"""(?:420 \d{5} (?=\d{22}\Z|\d{26}\Z) (?:\d{4} (?=\d{22}\Z))? )?
            (?P<link>(?P<payload>94 \d{3}
                (?: 9\d{8} (?:\d{15}|\d{11}|\d{7}) | [0-8]\d{5} (?:\d{14}|\d{10}) ))
            (?P<check>\d))"""
        ),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        USPS,
        "USPS IMpb C",
        # Application identifier 92 (9-digit mailer ID), 93 (6-digit) or 95 (USPS retail).
        _pattern(
            r"""(?:420 \d{5} (?:\d{4} (?=\d{22}\Z))? )?
            (?P<link>(?P<payload>(?:92(?=\d{3}9) | 93(?=\d{3}[0-8]) | 95) \d{3}
                (?: 9\d{8} (?:\d{11}|\d{7}) | [0-8]\d{5} (?:\d{14}|\d{10}) ))
            (?P<check>\d))"""
        ),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        USPS,
        "USPS Legacy",
        # The check digit covers the application identifier 91 even when it is not printed.
        _pattern(_USPS_ROUTING + r"(?P<link>(?:91)? (?P<payload>(?!00)\d{19}) (?P<check>\d))"),
        GS1_MOD10,
        distinctive=False,
        payload_prefix="91",
    ),
    TrackingFormat(
        USPS,
        "USPS 20",
        # Two digits of service type first. Never "00": that is GS1's application
        # identifier for an SSCC, the shape of DHL Paket's and many other carriers'
        # numbers, whose GS1 check digit this scheme would otherwise accept.
        _pattern(r"(?P<payload>(?!00)\d{19}) (?P<check>\d)"),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Express (12)",
        _pattern(r"(?P<payload>\d{11}) (?P<check>\d)"),
        WeightedMod11(),
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Express (34)",
        # The check digit covers the last 13 digits before it; the 12-digit Express
        # number the tracking page knows is the barcode's tail.
        _pattern(r"[0-8]\d{14} \d{5} (?=\d\d(?P<link>\d{12})\Z) (?P<payload>\d{13}) (?P<check>\d)"),
        WeightedMod11(),
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx ASTRA (32)",
        # The legacy ASTRA barcode: positions 17-28 hold the FedEx Express number.
        _pattern(r"3\d{15} (?P<link>(?P<payload>\d{11}) (?P<check>\d)) \d{4}"),
        WeightedMod11(),
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Ground",
        _pattern(r"(?P<payload>\d{14}) (?P<check>\d)"),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Ground (SSCC-18)",
        # An SSCC (GS1): extension digit, company prefix and serial (17), GS1 check digit.
        _pattern(r"(?P<payload>\d{17}) (?P<check>\d)"),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Ground 96 (22)",
        # Application identifier 96, carrier code (2), service (3), shipper (7), package (7).
        _pattern(r"96 \d{2} \d{3} (?P<payload>\d{14}) (?P<check>\d)"),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        FEDEX,
        "FedEx Ground GSN",
        # 96, carrier code, 5 digits, the Ground shipper number (10), a digit, then 13
        # digits and the check digit over them; the tracking number is the last twelve.
        _pattern(
            r"96 \d{2} \d{5} \d{10} \d (?=\d\d(?P<link>\d{12})\Z) (?P<payload>\d{13}) (?P<check>\d)"
        ),
        WeightedMod11(),
        distinctive=False,
    ),
    TrackingFormat(
        CANADA_POST,
        "Canada Post (16)",
        _pattern(r"(?P<payload>\d{15}) (?P<check>\d)"),
        GS1_MOD10,
        distinctive=False,
    ),
    TrackingFormat(
        DHL,
        "DHL Express",
        _pattern(r"(?P<payload>\d{9,10}) (?P<check>\d)"),
        Mod7(),
        distinctive=False,
    ),
    TrackingFormat(
        DHL,
        "DHL E-Commerce (14)",
        _pattern(r"\d{14}"),
        None,
        distinctive=False,
    ),
)

# What the first letter of an S10 service indicator says (UPU S10: E for EMS, R for
# registered, C for parcels, ...).
S10_SERVICES: dict[str, str] = {
    "C": "parcel",
    "E": "EMS",
    "H": "e-commerce parcel",
    "L": "letter, express",
    "M": "M-bag",
    "Q": "business reply",
    "R": "registered letter",
    "U": "letter",
    "V": "insured letter",
}

# Postal services whose tracking page we know; other S10 items go to a universal tracker,
# which follows an item across the origin's and the destination's posts.
_S10_POSTS: dict[str, Courier] = {"US": USPS, "CA": CANADA_POST}

_COUNTRY_CODE = TypeAdapter(CountryCode)


def _is_country(code: str) -> bool:
    """An ISO 3166 country, as the order events define one (no "EU", no "ZZ")."""
    try:
        _COUNTRY_CODE.validate_python(code)
    except ValidationError:
        return False
    return True


# --- identifying -----------------------------------------------------------------------


class CheckDigitResult(StrEnum):
    """What the check digit says about a match."""

    VALID = "valid"
    INVALID = "invalid"
    NONE = "none"  # the format has no check digit: the shape is all we know


@dataclass(frozen=True)
class CarrierMatch:
    """A tracking number read as one format of one courier."""

    number: str  # normalized
    format: TrackingFormat
    check_digit: CheckDigitResult
    link_number: str  # what the carrier's tracking page expects
    origin_country: str | None = None  # S10: the issuing postal service's country

    @property
    def courier(self) -> Courier:
        """Who carries the parcel: for an S10 item, the issuing post when we know its page."""
        if self.origin_country is not None:
            return _S10_POSTS.get(self.origin_country, self.format.courier)
        return self.format.courier

    @property
    def verified(self) -> bool:
        """The check digit held: a typo or a look-alike number would almost never pass."""
        return self.check_digit is CheckDigitResult.VALID

    @property
    def plausible(self) -> bool:
        """Nothing contradicts this reading (its check digit, if any, held)."""
        return self.check_digit is not CheckDigitResult.INVALID

    @property
    def confident(self) -> bool:
        """Strong enough to name the carrier: a valid check digit, or a shape only it uses."""
        return self.verified or (
            self.check_digit is CheckDigitResult.NONE and self.format.distinctive
        )

    @property
    def format_name(self) -> str:
        if self.format.courier is S10_POST:
            service = S10_SERVICES.get(self.number[0])
            return f"UPU S10, {service}" if service else "UPU S10"
        return self.format.name

    @property
    def tracking_url(self) -> str | None:
        """The carrier's page for this parcel, if we know one (https, number encoded)."""
        template = self.courier.tracking_url
        if template is None:
            return None
        return template.replace("{number}", quote(self.link_number, safe=""))


def _read(number: str, fmt: TrackingFormat) -> CarrierMatch | None:
    found = fmt.pattern.fullmatch(number)
    if found is None:
        return None
    groups = found.groupdict()
    origin = groups.get("country")
    if origin is not None and not _is_country(origin):
        # S10's suffix must name a country: "RB123456785XX" is no postal item.
        return None
    result = CheckDigitResult.NONE
    if fmt.check_digit is not None:
        payload = fmt.payload_prefix + groups["payload"]
        valid = fmt.check_digit.is_valid(payload, groups["check"])
        result = CheckDigitResult.VALID if valid else CheckDigitResult.INVALID
    return CarrierMatch(
        number=number,
        format=fmt,
        check_digit=result,
        link_number=groups.get("link") or number,
        origin_country=origin,
    )


_STRENGTH = {CheckDigitResult.VALID: 0, CheckDigitResult.NONE: 1, CheckDigitResult.INVALID: 2}

# No carrier's number is longer than this (USPS IMpb with routing code: 34 digits); a
# longer string is not worth running forty patterns over.
MAX_TRACKING_NUMBER_LENGTH = 64


def identify(raw_number: str) -> tuple[CarrierMatch, ...]:
    """Every format ``raw_number`` fits, strongest first.

    Verified check digits first, then formats without a check digit, then readings whose
    check digit failed (kept, so a caller can say "looks like UPS, but mistyped").
    Within each group, the table's order: distinctive shapes before bare digit runs.
    """
    number = normalize_tracking_number(raw_number)
    if not number or len(number) > MAX_TRACKING_NUMBER_LENGTH or not number.isascii():
        return ()
    matches = [m for fmt in FORMATS if (m := _read(number, fmt)) is not None]
    return tuple(sorted(matches, key=lambda m: _STRENGTH[m.check_digit]))


def courier_named(name: str | None) -> Courier | None:
    """The courier a store means by ``name`` ("FedEx Ground", "DHL Express", "usps").

    Matched on whole leading words, so "UPS" is not found inside "Groups Ltd".
    """
    if not name:
        return None
    words = " ".join(re.sub(r"[^a-z0-9.\-]+", " ", name.lower()).split())
    for courier in COURIERS:
        for alias in courier.aliases:
            if words == alias or words.startswith(alias + " "):
                return courier
    return None
