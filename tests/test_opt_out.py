"""The marketing opt-out: links nobody can forge, headers mailbox providers act on, a list
that holds no address and outlives erasure, and who may see product suggestions."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr
from sqlalchemy import Engine, event, select

from aftercare.opt_out import (
    BadOptOutTokenError,
    LinkSecretError,
    OptOutLinks,
    address_hash,
    kept_secret,
    list_unsubscribe_headers,
    may_show_cross_sell,
    opt_out_links,
    opt_out_url,
)
from aftercare.settings import Settings
from aftercare.storage.database import session_factory
from aftercare.storage.opt_outs import VIA_ONE_CLICK, VIA_PAGE, opted_out, record_opt_out
from aftercare.storage.schema import MarketingOptOutRow

SECRET = "a-test-secret-of-at-least-thirty-two-characters"
ADDRESS = "Anna.Keller@example.com"
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def aftercare_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``aftercare`` loggers, whatever ``configure_logging`` (run by an
    earlier CLI test) did to propagation and levels."""
    logger, handler = logging.getLogger("aftercare"), _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def links(secret: str = SECRET) -> OptOutLinks:
    return OptOutLinks(secret, "https://aftercare.fernandfield.example/")


def settings(tmp_path: Path, **fields: object) -> Settings:
    values: dict[str, object] = {"database_url": f"sqlite:///{tmp_path / 'aftercare.db'}"}
    return Settings(**(values | fields), _env_file=None)  # type: ignore[arg-type]


# --- the address hash ---------------------------------------------------------------------


def test_the_address_hash_is_the_sha256_of_the_lower_cased_stripped_address() -> None:
    expected = hashlib.sha256(b"anna.keller@example.com").hexdigest()
    assert address_hash(ADDRESS) == expected
    assert address_hash("  ANNA.KELLER@EXAMPLE.COM\n") == expected
    assert address_hash("ben@example.com") != expected


# --- the token ------------------------------------------------------------------------------


def test_a_token_reads_back_as_the_address_hash_and_the_store() -> None:
    request = links().read(links().token(ADDRESS, "shopify"))
    assert request.address_hash == address_hash(ADDRESS)
    assert request.source == "shopify"
    assert links().read(links().token(ADDRESS)).source is None


def test_neither_the_link_nor_its_decoded_payload_shows_the_address() -> None:
    url = links().url(ADDRESS, "shopify")
    assert url.startswith("https://aftercare.fernandfield.example/opt-out/")
    token = url.rsplit("/", 1)[1]
    digest, source = token.split(".")[0].split("~")
    decoded = base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    assert (decoded, source) == (address_hash(ADDRESS), "shopify")
    for shown in (url, decoded):
        assert "anna" not in shown.lower() and "example.com" not in shown


def test_a_link_from_an_old_email_still_works() -> None:
    # Made by this code in December 2026 and frozen here: no expiry, no format drift.
    old = (
        "vfMDk92v7SxTvUcS6mfp0oTJfAjZ-vz7EMgqEaRfYl0~shopify"
        ".m_WggZ5bs5HRrSPMTvWRUuxX6ClWy4OdT2CuAqZXSZY"
    )
    request = links("an-old-secret-that-signed-emails-in-2026").read(old)
    assert request.address_hash == address_hash(ADDRESS)
    assert request.source == "shopify"


def _tampered(token: str) -> list[str]:
    payload, signature = token.split(".")
    flipped = "A" if signature[-1] != "A" else "B"
    other = links().token("ben@example.com", "shopify").split(".")[0]
    return [
        f"{payload}.{signature[:-1]}{flipped}",  # the signature altered
        f"{other}.{signature}",  # someone else's hash under this signature
        f"{payload[:-2]}.{signature}",  # the payload cut short
        payload,  # no signature at all
        token[: len(token) // 2],  # cut in half by a mail client's line wrap
        "",
        "not-a-token",
    ]


@pytest.mark.parametrize("index", range(7))
def test_a_tampered_token_is_refused(index: int) -> None:
    bad = _tampered(links().token(ADDRESS, "shopify"))[index]
    with pytest.raises(BadOptOutTokenError):
        links().read(bad)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = links("another-secret-of-at-least-thirty-two-chars").token(ADDRESS)
    with pytest.raises(BadOptOutTokenError):
        links().read(token)


def test_a_value_signed_with_the_secret_for_another_purpose_is_not_an_opt_out() -> None:
    for salt, payload in (
        ("itsdangerous", [address_hash(ADDRESS)]),  # another salt
        ("aftercare.marketing-opt-out", {"h": address_hash(ADDRESS)}),  # another shape
        ("aftercare.marketing-opt-out", ["short"]),
    ):
        token = URLSafeSerializer(SECRET, salt=salt).dumps(payload)
        with pytest.raises(BadOptOutTokenError):
            links().read(token)


# --- the headers ----------------------------------------------------------------------------


def test_list_unsubscribe_headers_are_rfc_8058s_pair() -> None:
    url = links().url(ADDRESS)
    assert list_unsubscribe_headers(url) == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with_mail = list_unsubscribe_headers(url, mailto="unsubscribe@fernandfield.example")
    assert with_mail["List-Unsubscribe"] == (f"<{url}>, <mailto:unsubscribe@fernandfield.example>")


# --- the settings and the secret ------------------------------------------------------------


def test_opt_out_url_uses_the_public_url_and_the_configured_secret(tmp_path: Path) -> None:
    configured = settings(
        tmp_path,
        public_url="https://shop.example/aftercare",
        link_secret=SecretStr(SECRET),
    )
    url = opt_out_url(configured, ADDRESS, source="shopify")
    assert url.startswith("https://shop.example/aftercare/opt-out/")
    assert links().read(url.rsplit("/", 1)[1]).address_hash == address_hash(ADDRESS)
    assert not list(tmp_path.iterdir())  # a configured secret writes no file


def test_the_embedded_default_is_http_on_the_local_receiver(tmp_path: Path) -> None:
    url = opt_out_url(settings(tmp_path), ADDRESS)
    assert url.startswith("http://127.0.0.1:8000/opt-out/")


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LinkSecretError, match="AFTERCARE_LINK_SECRET is shorter"):
        opt_out_links(settings(tmp_path, link_secret=SecretStr("hunter2")))


def test_a_database_server_without_a_secret_is_a_clear_error() -> None:
    production = Settings(
        database_url="postgresql://aftercare@db.internal/aftercare", _env_file=None
    )
    with pytest.raises(LinkSecretError, match="AFTERCARE_LINK_SECRET is not set"):
        opt_out_links(production)


def test_on_sqlite_a_secret_is_generated_once_beside_the_database_and_logged(
    tmp_path: Path, aftercare_logs: list[logging.LogRecord]
) -> None:
    first = opt_out_links(settings(tmp_path))
    kept = tmp_path / "aftercare.db.link-secret"
    assert kept.exists()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    logged = " ".join(r.getMessage() for r in aftercare_logs)
    assert f"generated in {kept}" in logged
    assert kept.read_text().strip() not in logged
    # Another process (no cache) reads the same file: its links verify the first's.
    again = OptOutLinks(kept_secret(kept), "http://127.0.0.1:8000")
    assert again.read(first.token(ADDRESS)).address_hash == address_hash(ADDRESS)
    assert [p.name for p in tmp_path.iterdir()] == ["aftercare.db.link-secret"]


def test_processes_starting_together_end_with_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "aftercare.db.link-secret"
    found: list[str] = []
    start = threading.Barrier(8)

    def generate() -> None:
        start.wait()
        found.append(kept_secret(path))

    threads = [threading.Thread(target=generate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert os.listdir(tmp_path) == ["aftercare.db.link-secret"]  # no leftovers


def test_an_emptied_secret_file_is_an_error_not_a_new_secret(tmp_path: Path) -> None:
    path = tmp_path / "aftercare.db.link-secret"
    path.write_text("\n")
    with pytest.raises(LinkSecretError, match="does not hold an opt-out link secret"):
        kept_secret(path)
    assert path.read_text() == "\n"


def test_an_in_memory_database_signs_with_a_secret_of_its_own(
    aftercare_logs: list[logging.LogRecord],
) -> None:
    memory = Settings(database_url="sqlite://", public_url="http://memory.example", _env_file=None)
    token = opt_out_links(memory).token(ADDRESS)
    assert opt_out_links(memory).read(token).address_hash == address_hash(ADDRESS)
    assert any("lives as long as this process" in r.getMessage() for r in aftercare_logs)


# --- who may see product suggestions --------------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "opted", "soft", "explicit"),
    [
        (None, False, True, False),  # unknown (WooCommerce, or Shopify said nothing)
        ("subscribed", False, True, True),
        ("not_subscribed", False, True, False),
        ("unsubscribed", False, False, False),
        ("subscribed", True, False, False),  # the opt-out link beats the store's consent
        (None, True, False, False),
    ],
)
def test_may_show_cross_sell(consent: str | None, opted: bool, soft: bool, explicit: bool) -> None:
    assert may_show_cross_sell(consent, opted, "soft_opt_in") is soft  # type: ignore[arg-type]
    assert may_show_cross_sell(consent, opted, "explicit") is explicit  # type: ignore[arg-type]


def test_the_default_policy_is_the_soft_opt_in() -> None:
    assert Settings(_env_file=None).marketing_consent_policy == "soft_opt_in"


# --- the list -------------------------------------------------------------------------------


def test_an_opt_out_is_recorded_once_and_a_second_click_changes_nothing(engine: Engine) -> None:
    sessions = session_factory(engine)
    hashed = address_hash(ADDRESS)
    with sessions.begin() as s:
        assert record_opt_out(s, hashed, VIA_PAGE, NOW) is True
    with sessions.begin() as s:
        assert record_opt_out(s, hashed, VIA_ONE_CLICK, NOW.replace(day=21)) is False
    with sessions.begin() as s:
        (row,) = s.scalars(select(MarketingOptOutRow))
        assert (row.address_hash, row.via, row.opted_out_at) == (hashed, VIA_PAGE, NOW)


def test_opted_out_answers_for_a_whole_group_in_one_query(engine: Engine) -> None:
    sessions = session_factory(engine)
    out = [address_hash(f"out-{n}@example.com") for n in range(3)]
    with sessions.begin() as s:
        for hashed in out:
            record_opt_out(s, hashed, VIA_ONE_CLICK, NOW)
    group = [address_hash(f"customer-{n}@example.com") for n in range(500)] + out
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as connection:
            assert opted_out(connection, group) == set(out)
            assert opted_out(connection, []) == set()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([q for q in statements if "marketing_opt_outs" in q]) == 1
    with sessions() as s:  # a session works as well as a connection
        assert opted_out(s, [out[0], address_hash("nobody@example.com")]) == {out[0]}


def test_the_list_holds_hashes_never_addresses(engine: Engine) -> None:
    with session_factory(engine).begin() as s:
        record_opt_out(s, address_hash(ADDRESS), VIA_PAGE, NOW)
    with engine.connect() as connection:
        rows = connection.execute(select(MarketingOptOutRow.__table__)).all()
    assert "example.com" not in repr(rows).lower()
