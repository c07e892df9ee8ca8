"""Every email in every language lays out at 375 px and 600 px: nothing wider than the
screen, every button's label inside its button, long product names wrapped.

Measured in headless Chromium, which breaks Chinese between characters and Thai with its
dictionary, as mail apps built on WebKit and Blink do. One browser run per locale and width
holds all of that locale's sample emails, each in a frame of the width measured.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from aftercare.authoring.samples import sample_emails, sample_store_facts
from aftercare.rendering.renderer import EmailRenderer
from tests.browser import _FLAGS, chromium
from tests.test_rendering import TEMPLATES

WIDTHS = (375, 600)
# Product names as long as shops write them, with no space to break at in Thai and Chinese.
LONG_TITLES = {
    "en": "Hand-woven linen table runner with hemstitched border, extra long 240 cm",
    "ru": "Льняная дорожка для стола ручной работы с мережкой, особо длинная, 240 см",
    "th": "ผ้ารองจานลินินทอมือขอบฉลุลายพิเศษยาวสองร้อยสี่สิบเซนติเมตรสำหรับโต๊ะอาหาร",
    "zh": "手工编织亚麻餐桌旗抽纱镂空花边加长款二百四十厘米适合大餐桌使用",
}

_MEASURE = """
window.addEventListener("load", () => {
  const found = [...document.querySelectorAll("iframe")].map(frame => {
    const page = frame.contentDocument.documentElement;
    const width = frame.clientWidth;
    const wide = [...page.querySelectorAll("body *")]
      .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > width + 1)
      .map(e => e.tagName + "." + e.className + ": " + (e.innerText || "").slice(0, 40));
    const cramped = [...page.querySelectorAll("a.button")]
      .filter(b => b.scrollWidth > b.clientWidth + 1)
      .map(b => b.innerText);
    return {name: frame.name, scroll: page.scrollWidth, width, wide, cramped};
  });
  document.documentElement.setAttribute("data-evaluated", JSON.stringify(found));
});
"""


def _language(locale: str) -> str:
    return re.split("[_-]", locale)[0]


def _emails(locale: str) -> list[tuple[str, str]]:
    renderer = EmailRenderer(TEMPLATES)
    store = sample_store_facts()
    available = renderer.available_locales()
    rendered = []
    for sample in sample_emails(locale=locale):
        context = sample.context(store, available)
        _lengthen_first_title(context, LONG_TITLES[_language(locale)])
        email = renderer.render(sample.kind, context, context["locale"])
        rendered.append((f"{sample.kind.value} / {sample.name}", email.html))
    return rendered


def _lengthen_first_title(value: Any, title: str) -> None:
    """The first item of every item list in the context (order, shipment, delivery) gets
    the long name."""
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, list) and item and isinstance(item[0], dict) and "title" in item[0]:
                item[0] = {**item[0], "title": title}
            else:
                _lengthen_first_title(item, title)


def _measure(emails: list[tuple[str, str]], width: int) -> list[dict[str, Any]]:
    frames = "".join(
        f'<iframe name="{html.escape(name)}" width="{width}" height="3000"'
        f' style="border:0;display:block" srcdoc="{html.escape(page)}"></iframe>'
        for name, page in emails
    )
    page = f"<!DOCTYPE html><html><body>{frames}<script>{_MEASURE}</script></body></html>"
    with tempfile.TemporaryDirectory(prefix="aftercare-layout-") as folder:
        path = Path(folder) / "layout.html"
        path.write_text(page, encoding="utf-8")
        dumped = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={folder}/profile", "--dump-dom", path.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    found = re.search(r'data-evaluated="([^"]*)"', dumped)
    assert found, f"Chromium did not measure the page: {dumped[:300]!r}"
    return json.loads(html.unescape(found.group(1)))


def _product_locales() -> list[str]:
    available = EmailRenderer(TEMPLATES).available_locales()
    return sorted(t for t in available if _language(t) in LONG_TITLES)


@pytest.mark.parametrize("locale", _product_locales())
@pytest.mark.parametrize("width", WIDTHS)
def test_every_email_fits_the_screen(locale: str, width: int) -> None:
    emails = _emails(locale)
    measured = _measure(emails, width)
    assert len(measured) == len(emails)
    problems = [
        f"{m['name']}: {m['scroll']} px wide; {m['wide'][:3]} {m['cramped']}"
        for m in measured
        if m["scroll"] > width or m["wide"] or m["cramped"]
    ]
    assert not problems, "\n".join(problems)


def test_the_measurement_sees_an_overflow() -> None:
    """The yardstick itself: a page wider than its frame is reported."""
    wide = (
        "<html><body><p style='width:700px'>x</p><a class='button' style='display:inline-block;"
        "width:40px;white-space:nowrap;overflow:hidden'>Отменить заказ и вернуть деньги</a>"
        "</body></html>"
    )
    measured = _measure([("wide", wide)], 375)
    assert measured[0]["scroll"] > 375 and measured[0]["wide"] and measured[0]["cramped"]
