"""Which parcels pass customs: the cases a European store ships every day, and the odd ones."""

from __future__ import annotations

import pytest

from aftercare.enrichment.customs import crosses_customs
from aftercare.events import Address


def _to(country: str, postal_code: str | None = None) -> Address:
    return Address(
        line1="1 Main Street", city="Town", country_code=country, postal_code=postal_code
    )


@pytest.mark.parametrize(
    ("ships_from", "country", "postal_code", "customs"),
    [
        # Inside the EU customs union and VAT area: no customs between member states.
        ("DE", "FR", "75001", False),
        ("DE", "AT", "1010", False),
        ("NL", "IE", "D02 X285", False),
        ("DE", "MC", "98000", False),  # Monaco is in France's customs and VAT territory
        ("DE", "ES", "28001", False),  # Madrid
        # Out of it: customs.
        ("DE", "CH", "8001", True),
        ("DE", "NO", "0150", True),
        ("DE", "GB", "SW1A 1AA", True),
        ("FR", "US", "10001", True),
        ("US", "DE", "10115", True),
        # Spanish, French and Finnish regions outside the VAT area or customs territory,
        # from abroad and from their own country's mainland.
        ("DE", "ES", "35001", True),  # Las Palmas de Gran Canaria
        ("ES", "ES", "38001", True),  # Santa Cruz de Tenerife
        ("ES", "ES", "51001", True),  # Ceuta
        ("ES", "ES", "52001", True),  # Melilla
        ("FR", "FR", "97100", True),  # Guadeloupe written as France
        ("FR", "FR", "97400", True),  # Réunion
        ("FR", "FR", "98800", True),  # New Caledonia
        ("FR", "FR", "13001", False),  # Marseille
        ("FI", "FI", "22100", True),  # Mariehamn, Åland
        ("FI", "FI", "AX-22100", True),
        ("FI", "FI", "00100", False),  # Helsinki
        ("DE", "DE", "27498", True),  # Heligoland
        ("DE", "DE", "10115", False),
        # Regions inside another country's customs territory.
        ("CH", "DE", "78266", False),  # Büsingen, in the Swiss customs territory
        ("DE", "DE", "78266", True),
        # Campione d'Italia: EU customs since 2020, still outside the VAT area.
        ("CH", "IT", "22061", True),
        ("IT", "IT", "22061", True),
        ("DE", "GR", "63086", True),  # Mount Athos
        ("DE", "GR", "10431", False),  # Athens
        ("IE", "GB", "BT1 1AA", False),  # Belfast: EU rules for goods
        ("IE", "GB", "bt7 1nn", False),
        ("GB", "GB", "BT1 1AA", False),
        ("IE", "GB", "M1 1AE", True),  # Manchester
        # The other unions.
        ("CH", "LI", "9490", False),
        ("LI", "CH", "8001", False),
        ("GB", "IM", "IM1 1AA", False),
        ("GB", "JE", "JE2 3AB", True),
        ("US", "PR", "00901", False),
        ("US", "GU", "96910", True),
        ("US", "CA", "M5V 2T6", True),
        # Domestic, with and without a postal code; lower-case codes.
        ("US", "US", None, False),
        ("de", "FR", None, False),
        ("ES", "ES", None, False),  # no postal code: taken as the mainland
    ],
)
def test_a_parcel_passes_customs_only_across_a_customs_border(
    ships_from: str, country: str, postal_code: str | None, customs: bool
) -> None:
    assert crosses_customs(ships_from, _to(country, postal_code)) is customs


def test_nothing_to_ship_passes_no_customs() -> None:
    assert crosses_customs("DE", None) is False
