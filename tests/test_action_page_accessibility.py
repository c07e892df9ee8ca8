"""The action pages pass an accessibility check in headless Chromium.

Each page variant as the receiver serves it, laid out by Chromium: ``<html lang>`` is set
and is the email's language, every form control has a label, every button an accessible
name, and every text — the heading, paragraphs, the legend and label, each button — has a
contrast of at least 4.5:1 against what is behind it (WCAG 2.1, 1.4.3), computed from
``getComputedStyle`` in the page, for the store's brand colour and a light one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from aftercare.action_links import ActionLinks
from aftercare.receiver import InboxWriter, Receiver
from aftercare.receiver.action_page import ActionPages
from aftercare.settings import StoreFacts
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.schema_migrations import upgrade
from tests.browser import evaluate_in_page
from tests.test_action_page import DELAYED, REFUNDED, SECRET, SHIPPED, store_email
from tests.webhook_server import running_receiver

# WCAG 2.1 relative luminance and contrast, over what the page computed for each element;
# the background is the nearest ancestor's that is not transparent (the page's: white).
_CHECK = r"""
const channels = s => s.match(/[\d.]+/g).map(Number);
const linear = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
const contrast = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const behind = element => {
  for (let e = element; e; e = e.parentElement) {
    const c = channels(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c;
  }
  return [255, 255, 255];
};
const name = e => (e.innerText || e.getAttribute("aria-label") || e.title || "").trim();
const controls = [...document.querySelectorAll("input:not([type=hidden]), textarea, select")];
const texts = [...document.querySelectorAll(".store, h1, p, legend, label, button, textarea")];
return {
  lang: document.documentElement.lang,
  headings: document.querySelectorAll("h1").length,
  controls: controls.length,
  unlabelled: controls
    .filter(c => !(c.labels && [...c.labels].some(l => name(l)))
                 && !c.getAttribute("aria-label") && !c.getAttribute("aria-labelledby"))
    .map(c => c.outerHTML),
  buttons: [...document.querySelectorAll("button")].map(name),
  contrasts: texts.map(e => [
    e.tagName.toLowerCase() + ": " + name(e).slice(0, 40),
    Math.round(contrast(channels(getComputedStyle(e).color), behind(e)) * 100) / 100,
  ]),
};
"""

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
LIGHT = StoreFacts(name="Sunny Side", brand_colour="#ffd400")
DEFAULT = StoreFacts(name="Fern & Field", brand_colour="#2f5d50")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    database = tmp_path_factory.mktemp("a11y") / "aftercare.db"
    engine = engine_for(f"sqlite:///{database}")
    upgrade(engine)
    store_email(engine, REFUNDED, "order_refunded", lang="en")
    store_email(engine, SHIPPED, "order_shipped", lang="de")
    store_email(engine, DELAYED, "order_delayed", lang="fr")
    return engine


@pytest.fixture(scope="module")
def links() -> ActionLinks:
    return ActionLinks(SECRET, "http://unused.example", clock=(NOW - timedelta(hours=1)).timestamp)


def _served(engine: Engine, store: StoreFacts, paths: list[tuple[str, str]]) -> Iterator[str]:
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters={},
        nudge=lambda: None,
        clock=lambda: NOW,
        actions=ActionPages(ActionLinks(SECRET, "http://x.example"), store),
    )
    try:
        with running_receiver(receiver) as base:
            for method, path in paths:
                data = {"confirm": "yes"} if method == "POST" else None
                yield httpx.request(method, f"{base}{path}", data=data).text
    finally:
        writer.close()


def _variants(links: ActionLinks) -> dict[str, tuple[str, str, str]]:
    """Each page: (method, path, the language it must declare)."""

    def path(key: str, action: str, value: str, subject: str = "") -> str:
        return f"/a/{links.token(key, action, value, subject)}"  # type: ignore[arg-type]

    expired = ActionLinks(SECRET, "http://x.example", clock=(NOW - timedelta(days=90)).timestamp)
    return {
        "rating": ("GET", path(REFUNDED, "rating", "good"), "en"),
        "faq yes": ("GET", path(SHIPPED, "faq_helpful", "yes", "where-is-my-order"), "de"),
        "faq no": ("GET", path(SHIPPED, "faq_helpful", "no", "returns-how"), "de"),
        "delay confirm": ("GET", path(DELAYED, "delay_choice", "refund"), "fr"),
        # First "wait" recorded; in the second run, the confirmed reship stands: "wait
        # instead?" with a button.
        "wait": ("GET", path(DELAYED, "delay_choice", "wait"), "fr"),
        "delay done": ("POST", path(DELAYED, "delay_choice", "reship"), "fr"),
        "bad token": ("GET", "/a/forged-or-altered", "en"),
        "expired": ("GET", f"/a/{expired.token(REFUNDED, 'rating', 'bad')}", "en"),
    }


@pytest.mark.parametrize("store", [DEFAULT, LIGHT], ids=["brand colour", "light brand colour"])
def test_every_action_page_passes_the_accessibility_check(
    engine: Engine, links: ActionLinks, store: StoreFacts
) -> None:
    variants = _variants(links)
    served = list(_served(engine, store, [(m, p) for m, p, _ in variants.values()]))
    pages = dict(zip(variants, served, strict=True))
    for variant, page in pages.items():
        found = evaluate_in_page(page, _CHECK)
        assert isinstance(found, dict)
        assert found["lang"] == variants[variant][2], variant
        assert found["headings"] == 1, variant
        assert found["unlabelled"] == [], variant
        assert all(found["buttons"]), (variant, found["buttons"])
        low = [(what, ratio) for what, ratio in found["contrasts"] if ratio < 4.5]
        assert low == [], (variant, low)
        if variant == "rating":
            assert found["controls"] == 1  # the comment box
            assert len(found["buttons"]) == 3  # two other answers and "send"
        if variant == "delay confirm":
            assert found["buttons"] == ["Annuler ma commande et me rembourser"]


def test_the_check_catches_what_it_looks_for() -> None:
    """The script fails a page without a language, with an unlabelled box and a nameless,
    pale button, so a pass means something."""
    found = evaluate_in_page(
        "<!doctype html><html><body><h1 style='color:#aaa'>Hi</h1><textarea></textarea>"
        "<button style='background:#ffd400;color:#fff'></button>"
        "<label for=x>Name</label><input id=x></body></html>",
        _CHECK,
    )
    assert isinstance(found, dict)
    assert found["lang"] == ""
    assert found["unlabelled"] == ["<textarea></textarea>"]
    assert found["buttons"] == [""]
    assert [what for what, ratio in found["contrasts"] if ratio < 4.5] == ["h1: Hi", "button: "]
