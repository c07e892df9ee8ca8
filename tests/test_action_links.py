"""Action tokens: what a link says, that only Aftercare can make one, and for how long.

A token names the email (its idempotency key), the action, its subject and the answer; it
is short (a dozen per email), fast to make, refused when forged, altered, cut short or
signed with another secret, and expired after ``action_link_days``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner
from itsdangerous.signer import SigningAlgorithm
from pydantic import SecretStr

from aftercare.action_links import (
    VALUES,
    ActionLinks,
    BadActionTokenError,
    ExpiredActionTokenError,
    action_links,
)
from aftercare.opt_out import LinkSecretError, OptOutLinks
from aftercare.settings import Settings

SECRET = "action-link-test-secret-of-at-least-32-chars"
OLD_SECRET = "the-secret-before-the-rotation-32-chars-or-more"
KEY = "shopify:order:5801234567890:refund:987654321098:refunded"
MADE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _links(secret: str = SECRET, *, at: datetime = MADE, **options: object) -> ActionLinks:
    return ActionLinks(
        secret, "https://aftercare.fernandfield.example/", clock=at.timestamp, **options
    )


@pytest.mark.parametrize(
    ("action", "value"), [(a, v) for a, values in VALUES.items() for v in values]
)
def test_a_token_names_the_email_the_action_and_the_answer(action: str, value: str) -> None:
    links = _links()
    subject = "where-is-my-order" if action == "faq_helpful" else ""
    token = links.token(KEY, action, value, subject)  # type: ignore[arg-type]
    read = links.read(token, MADE + timedelta(days=3))
    assert (read.email_key, read.action, read.value, read.subject) == (
        KEY,
        action,
        value,
        subject,
    )
    assert read.signed_at == MADE
    assert read.consequential == (value in ("refund", "reship", "ship_ready"))


def test_the_url_is_the_public_receivers_a_path() -> None:
    url = _links().url(KEY, "rating", "good")
    assert url.startswith("https://aftercare.fernandfield.example/a/")
    assert "?" not in url and "#" not in url


@pytest.mark.parametrize(
    "key",
    [
        "generic:order:A/17 #3?x=1%:order_confirmation",
        "woocommerce:customer:ünïcode~!:welcome",
        "x",
    ],
)
def test_a_key_a_url_path_cannot_carry_goes_in_base64_and_comes_back_whole(key: str) -> None:
    links = _links()
    token = links.token(key, "rating", "bad")
    assert "/" not in token and "?" not in token and "#" not in token and "%" not in token
    assert links.read(token, MADE).email_key == key


def test_a_token_is_short() -> None:
    token = _links().token(KEY, "faq_helpful", "yes", "where-is-my-order")
    # Two letters, the subject, the key, a 6-character time and a 22-character signature.
    assert len(token) == 2 + len("where-is-my-order") + 1 + len(KEY) + 1 + 6 + 1 + 22
    assert len(_links().url(KEY, "rating", "good")) < 140


@pytest.mark.parametrize("key", [KEY, "generic:order:A/17 #3?x=1%:order_confirmation"])
def test_a_token_is_exactly_what_itsdangerous_signs_and_reads(key: str) -> None:
    """Tokens are made on a fast path (the cost is in bench/render.py); itsdangerous itself,
    configured independently here, must make the same bytes and accept them."""
    links = _links(previous_secrets=(OLD_SECRET,))
    token = links.token(key, "faq_helpful", "no", "where-is-my-order")
    payload = token.rsplit(".", 2)[0]

    class Truncated(SigningAlgorithm):
        def get_signature(self, key: bytes, value: bytes) -> bytes:
            return hmac.new(key, value, hashlib.sha256).digest()[:16]

    class AtMade(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(MADE.timestamp())

    reference = AtMade(
        SECRET,
        salt="aftercare.customer-action",
        digest_method=hashlib.sha256,
        algorithm=Truncated(),
    )
    assert reference.sign(payload).decode() == token
    assert reference.unsign(token).decode() == payload
    # A second later, the time part (and so the signature) moves on.
    later = ActionLinks(SECRET, "https://x.example", clock=lambda: MADE.timestamp() + 1)
    assert later.token(key, "faq_helpful", "no", "where-is-my-order") != token


def test_an_altered_token_is_refused() -> None:
    links = _links()
    token = links.token(KEY, "delay_choice", "wait")
    payload, timestamp, signature = token.rsplit(".", 2)
    later = _links(at=MADE + timedelta(days=30)).token(KEY, "delay_choice", "wait").split(".")[-2]
    assert later != timestamp
    altered = [
        "dr" + payload[2:] + f".{timestamp}.{signature}",  # wait made refund
        payload.replace("5801234567890", "5801234567891") + f".{timestamp}.{signature}",
        f"{payload}.{later}.{signature}",  # made to look younger
        f"{payload}.{timestamp}.{signature[:-2]}",  # cut short
        f"{payload}.{timestamp}",
        payload,
        "",
        "....",
        "not-a-token-at-all",
    ]
    for bad in altered:
        with pytest.raises(BadActionTokenError):
            links.read(bad, MADE)


def test_a_token_of_another_secret_or_of_an_opt_out_is_refused() -> None:
    foreign = _links("someone-elses-secret-of-32-characters!!")
    with pytest.raises(BadActionTokenError):
        _links().read(foreign.token(KEY, "rating", "good"), MADE)
    # Same secret, other purpose: an opt-out token is not an action token (the salts).
    opt_out = OptOutLinks(SECRET, "https://x.example").token("anna@example.com", "shopify")
    with pytest.raises(BadActionTokenError):
        _links().read(opt_out, MADE)


def test_a_token_expires_after_the_links_lifetime() -> None:
    links = _links(days=60)
    token = links.token(KEY, "rating", "good")
    assert links.read(token, MADE + timedelta(days=60)).value == "good"
    with pytest.raises(ExpiredActionTokenError) as expired:
        links.read(token, MADE + timedelta(days=60, seconds=1))
    assert expired.value.request.email_key == KEY  # the page can still speak its language
    shorter = _links(days=7)
    with pytest.raises(ExpiredActionTokenError):
        shorter.read(token, MADE + timedelta(days=8))


def test_a_token_from_the_far_future_was_not_made_by_aftercare() -> None:
    token = _links(at=MADE + timedelta(days=2)).token(KEY, "rating", "good")
    assert _links().read(token, MADE + timedelta(days=2) - timedelta(minutes=5))
    with pytest.raises(BadActionTokenError):
        _links().read(token, MADE)


def test_after_a_rotation_links_signed_with_the_previous_secret_still_work() -> None:
    before = _links(OLD_SECRET).token(KEY, "rating", "okay")
    rotated = _links(SECRET, previous_secrets=[OLD_SECRET])
    assert rotated.read(before, MADE).value == "okay"
    new = rotated.token(KEY, "rating", "bad")
    assert _links(SECRET).read(new, MADE).value == "bad"  # signed with the new one
    with pytest.raises(BadActionTokenError):
        _links(SECRET).read(before, MADE)  # once retired, the old links stop


def test_only_an_actions_own_answers_and_snippet_ids_make_tokens() -> None:
    links = _links()
    for action, value, subject in [
        ("rating", "great", ""),
        ("delay_choice", "yes", ""),
        ("faq_helpful", "yes", "Where is my order?"),
        ("faq_helpful", "yes", "a~b"),
    ]:
        with pytest.raises(ValueError):
            links.token(KEY, action, value, subject)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        links.token("", "rating", "good")


def test_action_links_are_off_until_the_setting_says_the_receiver_is_reachable(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'aftercare.db'}"
    assert action_links(Settings(database_url=database, _env_file=None)) is None
    on = Settings(
        database_url=database,
        action_links=True,
        public_url="https://aftercare.fernandfield.example",
        action_link_days=30,
        _env_file=None,
    )
    links = action_links(on)
    assert links is not None
    assert links.url(KEY, "rating", "good").startswith("https://aftercare.fernandfield.example/a/")
    assert links.lifetime == timedelta(days=30)
    assert (tmp_path / "aftercare.db.link-secret").exists()  # the opt-out's secret, shared
    assert action_links(on) is links  # built once per configuration


def test_the_previous_secrets_setting_is_read_and_checked(postgresql_url: str) -> None:
    settings = Settings(
        database_url=postgresql_url,
        action_links=True,
        link_secret=SecretStr(SECRET),
        link_secret_previous=SecretStr(f"{OLD_SECRET}, another-old-secret-of-32-characters!"),
        _env_file=None,
    )
    links = action_links(settings)
    assert links is not None
    before = ActionLinks(OLD_SECRET, "https://x.example").token(KEY, "rating", "good")
    assert links.read(before, datetime.now(UTC)).value == "good"
    short = settings.model_copy(update={"link_secret_previous": SecretStr("short")})
    with pytest.raises(LinkSecretError, match="PREVIOUS"):
        action_links(short)
    unset = Settings(database_url=postgresql_url, action_links=True, _env_file=None)
    with pytest.raises(LinkSecretError, match="AFTERCARE_LINK_SECRET is not set"):
        action_links(unset)


def test_opt_out_links_survive_the_same_rotation() -> None:
    before = OptOutLinks(OLD_SECRET, "https://x.example").token("anna@example.com", "shopify")
    rotated = OptOutLinks(SECRET, "https://x.example", previous_secrets=[OLD_SECRET])
    assert rotated.read(before).source == "shopify"
