"""The tracking link a shipped email gives: store page, store link, carrier page, universal."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from aftercare.enrichment.tracking.links import (
    LinkSource,
    TrackingLinkSettings,
    choose_tracking_link,
    safe_https_url,
)

UPS_NUMBER = "1Z999AA10123456784"  # UPS's documentation example
UPS_PAGE = "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums=1Z999AA10123456784"
STORE_PAGE = "https://shop.example/apps/track?order={order}&number={number}"


def with_store_page(template: str = STORE_PAGE) -> TrackingLinkSettings:
    return TrackingLinkSettings(store_page_template=template)


# --- the order of preference --------------------------------------------------------------


def test_the_store_tracking_page_comes_first() -> None:
    link = choose_tracking_link(
        UPS_NUMBER,
        store_urls=(f"https://www.ups.com/track?tracknum={UPS_NUMBER}",),
        order_number="1001",
        settings=with_store_page(),
    )
    assert link is not None
    assert link.source is LinkSource.STORE_PAGE
    assert link.url == f"https://shop.example/apps/track?order=1001&number={UPS_NUMBER}"


def test_values_in_the_store_page_are_percent_encoded() -> None:
    link = choose_tracking_link(
        "RR 123/456 DE", order_number="10/01&x=1", settings=with_store_page()
    )
    assert link is not None
    query = parse_qs(urlsplit(link.url).query)
    assert query == {"order": ["10/01&x=1"], "number": ["RR123/456DE"]}


def test_a_store_page_by_order_number_alone_needs_no_tracking_number() -> None:
    link = choose_tracking_link(
        "<b>not a number</b>",
        order_number="1001",
        settings=with_store_page("https://shop.example/orders/{order}/tracking"),
    )
    assert link is not None
    assert (link.url, link.source) == (
        "https://shop.example/orders/1001/tracking",
        LinkSource.STORE_PAGE,
    )
    assert link.number is None


def test_a_store_page_that_needs_the_order_is_skipped_without_one() -> None:
    link = choose_tracking_link(UPS_NUMBER, settings=with_store_page())
    assert link is not None and link.source is LinkSource.CARRIER


def test_the_link_the_store_sent_comes_next() -> None:
    sent = f"https://www.ups.com/track?loc=en_US&tracknum={UPS_NUMBER}"
    link = choose_tracking_link(UPS_NUMBER, store_urls=(sent,))
    assert link is not None
    assert (link.url, link.source) == (sent, LinkSource.STORE_URL)


def test_the_store_link_may_space_or_encode_the_number_its_own_way() -> None:
    sent = "https://track.example/?n=1Z+999+AA1+01+2345+6784"
    link = choose_tracking_link("1Z 999 AA1 01 2345 6784", store_urls=(sent,))
    assert link is not None and link.source is LinkSource.STORE_URL


@pytest.mark.parametrize(
    "sent",
    [
        f"http://www.ups.com/track?tracknum={UPS_NUMBER}",  # not https
        "https://www.ups.com/track",  # the carrier's search form, not this parcel
        f"https://www.google.com/search?q={UPS_NUMBER}",  # a web search
        f"https://shop.example@evil.example/?n={UPS_NUMBER}",  # user info hides the host
        f"javascript:alert('{UPS_NUMBER}')",
        f'https://track.example/?n={UPS_NUMBER}"><script>alert(1)</script>',
        "/track/" + UPS_NUMBER,  # relative
    ],
)
def test_a_store_link_that_is_not_this_parcels_https_page_gives_way_to_the_carrier(
    sent: str,
) -> None:
    link = choose_tracking_link(UPS_NUMBER, store_urls=(sent,))
    assert link is not None
    assert (link.url, link.source) == (UPS_PAGE, LinkSource.CARRIER)


def test_without_a_number_any_safe_store_link_is_taken() -> None:
    link = choose_tracking_link(None, store_urls=("https://track.example/parcel/abc",))
    assert link is not None
    assert (link.url, link.source) == ("https://track.example/parcel/abc", LinkSource.STORE_URL)


def test_the_carrier_page_for_a_recognized_number() -> None:
    link = choose_tracking_link(UPS_NUMBER)
    assert link is not None
    assert (link.url, link.source) == (UPS_PAGE, LinkSource.CARRIER)
    assert link.reading is not None and link.reading.courier.name == "UPS"


def test_a_barcode_links_the_tracking_number_inside_it() -> None:
    # FedEx's 34-digit barcode carries the 12-digit Express number in its last 12 digits.
    barcode = "1001921334250001000300779017972697"
    link = choose_tracking_link(barcode)
    assert link is not None and link.source is LinkSource.CARRIER
    assert parse_qs(urlsplit(link.url).query) == {"tracknumbers": ["779017972697"]}


def test_a_usps_barcode_links_the_number_without_its_zip_routing_code() -> None:
    link = choose_tracking_link("420787459400111206206406260787")
    assert link is not None and link.source is LinkSource.CARRIER
    assert parse_qs(urlsplit(link.url).query) == {"tLabels": ["9400111206206406260787"]}


def test_an_unrecognized_number_still_gets_the_universal_tracker() -> None:
    link = choose_tracking_link("ab 12345 xy")
    assert link is not None
    assert (link.url, link.source) == (
        "https://t.17track.net/en#nums=AB12345XY",
        LinkSource.UNIVERSAL,
    )


def test_a_number_with_a_failed_check_digit_goes_to_the_universal_tracker() -> None:
    link = choose_tracking_link(UPS_NUMBER[:-1] + "5")
    assert link is not None
    assert link.source is LinkSource.UNIVERSAL
    assert link.reading is None


def test_the_universal_tracker_is_configurable() -> None:
    settings = TrackingLinkSettings(
        universal_tracker_template="https://parcelsapp.example/en/tracking/{number}"
    )
    link = choose_tracking_link("AB12345XY", settings=settings)
    assert link is not None
    assert link.url == "https://parcelsapp.example/en/tracking/AB12345XY"


def test_nothing_to_track_gives_no_link() -> None:
    assert choose_tracking_link(None) is None
    assert choose_tracking_link("   ", store_urls=("",)) is None


# --- whose number is it? ------------------------------------------------------------------


def test_the_store_carrier_name_rules_out_other_carriers() -> None:
    # A valid USPS 20 number, but the store says DHL shipped it: no USPS page.
    link = choose_tracking_link("0307 1790 0005 2348 3741", store_carrier="DHL")
    assert link is not None and link.source is LinkSource.UNIVERSAL
    usps = choose_tracking_link("0307 1790 0005 2348 3741", store_carrier="USPS")
    assert usps is not None and usps.source is LinkSource.CARRIER
    assert usps.url.startswith("https://tools.usps.com/")


def test_two_carriers_verifying_the_same_number_are_not_guessed_between() -> None:
    # This 12-digit number passes FedEx Express's check digit and Purolator's Luhn.
    link = choose_tracking_link("287809468872")
    assert link is not None and link.source is LinkSource.UNIVERSAL
    named = choose_tracking_link("287809468872", store_carrier="Purolator")
    assert named is not None and named.source is LinkSource.CARRIER
    assert named.url.startswith("https://www.purolator.com/")


def test_a_carrier_we_do_not_know_is_not_second_guessed_except_for_postal_items() -> None:
    assert choose_tracking_link(UPS_NUMBER, store_carrier="Hermes").source is LinkSource.UNIVERSAL
    postal = choose_tracking_link("RB123456785US", store_carrier="Post")
    assert postal is not None and postal.source is LinkSource.CARRIER
    assert postal.url.startswith("https://tools.usps.com/")


def test_a_postal_item_from_a_country_without_a_known_page_goes_to_the_universal_tracker() -> None:
    link = choose_tracking_link("RB123456785GB")
    assert link is not None and link.source is LinkSource.UNIVERSAL
    assert link.reading is not None and link.reading.origin_country == "GB"


def test_a_bare_run_of_digits_without_a_check_digit_names_no_carrier() -> None:
    # 14 digits fit "DHL eCommerce (14)", which has no check digit: too weak to link DHL.
    link = choose_tracking_link("60120172242323")
    assert link is not None and link.source is LinkSource.UNIVERSAL


# --- hostile input ------------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "",
    "x" * 500,
    "9" * 500,
    "javascript:alert(1)",
    "JAVASCRIPT:alert(document.cookie)//",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "1Z999AA1\u202e0123456784",
    "\u0661\u0662\u0663\u0664\u0665",
    "трек-номер",
    "data:text/html,<script>alert(1)</script>",
    "%3Cscript%3E",
    "{number.__class__}",
    "\x00\x1b[31m",
]
HOSTILE_STORE_URLS = [
    (),
    ("javascript:alert(1)",),
    ("http://track.example/1",),
    ('https://track.example/"><script>alert(1)</script>',),
    ("https://track.example/\nSet-Cookie: x=1",),
    ("https://track.example/" + "x" * 3000,),
    ("https://tràck.example/",),
]


@pytest.mark.parametrize("store_urls", HOSTILE_STORE_URLS)
@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_and_links_never_crash_or_make_an_unsafe_link(
    number: str, store_urls: tuple[str, ...]
) -> None:
    for settings in (None, with_store_page()):
        link = choose_tracking_link(
            number,
            store_urls=store_urls,
            store_carrier="UPS",
            order_number="1001",
            settings=settings,
        )
        if link is None:
            continue
        assert link.url.startswith("https://")
        assert safe_https_url(link.url) == link.url
        assert not {"<", ">", '"', "'", " ", "\n"} & set(link.url)
        assert "javascript:" not in link.url.lower()
        assert link.number is None or link.number.isascii() and link.number.isalnum()


def test_a_long_paste_is_not_repeated_to_the_customer() -> None:
    link = choose_tracking_link("9" * 500, store_urls=("https://track.example/parcel/1",))
    assert link is not None
    assert link.number is None


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://shop.example/track?n={number}",  # not https
        "https://shop.example/track",  # no placeholder
        "https://shop.example/track?n={tracking}",  # unknown placeholder
        "https://shop.example/track?n={number.__class__}",
        "javascript:alert('{number}')",
        "/track/{number}",
    ],
)
def test_a_store_page_template_must_be_an_https_url_with_known_placeholders(
    template: str,
) -> None:
    with pytest.raises(ValidationError):
        TrackingLinkSettings(store_page_template=template)


def test_the_universal_tracker_template_needs_the_number() -> None:
    with pytest.raises(ValidationError):
        TrackingLinkSettings(universal_tracker_template="https://t.17track.net/en#nums={order}")
    with pytest.raises(ValidationError):
        TrackingLinkSettings(universal_tracker_template="https://t.17track.net/en")


def test_the_default_universal_tracker_is_17track() -> None:
    assert TrackingLinkSettings().universal_tracker_template == (
        "https://t.17track.net/en#nums={number}"
    )


def test_link_sources_are_the_names_the_sent_email_record_keeps() -> None:
    assert [s.value for s in LinkSource] == ["store_page", "store_url", "carrier", "universal"]


def test_a_valid_check_digit_outweighs_a_shape_another_carrier_shares() -> None:
    # "LX" starts DHL eCommerce numbers too, but only the S10 reading has a check digit.
    link = choose_tracking_link("LX123456785DE")
    assert link is not None and link.reading is not None
    assert (link.reading.format.name, link.reading.origin_country) == ("S10", "DE")
