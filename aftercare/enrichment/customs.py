"""Whether a parcel passes customs on its way: the order confirmation's duties notice.

Another country is not the same as a customs border. A parcel from Germany to France stays
inside the EU customs union and its VAT area, and telling that customer "customs may
charge import duties when it arrives" is wrong, and makes them hesitate over an order they
already paid. The reverse happens too: a parcel from mainland Spain to the Canary Islands
never leaves Spain, but it does pass customs and pays the islands' own import tax.

The territories below are the ones where a consumer parcel moves between countries without
customs clearance or import charges, as the unions themselves define them; a region that
belongs to a member country but lies outside its customs or VAT territory is listed by its
postal codes, the only part of a shipping address that says where such a parcel goes.
"""

from __future__ import annotations

from collections.abc import Mapping

from aftercare.events import Address

# The EU customs union and VAT area (Regulation (EU) No 952/2013, art. 4; Directive
# 2006/112/EC, art. 5-7): the 27 member states, and Monaco, which is part of France's
# customs and VAT territory.
_EU = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MC", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)

# Each set is one territory: parcels between its countries pass no customs.
CUSTOMS_TERRITORIES: tuple[frozenset[str], ...] = (
    _EU,
    # Switzerland and Liechtenstein: one customs territory since the 1923 customs treaty.
    frozenset({"CH", "LI"}),
    # The United Kingdom and the Isle of Man: one customs and VAT territory (Jersey and
    # Guernsey are outside both: imports pay Jersey's GST and the islands' customs).
    frozenset({"GB", "IM"}),
    # The United States and Puerto Rico, which is inside the US customs territory (Guam and
    # the US Virgin Islands are not, and have their own ISO codes).
    frozenset({"US", "PR"}),
)

# Regions of a member country outside its customs or VAT territory, by postal-code prefix.
# A parcel to them from anywhere, the same country included, passes customs.
OUTSIDE_BY_POSTAL_CODE: Mapping[str, tuple[str, ...]] = {
    # Canary Islands (35, 38: outside the EU VAT area, IGIC on imports), Ceuta (51) and
    # Melilla (52: outside the EU customs territory).
    "ES": ("35", "38", "51", "52"),
    # French overseas departments and collectivities, when a store writes them as France:
    # Guadeloupe 971 (with Saint-Barthélemy 97133 and Saint-Martin 97150), Martinique 972,
    # French Guiana 973, Réunion 974, Saint-Pierre-et-Miquelon 975, Mayotte 976, and in the
    # Pacific Wallis and Futuna 986, French Polynesia 987, New Caledonia 988.
    "FR": ("971", "972", "973", "974", "975", "976", "986", "987", "988"),
    # Åland (22100-22999): outside the EU VAT area.
    "FI": ("22",),
    # Heligoland (27498) and Büsingen am Hochrhein (78266, in the Swiss customs territory).
    "DE": ("27498", "78266"),
    # Livigno (23041, with Trepalle; outside the EU customs and VAT territory) and Campione
    # d'Italia (22061; inside the EU customs territory since 2020, Regulation (EU)
    # 2019/474, but still outside the VAT area, Directive (EU) 2019/475).
    "IT": ("23041", "22061"),
    # Mount Athos (63086, Karyes): outside the EU VAT area.
    "GR": ("63086",),
}


# Regions of a country that belong to another country's territory for goods, by postal-code
# prefix: a parcel to them from that territory passes no customs.
ALSO_INSIDE_BY_POSTAL_CODE: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    # Northern Ireland follows the EU's customs rules for goods (Windsor Framework): a
    # parcel from Ireland to Belfast passes no customs.
    ("GB", ("BT",), _EU),
    # Büsingen am Hochrhein is in the Swiss customs (and VAT) territory.
    ("DE", ("78266",), CUSTOMS_TERRITORIES[1]),
)


def crosses_customs(ships_from_country: str, destination: Address | None) -> bool:
    """Whether a parcel from the store's country to ``destination`` passes customs.

    No destination (digital goods, pickup): no parcel, no customs. The store is taken to
    ship from its country's main customs territory.
    """
    if destination is None:
        return False
    origin = ships_from_country.upper()
    country = destination.country_code.upper()
    postal_code = "".join((destination.postal_code or "").split()).upper()
    for region_country, prefixes, territory in ALSO_INSIDE_BY_POSTAL_CODE:
        if country == region_country and postal_code.startswith(prefixes) and origin in territory:
            return False
    if _outside_its_country(country, postal_code):
        return True
    if origin == country:
        return False
    return not any(origin in union and country in union for union in CUSTOMS_TERRITORIES)


def _outside_its_country(country: str, postal_code: str) -> bool:
    prefixes = OUTSIDE_BY_POSTAL_CODE.get(country)
    if not prefixes or not postal_code:
        return False
    if country == "FI" and postal_code.startswith("AX-"):  # Åland written as "AX-22100"
        return True
    return postal_code.startswith(prefixes)
