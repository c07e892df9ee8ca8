"""Five months of Fern & Field's orders, for the demo's support tickets to be about.

``aftercare faq learn`` learns which questions follow which email from two things: a
store's support tickets and the orders they are about. The demo's hand-written past orders
are a dozen; learning needs hundreds, with the facts the FAQ conditions read spread the way
a small European shop sees them:

- where parcels go: Germany 45 %, the rest of the EU 30 %, countries behind a customs border
  (Switzerland, the UK, Norway, the US) 15 %, and 10 % customers who write in Chinese
  (mainland China, Taiwan, Singapore), Russian (in Germany, Latvia and Israel: a language
  is not a country) or Thai;
- how they pay: card 55 %, PayPal 25 %, bank transfer 10 %, cash on delivery 5 % (Germany
  only, so it is a tenth of the German orders), invoice, gift card or another way 5 %;
- discount codes on 15 % of orders, a back-ordered item on 5 %, a gift card (digital, no
  shipping) on 3 %;
- parcels: DHL, 1 to 3 business days after the order (bank transfers wait for the money),
  a tenth of the orders in two parcels (a back-ordered item always travels on its own),
  nothing shipped yet for orders of the last two days; refunds on about a tenth (returns,
  damage, cancellations), 2 % cancelled before shipping.

Costs add up as a store's checkout adds them: prices include German VAT, so parcels inside
the EU (one-stop shop) and to the UK show the destination's VAT inside the total; other
exports carry no VAT, and the US duties are collected at checkout, as in ``past_orders.json``.

Deterministic: the same ``now`` and ``seed`` give the same history. Each order draws its
facts from its own ``random.Random`` (seeded by the seed and its number), so a change to how
one order is built leaves the others alone; the customers do not depend on ``now`` at all.
Times are relative to ``now``, like the rest of the demo (``aftercare.sample_store``): an
order is placed at a wall-clock time on the store's calendar day N days before ``now``, so a
later ``now`` moves the whole history by whole days and nothing ages.

Ids do not collide with the bundled files: orders ``ord-2001`` / ``FF-2001``…, customers
``cust-3001``…, parcels ``ful-2001-1``, refunds ``ref-2001-1``.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from aftercare.catalogue import Product
from aftercare.enrichment.promises import add_business_days
from aftercare.events import (
    Address,
    Costs,
    Customer,
    Fulfilment,
    LineItem,
    Order,
    PaymentMethod,
    Refund,
    RefundItem,
    RefundMethod,
    ShipmentItem,
    ShipmentStatus,
    TaxLine,
)
from aftercare.order_state import OrderState
from aftercare.sample_store import SAMPLE_STORE_TIME_ZONE, SOURCE, load_sample_store

__all__ = [
    "DEFAULT_ORDERS",
    "FIRST_ORDER_NUMBER",
    "HISTORY_DAYS",
    "demo_history",
    "history_order_ids",
]

DEFAULT_ORDERS = 400
HISTORY_DAYS = 150
FIRST_ORDER_NUMBER = 2001
_FIRST_CUSTOMER_NUMBER = 3001
_CUSTOMERS_PER_ORDER = 0.625  # 250 customers for 400 orders: a third of them order again
_STORE_COUNTRY = "DE"
_CENT = Decimal("0.01")

# --- where customers live -------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    name: str
    postal_code: str
    time_zone: str
    region: str | None = None


@dataclass(frozen=True)
class _Home:
    """Where a group of customers lives and what they speak: one row of the mix."""

    country: str
    locale: str
    culture: str  # which names they have (``_LATIN_NAMES``, ``_NATIVE_NAMES``, Russian)
    weight: float  # percent of customers
    cities: tuple[_City, ...]
    streets: tuple[str, ...]
    line1: str = "{street} {n}"


def _cities(zone: str, rows: str) -> tuple[_City, ...]:
    """Cities written as ``"Bad Homburg  61348; London  N1 7GU | England"``: a name, two
    spaces, the postal code (which may hold a space) and, after a bar, the region."""
    cities = []
    for row in rows.split(";"):
        place, _, region = row.strip().partition("|")
        name, postal_code = place.strip().rsplit("  ", 1)
        cities.append(_City(name.strip(), postal_code.strip(), zone, region.strip() or None))
    return tuple(cities)


_DE_CITIES = _cities(
    "Europe/Berlin",
    "Berlin  10435; Hamburg  22767; München  80469; Köln  50672; Leipzig  04275;"
    "Frankfurt am Main  60316; Dresden  01099; Stuttgart  70180; Düsseldorf  40215;"
    "Bremen  28203; Hannover  30161; Nürnberg  90429; Freiburg im Breisgau  79098",
)
_DE_STREETS = (
    "Hauptstraße",
    "Lindenallee",
    "Gartenweg",
    "Bahnhofstraße",
    "Schillerstraße",
    "Goethestraße",
    "Bergstraße",
    "Rosenweg",
    "Kastanienallee",
    "Am Markt",
)

# Postal codes avoid the few places of a country outside its customs or VAT territory
# (``enrichment/customs.py``: Heligoland, the Canaries, Northern Ireland, ...).
# fmt: off
HOMES: tuple[_Home, ...] = (
    _Home("DE", "de_DE", "de", 45.0, _DE_CITIES, _DE_STREETS),
    # The rest of the EU: 30 %.
    _Home("FR", "fr_FR", "fr", 7.0, _cities("Europe/Paris",
          "Paris  75011; Lyon  69003; Marseille  13006; Toulouse  31000; Nantes  44000;"
          "Bordeaux  33000; Lille  59800"),
          ("rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Voltaire"),
          "{n} {street}"),
    _Home("NL", "nl_NL", "nl", 5.0, _cities("Europe/Amsterdam",
          "Amsterdam  1015 BA; Rotterdam  3011 AD; Utrecht  3511 LN; Den Haag  2511 CV;"
          "Haarlem  2011 VB"),
          ("Prinsengracht", "Kerkstraat", "Molenweg", "Dorpsstraat", "Stationsweg")),
    _Home("AT", "de_AT", "at", 5.0, _cities("Europe/Vienna",
          "Wien  1070; Graz  8010; Linz  4020; Salzburg  5020; Innsbruck  6020"),
          ("Mariahilfer Straße", "Kirchengasse", "Landstraße", "Mozartgasse", "Hauptplatz")),
    _Home("IT", "it_IT", "it", 3.5, _cities("Europe/Rome",
          "Milano  20121 | MI; Roma  00185 | RM; Torino  10123 | TO; Bologna  40121 | BO;"
          "Firenze  50122 | FI"),
          ("Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele II", "Via Dante", "Via Mazzini")),
    _Home("ES", "es_ES", "es", 3.0, _cities("Europe/Madrid",
          "Madrid  28004; Barcelona  08001; Valencia  46001; Sevilla  41001; Bilbao  48001"),
          ("Calle Mayor", "Calle de Alcalá", "Calle Real", "Calle del Sol")),
    _Home("BE", "nl_BE", "nl", 1.5, _cities("Europe/Brussels",
          "Antwerpen  2000; Gent  9000; Leuven  3000"),
          ("Kerkstraat", "Stationsstraat", "Molenstraat", "Veldstraat")),
    _Home("BE", "fr_BE", "fr", 1.0, _cities("Europe/Brussels",
          "Bruxelles  1050; Liège  4000; Namur  5000"),
          ("rue de la Station", "avenue Louise", "rue du Marché", "chaussée de Wavre")),
    _Home("PL", "pl_PL", "pl", 1.5, _cities("Europe/Warsaw",
          "Warszawa  00-950; Kraków  31-042; Wrocław  50-077; Gdańsk  80-831"),
          ("ul. Długa", "ul. Kwiatowa", "ul. Polna", "ul. Lipowa", "ul. Ogrodowa")),
    _Home("SE", "sv_SE", "sv", 1.5, _cities("Europe/Stockholm",
          "Stockholm  114 35; Göteborg  411 06; Malmö  211 20; Uppsala  753 10"),
          ("Storgatan", "Drottninggatan", "Kungsgatan", "Skolgatan")),
    _Home("DK", "da_DK", "da", 1.0, _cities("Europe/Copenhagen",
          "København  2200; Aarhus  8000; Odense  5000; Aalborg  9000"),
          ("Vestergade", "Nørregade", "Østergade", "Strandvejen")),
    # Behind a customs border: 15 %.
    _Home("CH", "de_CH", "ch", 4.5, _cities("Europe/Zurich",
          "Zürich  8004; Bern  3011; Basel  4051; Luzern  6003"),
          ("Bahnhofstrasse", "Seestrasse", "Dorfstrasse", "Kirchgasse")),
    _Home("GB", "en_GB", "gb", 5.0, _cities("Europe/London",
          "London  N1 7GU; Manchester  M20 2RN; Bristol  BS6 5QA; Edinburgh  EH6 4QT;"
          "Leeds  LS6 1AN; Brighton  BN1 4GH"),
          ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"),
          "{n} {street}"),
    _Home("NO", "nb_NO", "nb", 1.5, _cities("Europe/Oslo",
          "Oslo  0557; Bergen  5003; Trondheim  7011"),
          ("Storgata", "Kirkegata", "Strandgata", "Thorvald Meyers gate")),
    _Home("US", "en_US", "us", 4.0, (
          *_cities("America/New_York",
                   "Brooklyn  11215 | NY; Boston  02116 | MA; Philadelphia  19103 | PA"),
          *_cities("America/Chicago", "Chicago  60614 | IL; Austin  78704 | TX"),
          *_cities("America/Denver", "Denver  80206 | CO"),
          *_cities("America/Los_Angeles",
                   "San Francisco  94110 | CA; Portland  97214 | OR; Seattle  98103 | WA")),
          ("Maple Street", "Oak Avenue", "Park Avenue", "Elm Street", "Cedar Lane"),
          "{n} {street}"),
    # Customers who write in their own language: 10 %.
    _Home("CN", "zh-CN", "zh", 2.0, _cities("Asia/Shanghai",
          "Shanghai  200040 | Shanghai; Beijing  100020 | Beijing;"
          "Shenzhen  518048 | Guangdong; Hangzhou  310006 | Zhejiang"),
          ("Huaihai Middle Road", "Jianguo Road", "Zhongshan Road", "Nanjing West Road"),
          "{n} {street}"),
    _Home("TW", "zh-CN", "zh", 1.0, _cities("Asia/Taipei",
          "Taipei  106; Taichung  403; Kaohsiung  800"),
          ("Zhongxiao East Road", "Minsheng Road", "Heping East Road"),
          "No. {n}, {street}"),
    _Home("SG", "zh-CN", "zh", 1.0, _cities("Asia/Singapore",
          "Singapore  238839; Singapore  088539; Singapore  259366"),
          ("Orchard Road", "Tanjong Pagar Road", "Bukit Timah Road"),
          "{n} {street}"),
    _Home("DE", "ru", "ru", 2.0, _DE_CITIES, _DE_STREETS),
    _Home("LV", "ru", "ru", 1.0, _cities("Europe/Riga",
          "Rīga  LV-1010; Jūrmala  LV-2015; Daugavpils  LV-5401"),
          ("Brīvības iela", "Elizabetes iela", "Tērbatas iela")),
    _Home("IL", "ru", "ru", 0.5, _cities("Asia/Jerusalem",
          "Tel Aviv-Yafo  6423901; Haifa  3303101; Ashdod  7724101"),
          ("Dizengoff St", "Herzl St", "Ben Yehuda St")),
    _Home("TH", "th", "th", 2.5, _cities("Asia/Bangkok",
          "Bangkok  10110 | Bangkok; Chiang Mai  50200 | Chiang Mai; Phuket  83000 | Phuket;"
          "Khon Kaen  40000 | Khon Kaen"),
          ("Sukhumvit Road", "Silom Road", "Nimmanhaemin Road", "Rat Uthit Road"),
          "{n} {street}"),
)
# fmt: on
"""The customer mix, in percent of customers; ``tests/test_sample_history.py`` checks the
orders come out in these shares."""

# Names as (native, Latin) where the script differs: the Latin form goes on the shipping
# label and into the email address. Russian surnames take the feminine "-a".
_LATIN_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Anna", "Lena", "Marie", "Sophie", "Laura", "Julia", "Katharina", "Hannah", "Lea"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
    ),
    "at": (
        ("Anna", "Lena", "Sarah", "Lukas", "Tobias", "Florian", "Katharina", "Elias"),
        ("Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser", "Hofer"),
    ),
    "ch": (
        ("Lara", "Mia", "Noah", "Luca", "Nina", "Reto", "Andrea", "Jana", "Urs"),
        ("Meier", "Schmid", "Keller", "Huber", "Steiner", "Gerber", "Brunner", "Baumann"),
    ),
    "fr": (
        ("Camille", "Léa", "Chloé", "Manon", "Inès", "Louise", "Hugo", "Lucas", "Théo"),
        ("Martin", "Bernard", "Dubois", "Durand", "Leroy", "Moreau", "Lefèvre", "Girard"),
    ),
    "nl": (
        ("Emma", "Sanne", "Lotte", "Fleur", "Anouk", "Daan", "Thijs", "Bram", "Noor"),
        ("de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Mulder"),
    ),
    "it": (
        ("Giulia", "Francesca", "Chiara", "Sara", "Alessandro", "Lorenzo", "Matteo", "Elena"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    ),
    "es": (
        ("Lucía", "María", "Paula", "Carmen", "Sofía", "Alejandro", "Pablo", "Javier"),
        ("García", "Fernández", "González", "López", "Martínez", "Sánchez", "Pérez", "Ruiz"),
    ),
    "pl": (
        ("Zofia", "Maja", "Zuzanna", "Aleksandra", "Jakub", "Piotr", "Tomasz", "Agnieszka"),
        ("Nowak", "Wójcik", "Kaczmarek", "Mazur", "Krawczyk", "Zając", "Król", "Dudek"),
    ),
    "sv": (
        ("Elsa", "Alice", "Astrid", "Ebba", "Oscar", "Erik", "Karin", "Nils"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Lindqvist"),
    ),
    "da": (
        ("Freja", "Ida", "Clara", "Sofie", "Mikkel", "Rasmus", "Frederik", "Søren", "Mette"),
        ("Jensen", "Nielsen", "Hansen", "Pedersen", "Christensen", "Sørensen", "Rasmussen"),
    ),
    "nb": (
        ("Nora", "Ingrid", "Sara", "Jakob", "Emil", "Henrik", "Olav", "Kari", "Sindre"),
        ("Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Bakken", "Lie", "Dahl"),
    ),
    "gb": (
        ("Oliver", "George", "Harry", "Charlotte", "Amelia", "Isla", "Emily", "Thomas"),
        ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Davies", "Roberts", "Wright"),
    ),
    "us": (
        ("Madison", "Olivia", "Ava", "Abigail", "Ethan", "Michael", "Noah", "Tyler", "Ryan"),
        ("Johnson", "Miller", "Davis", "Garcia", "Anderson", "Moore", "Jackson", "White"),
    ),
}
_NATIVE_NAMES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "zh": (
        (
            *(("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing")),
            *(("磊", "Lei"), ("婷", "Ting"), ("晓明", "Xiaoming"), ("子涵", "Zihan")),
            *(("雨桐", "Yutong"), ("志豪", "Zhihao"), ("嘉怡", "Jiayi"), ("俊杰", "Junjie")),
        ),
        (
            *(("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen")),
            *(("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou")),
            *(("林", "Lin"), ("郭", "Guo")),
        ),
    ),
    "th": (
        (
            *(("สมชาย", "Somchai"), ("สมศรี", "Somsri"), ("ณัฐพล", "Nattaphon")),
            *(("ปิยะ", "Piya"), ("กมล", "Kamon"), ("อารีย์", "Aree"), ("วิภา", "Wipha")),
            *(("ธนา", "Thana"), ("ศิริพร", "Siriporn"), ("พิมพ์ชนก", "Pimchanok")),
        ),
        (
            *(("ศรีสุข", "Srisuk"), ("วงศ์ไทย", "Wongthai"), ("แสงทอง", "Saengthong")),
            *(("บุญมา", "Boonma"), ("สุขสวัสดิ์", "Suksawat"), ("ทองดี", "Thongdee")),
            *(("รัตนพันธ์", "Rattanaphan"),),
        ),
    ),
}
_RUSSIAN_FIRST = (
    *(("Анна", "Anna", "f"), ("Мария", "Maria", "f"), ("Елена", "Elena", "f")),
    *(("Ольга", "Olga", "f"), ("Наталья", "Natalya", "f"), ("Екатерина", "Ekaterina", "f")),
    *(("Ирина", "Irina", "f"), ("Дмитрий", "Dmitry", "m"), ("Алексей", "Alexey", "m")),
    *(("Сергей", "Sergey", "m"), ("Андрей", "Andrey", "m"), ("Михаил", "Mikhail", "m")),
    *(("Павел", "Pavel", "m"),),
)
_RUSSIAN_LAST = (
    *(("Иванов", "Ivanov"), ("Смирнов", "Smirnov"), ("Кузнецов", "Kuznetsov")),
    *(("Попов", "Popov"), ("Соколов", "Sokolov"), ("Лебедев", "Lebedev"), ("Козлов", "Kozlov")),
    *(("Новиков", "Novikov"), ("Морозов", "Morozov"), ("Волков", "Volkov"), ("Орлов", "Orlov")),
)

# Reserved domains (RFC 2606): demo mail can never reach a real inbox.
_DOMAINS = ("example.com", "example.com", "example.net", "example.org")
# Letters NFKD does not take apart into a base letter and an accent.
_ASCII = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ł": "l", "Ł": "l"})


@dataclass(frozen=True)
class _Person:
    first_name: str
    last_name: str
    latin_first: str
    latin_last: str


def _person(culture: str, rng: random.Random) -> _Person:
    if culture == "ru":
        first, latin_first, gender = rng.choice(_RUSSIAN_FIRST)
        last, latin_last = rng.choice(_RUSSIAN_LAST)
        if gender == "f":
            last, latin_last = last + "а", latin_last + "a"
        return _Person(first, last, latin_first, latin_last)
    if culture in _NATIVE_NAMES:
        firsts, lasts = _NATIVE_NAMES[culture]
        (first, latin_first), (last, latin_last) = rng.choice(firsts), rng.choice(lasts)
        return _Person(first, last, latin_first, latin_last)
    firsts_latin, lasts_latin = _LATIN_NAMES[culture]
    first, last = rng.choice(firsts_latin), rng.choice(lasts_latin)
    return _Person(first, last, first, last)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def _email(person: _Person, rng: random.Random, taken: set[str]) -> str:
    first, last = _ascii(person.latin_first), _ascii(person.latin_last)
    shapes = (f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}.{last[0]}")
    local = rng.choice(shapes)
    domain = rng.choice(_DOMAINS)
    address, n = f"{local}@{domain}", 1
    while address in taken:  # a second Anna Müller: anna.muller2@…
        n += 1
        address = f"{local}{n}@{domain}"
    taken.add(address)
    return address


@dataclass(frozen=True)
class _Buyer:
    customer: Customer
    address: Address


def _quotas(count: int) -> list[_Home]:
    """``count`` homes in the shares of ``HOMES`` (largest remainder), so a small history
    still has its 45 % Germans instead of whatever a few hundred draws happen to give."""
    total = sum(h.weight for h in HOMES)
    exact = [h.weight / total * count for h in HOMES]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(HOMES)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: count - sum(counts)]:
        counts[i] += 1
    return [home for home, n in zip(HOMES, counts, strict=True) for _ in range(n)]


def _buyers(count: int, rng: random.Random, taken: set[str]) -> list[_Buyer]:
    homes = _quotas(count)
    rng.shuffle(homes)
    buyers = []
    for n, home in enumerate(homes):
        person = _person(home.culture, rng)
        city = rng.choice(home.cities)
        customer = Customer(
            external_id=f"cust-{_FIRST_CUSTOMER_NUMBER + n}",
            email=_email(person, rng, taken),
            first_name=person.first_name,
            last_name=person.last_name,
            locale=home.locale,
            time_zone=city.time_zone,
        )
        address = Address(
            name=f"{person.latin_first} {person.latin_last}",
            line1=home.line1.format(street=rng.choice(home.streets), n=rng.randint(1, 140)),
            city=city.name,
            region=city.region,
            postal_code=city.postal_code,
            country_code=home.country,
        )
        buyers.append(_Buyer(customer, address))
    return buyers


# --- what they buy --------------------------------------------------------------------

_COLOURS = ("Natural", "Oat", "Sage", "Ink Blue", "Rust", "Charcoal", "Dusty Rose", "White")
_VARIANTS: dict[str, tuple[str, ...]] = {
    "FF-SHIRT": tuple(
        f"{c} / {s}" for c in _COLOURS[:4] + ("White",) for s in ("S", "M", "L", "XL")
    ),
    "FF-TROUSERS": tuple(f"{c} / {s}" for c in ("Natural", "Charcoal") for s in range(34, 48, 2)),
    "FF-WRAPDRESS": tuple(f"{c} / {s}" for c in ("Ink Blue", "Rust", "Oat") for s in "SML"),
    "FF-APRON": ("Ink Blue", "Rust", "Oat", "Charcoal"),
    "FF-DUVET": tuple(
        f"{size} / {c}"
        for size in ("Single 135 × 200 cm", "Double 200 × 200 cm", "Queen")
        for c in ("Oat", "Dusty Rose", "Ink Blue", "White")
    ),
    "FF-PILLOW": tuple(
        f"{size} / {c}" for size in ("80 × 80 cm", "65 × 65 cm", "Standard") for c in _COLOURS[1:]
    ),
    "FF-TOWEL": ("Oat", "Charcoal", "White", "Sage"),
    "FF-TEATOWEL": ("Stripe / Rust", "Stripe / Sage", "Check / Oat"),
    "FF-NAPKINS": ("Oat", "Sage", "White", "Rust"),
    "FF-TABLECLOTH": ("150 × 250 cm / Sage", "150 × 250 cm / Oat", "150 × 150 cm / White"),
    "FF-ROBE": tuple(f"{c} / {s}" for c in ("Oat", "Charcoal") for s in "SML"),
    "FF-TOTE": ("Natural", "Charcoal"),
}
_POPULARITY = {
    "FF-SHIRT": 10,
    "FF-TROUSERS": 8,
    "FF-WRAPDRESS": 5,
    "FF-APRON": 6,
    "FF-DUVET": 7,
    "FF-PILLOW": 8,
    "FF-TOWEL": 7,
    "FF-TEATOWEL": 9,
    "FF-NAPKINS": 7,
    "FF-TABLECLOTH": 4,
    "FF-ROBE": 5,
    "FF-TOTE": 8,
}
# What is bought together: the pairs "frequently bought together" should find again.
_PARTNER = {
    "FF-DUVET": "FF-PILLOW",
    "FF-PILLOW": "FF-DUVET",
    "FF-SHIRT": "FF-TROUSERS",
    "FF-TROUSERS": "FF-SHIRT",
    "FF-APRON": "FF-TEATOWEL",
    "FF-TEATOWEL": "FF-APRON",
    "FF-NAPKINS": "FF-TABLECLOTH",
    "FF-TABLECLOTH": "FF-NAPKINS",
    "FF-TOWEL": "FF-ROBE",
    "FF-ROBE": "FF-TOWEL",
    "FF-WRAPDRESS": "FF-TOTE",
    "FF-TOTE": "FF-SHIRT",
}
_SETS = {"FF-PILLOW", "FF-NAPKINS", "FF-TEATOWEL", "FF-TOWEL"}  # bought two or three at a time

# A gift card is sold, not shipped: the store's gift card system emails the code.
_GIFT_CARD_SKU = "FF-GIFTCARD"
_GIFT_CARD_VALUES = (Decimal("25.00"), Decimal("50.00"), Decimal("100.00"))

_DISCOUNT_CODES = (("NEWSLETTER10", 10), ("LINEN20", 20), ("FRIENDS15", 15), ("SUMMER15", 15))
_WELCOME_CODE = ("WELCOME10", 10)  # the welcome email's code: first orders only

# --- what it costs --------------------------------------------------------------------

# Destination VAT, charged inside the price (EU one-stop shop; UK VAT on consignments up to
# £135). Other exports leave VAT-free and the customer pays import VAT on delivery.
_VAT = {
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "AT": Decimal("0.20"),
    "IT": Decimal("0.22"),
    "ES": Decimal("0.21"),
    "BE": Decimal("0.21"),
    "PL": Decimal("0.23"),
    "SE": Decimal("0.25"),
    "DK": Decimal("0.25"),
    "LV": Decimal("0.21"),
    "GB": Decimal("0.20"),
}
_DUTIES_AT_CHECKOUT = {"US": Decimal("0.15")}  # collected by the store, paid on import
_EU = frozenset({"DE", "FR", "NL", "AT", "IT", "ES", "BE", "PL", "SE", "DK", "LV"})


def _shipping_fee(country: str, goods: Decimal) -> Decimal:
    if country == "DE":
        return Decimal("0.00") if goods >= 100 else Decimal("4.90")
    if country in _EU:
        return Decimal("0.00") if goods >= 150 else Decimal("9.90")
    if country in ("GB", "CH", "NO"):
        return Decimal("14.90")
    if country == "US":
        return Decimal("24.00")
    return Decimal("29.00")


def _transit_days(country: str) -> tuple[int, int]:
    if country == "DE":
        return (1, 2)
    if country in _EU:
        return (2, 4)
    if country in ("GB", "CH", "NO"):
        return (3, 5)
    if country == "US":
        return (4, 7)
    return (5, 9)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _costs(
    lines: Sequence[LineItem], country: str, discount: tuple[str, int] | None
) -> tuple[Costs, Decimal]:
    """The order's costs and the share of the price a discount took off (0 without one)."""
    subtotal = sum((line.line_total for line in lines), Decimal(0))
    goods = sum((line.line_total for line in lines if line.requires_shipping), Decimal(0))
    # Gift cards are money, not goods: no discount on them.
    cut = Decimal(discount[1]) / 100 if discount else Decimal(0)
    discounts = _cents(goods * cut)
    shipping = _shipping_fee(country, goods - discounts) if goods else Decimal("0.00")
    total = subtotal - discounts + shipping
    rate = _VAT.get(country)
    duties_rate = _DUTIES_AT_CHECKOUT.get(country)
    duties = _cents((goods - discounts) * duties_rate) if duties_rate and goods else Decimal("0.00")
    taxes = _cents(total * rate / (1 + rate)) if rate else Decimal("0.00")
    costs = Costs(
        subtotal=subtotal,
        discounts=discounts,
        shipping=shipping,
        taxes=taxes,
        duties=duties,
        total=total + duties,
        taxes_included=rate is not None,
        duties_included=False,
        tax_lines=(TaxLine(title=f"VAT ({country})", rate=rate, amount=taxes),) if rate else (),
        discount_codes=(discount[0],) if discount else (),
    )
    return costs, cut


# --- how they pay ---------------------------------------------------------------------

_PAYMENTS = (
    (PaymentMethod.CARD, 55.0),
    (PaymentMethod.PAYPAL, 25.0),
    (PaymentMethod.BANK_TRANSFER, 10.0),
    (PaymentMethod.INVOICE, 2.0),
    (PaymentMethod.GIFT_CARD, 1.0),
    (PaymentMethod.OTHER, 2.0),
)
# Cash on delivery is 5 % of all orders but offered in Germany only (47 % of orders).
_COD_IN_GERMANY = 0.05 / 0.47
_PAID_LATER = {PaymentMethod.BANK_TRANSFER, PaymentMethod.COD, PaymentMethod.INVOICE}


def _payment(rng: random.Random, country: str, digital_only: bool) -> PaymentMethod:
    if country == "DE" and not digital_only and rng.random() < _COD_IN_GERMANY:
        return PaymentMethod.COD
    methods, weights = zip(*_PAYMENTS, strict=True)
    return rng.choices(methods, weights)[0]


def _refund_method(rng: random.Random, paid_by: PaymentMethod) -> RefundMethod:
    if rng.random() < 0.25:
        return RefundMethod.STORE_CREDIT
    if paid_by in _PAID_LATER:  # cash and transfers go back by transfer
        return RefundMethod.BANK_TRANSFER
    if paid_by is PaymentMethod.GIFT_CARD:
        return RefundMethod.GIFT_CARD
    return RefundMethod.ORIGINAL_PAYMENT


# --- the orders -----------------------------------------------------------------------

_DHL_WAYBILL_BASE = 462_000_000


def _dhl_waybill(sequence: int) -> str:
    """A DHL Express waybill: nine digits and their remainder mod 7, the check digit
    ``enrichment/tracking/carriers.py`` verifies, so the demo's parcels get a carrier link."""
    payload = _DHL_WAYBILL_BASE + sequence
    return f"{payload}{payload % 7}"


def _at(day: date, hour: int, minute: int, zone: str) -> datetime:
    local = datetime.combine(day, time(hour, minute), ZoneInfo(zone))
    return local.astimezone(SAMPLE_STORE_TIME_ZONE)


def _store_day(moment: datetime) -> date:
    return moment.astimezone(SAMPLE_STORE_TIME_ZONE).date()


@dataclass(frozen=True)
class _Slot:
    number: int
    placed_at: datetime
    buyer: _Buyer
    first_order: bool


def _line_items(rng: random.Random, number: int, products: Sequence[Product]) -> list[LineItem]:
    """The order's lines: one to four products, sometimes with a gift card (or only one)."""
    by_sku = {p.sku: p for p in products if p.sku in _POPULARITY}
    skus = list(by_sku)
    count = rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0]
    chosen = [rng.choices(skus, [_POPULARITY[s] for s in skus])[0]]
    while len(chosen) < count:
        partner = _PARTNER[chosen[-1]]
        pick = partner if rng.random() < 0.5 else rng.choice(skus)
        if pick not in chosen:
            chosen.append(pick)
    lines = []
    for sku in chosen:
        product = by_sku[sku]
        quantity = rng.choices((1, 2, 3), (70, 25, 5) if sku in _SETS else (92, 8, 0))[0]
        lines.append(
            LineItem(
                line_id=f"ln-{number}-{len(lines) + 1}",
                product_id=product.product_id,
                sku=product.sku,
                title=product.title,
                variant_title=rng.choice(_VARIANTS[sku]),
                quantity=quantity,
                unit_price=product.price,
                image_url=product.image_url,
            )
        )
    if rng.random() < 0.03:
        value = rng.choice(_GIFT_CARD_VALUES)
        card = LineItem(
            line_id=f"ln-{number}-{len(lines) + 1}",
            sku=_GIFT_CARD_SKU,
            title="Fern & Field gift card",
            variant_title=f"€{value:.0f}",
            quantity=1,
            unit_price=value,
            requires_shipping=False,
        )
        lines = [card] if rng.random() < 0.4 else [*lines, card]
    return lines


def _backorder(
    rng: random.Random, number: int, lines: list[LineItem], products: Sequence[Product]
) -> list[LineItem]:
    """On 5 % of orders, one item is out of stock and ordered anyway (it ships later)."""
    if not any(line.requires_shipping for line in lines) or rng.random() >= 0.05:
        return lines
    out_of_stock = [p for p in products if p.stock == 0 and p.sku in _VARIANTS]
    ours = [n for n, line in enumerate(lines) if line.sku in {p.sku for p in out_of_stock}]
    if ours:
        index = rng.choice(ours)
        return [
            line.model_copy(update={"backordered": True}) if n == index else line
            for n, line in enumerate(lines)
        ]
    product = rng.choice(out_of_stock)
    extra = LineItem(
        line_id=f"ln-{number}-{len(lines) + 1}",
        product_id=product.product_id,
        sku=product.sku,
        title=product.title,
        variant_title=rng.choice(_VARIANTS[product.sku]),
        quantity=1,
        unit_price=product.price,
        image_url=product.image_url,
        backordered=True,
    )
    return [*lines, extra]


def _parcel(
    number: int, k: int, day: date, lines: Sequence[LineItem], rng: random.Random
) -> Fulfilment:
    created_at = _at(day, rng.randint(14, 17), rng.randrange(0, 60, 5), SAMPLE_STORE_TIME_ZONE.key)
    return Fulfilment(
        external_id=f"ful-{number}-{k}",
        created_at=created_at,
        carrier="DHL",
        tracking_numbers=(_dhl_waybill(number * 2 + k),),
        items=tuple(ShipmentItem(line_id=line.line_id, quantity=line.quantity) for line in lines),
    )


def _with_status(
    parcel: Fulfilment, country: str, zone: str, rng: random.Random, anchor: datetime
) -> Fulfilment:
    """The carrier's last word: delivered once its transit days are over, else in transit."""
    low, high = _transit_days(country)
    day = add_business_days(_store_day(parcel.created_at), rng.randint(low, high), country)
    delivered_at = _at(day, rng.randint(9, 17), rng.randrange(0, 60), zone)
    if delivered_at < anchor:
        return parcel.model_copy(
            update={"status": ShipmentStatus.DELIVERED.value, "status_at": delivered_at}
        )
    picked_up = parcel.created_at + timedelta(hours=3)
    if picked_up < anchor:
        return parcel.model_copy(
            update={"status": ShipmentStatus.IN_TRANSIT.value, "status_at": picked_up}
        )
    return parcel


def _parcels(
    rng: random.Random,
    slot: _Slot,
    lines: Sequence[LineItem],
    payment: PaymentMethod,
    anchor: datetime,
) -> list[Fulfilment]:
    """The order's parcels that have left by ``anchor``.

    Nothing leaves in the first two days (orders are packed by hand); a bank transfer waits
    for the money; a back-ordered item ships when it is back, on its own; a tenth of the
    orders go in two parcels (partial first).
    """
    shippable = [line for line in lines if line.requires_shipping]
    if not shippable or slot.placed_at > anchor - timedelta(days=2):
        return []
    if payment is PaymentMethod.BANK_TRANSFER:
        waiting = rng.randint(2, 5)
    else:
        waiting = rng.choices((1, 2, 3), (50, 35, 15))[0]
    first_day = add_business_days(_store_day(slot.placed_at), waiting, _STORE_COUNTRY)
    in_stock = [line for line in shippable if not line.backordered]
    later = [line for line in shippable if line.backordered]
    plan: list[tuple[date, list[LineItem]]] = []
    if later:
        back_in_stock = add_business_days(first_day, rng.randint(6, 14), _STORE_COUNTRY)
        plan = (
            [(first_day, in_stock), (back_in_stock, later)]
            if in_stock
            else [(back_in_stock, later)]
        )
    elif len(in_stock) >= 2 and rng.random() < 0.12:
        shuffled = rng.sample(in_stock, len(in_stock))
        cut = rng.randint(1, len(shuffled) - 1)
        second_day = add_business_days(first_day, rng.randint(2, 6), _STORE_COUNTRY)
        first = sorted(shuffled[:cut], key=shippable.index)
        second = sorted(shuffled[cut:], key=shippable.index)
        plan = [(first_day, first), (second_day, second)]
    else:
        plan = [(first_day, in_stock)]
    country, zone = slot.buyer.address.country_code, str(slot.buyer.customer.time_zone)
    parcels = []
    for k, (day, parcel_lines) in enumerate(plan, start=1):
        parcel = _parcel(slot.number, k, day, parcel_lines, rng)
        if parcel.created_at >= anchor:
            break
        parcels.append(_with_status(parcel, country, zone, rng, anchor))
    return parcels


_RETURN_REASONS = (
    "Returned: too small",
    "Returned: too big",
    "Returned: colour not as expected",
    "Returned: changed my mind",
    "Damaged in transit",
)


def _return_refund(
    rng: random.Random,
    number: int,
    order: Order,
    parcels: Sequence[Fulfilment],
    paid_by: PaymentMethod,
    cut: Decimal,
    anchor: datetime,
) -> Refund | None:
    """A refund for a return (or damage) on 9 % of the orders that arrived whole."""
    shippable = [line for line in order.line_items if line.requires_shipping]
    shipped = sum(item.quantity for parcel in parcels for item in parcel.items)
    if not parcels or shipped < sum(line.quantity for line in shippable) or rng.random() >= 0.09:
        return None
    created_at = parcels[-1].created_at + timedelta(
        days=rng.randint(6, 25), hours=rng.randint(0, 6)
    )
    if created_at >= anchor:
        return None
    method = _refund_method(rng, paid_by)
    units = sum(line.quantity for line in shippable)
    if units > 1 and rng.random() < 0.6:
        line = rng.choice(shippable)
        quantity = line.quantity if rng.random() < 0.3 else 1
        amount = _cents(line.unit_price * quantity * (1 - cut))
        items = (RefundItem(line_id=line.line_id, quantity=quantity, amount=amount),)
    else:
        amount = order.costs.total
        items = tuple(
            RefundItem(
                line_id=line.line_id,
                quantity=line.quantity,
                amount=_cents(line.line_total * (1 - cut)),
            )
            for line in shippable
        )
    return Refund(
        external_id=f"ref-{number}-1",
        created_at=created_at,
        amount=amount,
        currency=order.currency,
        method=method,
        items=items,
        reason=rng.choice(_RETURN_REASONS),
    )


def _order_state(
    slot: _Slot, products: Sequence[Product], seed: int, anchor: datetime
) -> OrderState:
    rng = random.Random(f"{seed}/{slot.number}")
    number = slot.number
    buyer = slot.buyer
    lines = _line_items(rng, number, products)
    lines = _backorder(rng, number, lines, products)
    digital_only = not any(line.requires_shipping for line in lines)
    country = buyer.address.country_code
    payment = _payment(rng, country, digital_only)
    discount: tuple[str, int] | None = None
    if not digital_only and rng.random() < 0.15:
        discount = (
            _WELCOME_CODE
            if slot.first_order and rng.random() < 0.5
            else rng.choice(_DISCOUNT_CODES)
        )
    costs, cut = _costs(lines, country, discount)
    order = Order(
        external_id=f"ord-{number}",
        number=f"FF-{number}",
        placed_at=slot.placed_at,
        currency="EUR",
        line_items=tuple(lines),
        costs=costs,
        shipping_address=None if digital_only else buyer.address,
        billing_address=buyer.address,
        status_url=f"https://fernandfield.example/account/orders/FF-{number}",
        payment_due_later=payment in _PAID_LATER,
        payment_method=payment,
    )
    cancel = rng.random() < 0.02
    parcels = _parcels(rng, slot, lines, payment, anchor)
    refunds: list[Refund] = []
    if cancel:
        # An unpaid transfer is cancelled after a week; anyone else changed their mind.
        unpaid = payment is PaymentMethod.BANK_TRANSFER
        delay = timedelta(days=7, hours=9) if unpaid else timedelta(hours=rng.randint(1, 30))
        cancelled_at = slot.placed_at + delay
        # (Unpaid, it never shipped; paid, it is cancelled only if it has not left yet.)
        if cancelled_at < anchor and (
            unpaid or not parcels or cancelled_at < parcels[0].created_at
        ):
            parcels = []
            order = order.model_copy(update={"cancelled_at": cancelled_at})
            refunded_at = cancelled_at + timedelta(minutes=rng.randint(10, 90))
            if not order.payment_due_later and refunded_at < anchor:
                refunds.append(
                    Refund(
                        external_id=f"ref-{number}-1",
                        created_at=refunded_at,
                        amount=costs.total,
                        currency="EUR",
                        method=RefundMethod.GIFT_CARD
                        if payment is PaymentMethod.GIFT_CARD
                        else RefundMethod.ORIGINAL_PAYMENT,
                        reason="Cancelled by the customer before shipping",
                    )
                )
    if order.cancelled_at is None:
        returned = _return_refund(rng, number, order, parcels, payment, cut, anchor)
        if returned is not None:
            refunds.append(returned)
    moments = [
        order.placed_at,
        *(p.created_at for p in parcels),
        *(p.status_at for p in parcels if p.status_at is not None),
        *(r.created_at for r in refunds),
    ]
    if order.cancelled_at is not None:
        moments.append(order.cancelled_at)
    return OrderState(
        source=SOURCE,
        order=order,
        customer=buyer.customer,
        fulfilments=tuple(parcels),
        refunds=tuple(refunds),
        updated_at=max(moments),
    )


_HOUR_WEIGHTS = (1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 8, 9, 9, 7, 3)


def _slots(
    orders: int, buyers: Sequence[_Buyer], rng: random.Random, anchor: datetime
) -> list[_Slot]:
    """When each order was placed and by whom, oldest first.

    Every customer orders once; the remaining orders go to customers again in proportion
    to a loyalty drawn once per customer (a few regulars order four or five times).
    """
    loyalty = [rng.paretovariate(1.6) for _ in buyers]
    owners = list(range(len(buyers)))[:orders]
    owners += rng.choices(range(len(buyers)), loyalty, k=max(0, orders - len(buyers)))
    rng.shuffle(owners)
    today = _store_day(anchor)
    moments = []
    for _ in range(orders):
        day = today - timedelta(days=rng.randrange(HISTORY_DAYS))
        hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
        placed = _at(day, hour, rng.randrange(60), SAMPLE_STORE_TIME_ZONE.key)
        if placed >= anchor:
            placed -= timedelta(days=1)
        moments.append(placed)
    moments.sort()
    seen: set[int] = set()
    slots = []
    for n, (placed, owner) in enumerate(zip(moments, owners, strict=True)):
        slots.append(_Slot(FIRST_ORDER_NUMBER + n, placed, buyers[owner], owner not in seen))
        seen.add(owner)
    return slots


def demo_history(
    now: datetime, orders: int = DEFAULT_ORDERS, seed: int = 7
) -> tuple[OrderState, ...]:
    """Fern & Field's orders of the ``HISTORY_DAYS`` days before ``now``, oldest first.

    ``now`` must be timezone-aware (see ``load_sample_store``); every state is built from
    the pipeline's own validated models, so it saves and loads like a real store's.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("demo_history needs a timezone-aware now, e.g. datetime.now(UTC)")
    if orders < 0:
        raise ValueError("orders must not be negative")
    anchor = now.astimezone(UTC).replace(second=0, microsecond=0)
    sample = load_sample_store(anchor)
    taken = {str(c.email).lower() for c in sample.customers}
    rng = random.Random(seed)
    buyers = _buyers(max(1, round(orders * _CUSTOMERS_PER_ORDER)), rng, taken)
    slots = _slots(orders, buyers, rng, anchor)
    return tuple(_order_state(slot, sample.products, seed, anchor) for slot in slots)


def history_order_ids(orders: int = DEFAULT_ORDERS) -> tuple[str, ...]:
    """The ``external_id`` of each order ``demo_history`` makes, whatever ``now`` and seed:
    what to look the stored history up by."""
    return tuple(f"ord-{FIRST_ORDER_NUMBER + n}" for n in range(orders))
