"""Carrier detection: every published test number, read by our own table.

The vectors in ``tests/fixtures/tracking_numbers`` come from tracking_number_data (MIT):
192 numbers that are valid for a named courier and format, 88 that are not. The expected
answer for each is in the fixture, never computed by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aftercare.enrichment.tracking.carriers import (
    FORMATS,
    GS1_MOD10,
    UPS_MOD10,
    CheckDigitResult,
    Luhn,
    courier_named,
    identify,
    normalize_tracking_number,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tracking_numbers"


def _vectors(kind: str) -> list[tuple[str, str, str]]:
    """(courier code, format name, number) for every ``kind`` test number in the fixtures."""
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        courier = json.loads(path.read_text(encoding="utf-8"))
        for fmt in courier["tracking_numbers"]:
            for number in fmt["test_numbers"][kind]:
                found.append((courier["courier_code"], fmt["name"], number))
    return found


VALID = _vectors("valid")
INVALID = _vectors("invalid")


def _reading(number: str, courier: str, format_name: str):
    return next(
        (
            m
            for m in identify(number)
            if m.format.courier.code == courier and m.format.name == format_name
        ),
        None,
    )


def test_the_fixtures_hold_every_published_test_number() -> None:
    assert (len(VALID), len(INVALID)) == (192, 88)


@pytest.mark.parametrize(("courier", "format_name", "number"), VALID)
def test_a_valid_number_is_read_as_its_courier_and_format(
    courier: str, format_name: str, number: str
) -> None:
    reading = _reading(number, courier, format_name)
    assert reading is not None, f"{number!r} not read as {courier} / {format_name}"
    expected = CheckDigitResult.NONE if reading.format.check_digit is None else "valid"
    assert reading.check_digit == expected


@pytest.mark.parametrize(("courier", "format_name", "number"), INVALID)
def test_an_invalid_number_is_rejected_or_marked_unverified(
    courier: str, format_name: str, number: str
) -> None:
    reading = _reading(number, courier, format_name)
    assert reading is None or reading.check_digit is CheckDigitResult.INVALID


def test_every_format_in_the_table_is_covered_by_a_test_number() -> None:
    published = {(courier, name) for courier, name, _ in VALID}
    ours = {(fmt.courier.code, fmt.name) for fmt in FORMATS}
    assert ours == published


@pytest.mark.parametrize(
    "number", [n for courier, _, n in VALID if courier == "s10"], ids=lambda n: n[-2:]
)
def test_an_s10_number_names_its_origin_country_in_its_suffix(number: str) -> None:
    (reading,) = [m for m in identify(number) if m.format.courier.code == "s10"]
    assert reading.origin_country == normalize_tracking_number(number)[-2:]


def test_an_s10_suffix_that_is_no_country_is_no_s10_number() -> None:
    assert not [m for m in identify("RB123456785XX") if m.format.courier.code == "s10"]
    # "ZZ" is in CLDR's territory list ("unknown region"), but no post issues it.
    assert not [m for m in identify("RB123456785ZZ") if m.format.courier.code == "s10"]


def test_an_s10_item_from_the_us_is_tracked_by_usps() -> None:
    (reading,) = identify("RB123456785US")
    assert reading.courier.code == "usps"
    assert reading.format_name == "UPU S10, registered letter"


# --- normalizing --------------------------------------------------------------------------

UPS_EXAMPLE = "1Z999AA10123456784"  # UPS's own documentation example


@pytest.mark.parametrize(
    "typed",
    [
        "1Z 999 AA1 01 2345 6784",
        "1z999aa10123456784",
        "\t1Z999AA1\u00a001234567 84\n",  # tab, no-break space, newline
        "1Z999AA1\u200b0123456784",  # a zero-width space from a copied PDF
        "\uff11\uff3a999AA10123456784",  # full-width "1Z" from an East Asian keyboard
    ],
)
def test_spacing_case_and_copy_paste_debris_do_not_change_the_reading(typed: str) -> None:
    assert normalize_tracking_number(typed) == UPS_EXAMPLE
    (reading,) = identify(typed)
    assert (reading.courier.code, reading.verified) == ("ups", True)


def test_a_mistyped_number_is_recognized_but_its_check_digit_fails() -> None:
    (reading,) = identify(UPS_EXAMPLE[:-1] + "5")
    assert reading.courier.code == "ups"
    assert reading.check_digit is CheckDigitResult.INVALID
    assert not reading.plausible


def test_verified_readings_come_before_shapes_without_a_check_digit() -> None:
    # "LX" starts both an S10 item and a DHL eCommerce number; only S10 has a check digit.
    readings = identify("LX123456785DE")
    assert [m.format.courier.code for m in readings] == ["s10", "dhl"]
    assert readings[0].verified and readings[1].check_digit is CheckDigitResult.NONE


def test_a_dhl_paket_number_is_not_mistaken_for_usps() -> None:
    # "00" + an 18-digit SSCC passes the GS1 check digit that USPS 20 also uses.
    assert identify("00340434161094042557") == ()


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "   ",
        "9" * 500,
        "javascript:alert(1)",
        "<script>alert(1)</script>",
        "1Z999AA1012345678<b>4</b>",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661",  # Arabic-Indic
        "RB123456785GB\u202e",  # right-to-left override
        "1Z999AA10123456784\x00",
    ],
)
def test_hostile_input_is_read_as_nothing_and_never_raises(hostile: str) -> None:
    assert identify(hostile) == ()


# --- check-digit schemes against published examples ---------------------------------------


def test_luhn_accepts_the_textbook_example_and_rejects_a_changed_digit() -> None:
    assert Luhn().is_valid("7992739871", "3")  # ISO/IEC 7812 worked example
    assert not Luhn().is_valid("7992739871", "4")


def test_gs1_mod10_accepts_a_published_gtin() -> None:
    assert GS1_MOD10.is_valid("400638133393", "1")  # GTIN-13 4006381333931
    assert not GS1_MOD10.is_valid("400638133393", "2")


def test_ups_mod10_maps_letters_onto_digits() -> None:
    assert UPS_MOD10.is_valid("999AA1012345678", "4")
    assert not UPS_MOD10.is_valid("999AB1012345678", "4")


# --- carrier names as stores write them ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("UPS", "ups"),
        ("FedEx Ground", "fedex"),
        ("DHL Express", "dhl"),
        ("dhl", "dhl"),
        ("USPS", "usps"),
        ("United States Postal Service", "usps"),
        ("Canada Post", "canada_post"),
        ("Amazon Logistics US", "amazon"),
        ("Groups Parcel Ltd", None),
        ("Royal Mail", None),
        ("", None),
        (None, None),
    ],
)
def test_a_store_carrier_name_maps_to_a_courier_on_whole_words(
    name: str | None, code: str | None
) -> None:
    courier = courier_named(name)
    assert (courier.code if courier else None) == code
