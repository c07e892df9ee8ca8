"""Which CSS and HTML features the major mail clients ignore, from caniemail.com's data.

A style that works in a browser may do nothing in Gmail or Outlook. caniemail.com tests
each feature in each client; ``data/caniemail_support.json`` is its latest result per
feature for the core clients (Gmail, Outlook, Apple Mail, Yahoo, Samsung Email; MIT
licence in ``data/LICENSE.caniemail.txt``, copied from the caniemail project's data).

A feature counts as *poorly supported* when Gmail — the largest client — ignores it in
any of its apps, or when clients of two or more families ignore it. Outlook for Windows
alone ignoring something (``@media``, ``border-radius``) is the normal state of email and
is what the table layout is for, so that alone is not flagged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "caniemail_support.json"

# Elements and attributes a template author chooses that some clients drop. (<body>,
# <!DOCTYPE> and the like are in caniemail too, but every email has them.)
_HTML_ELEMENTS = {
    tag: f"html-{tag}"
    for tag in (
        "svg",
        "video",
        "audio",
        "picture",
        "form",
        "select",
        "textarea",
        "marquee",
        "dialog",
        "meter",
        "progress",
        "object",
        "link",
        "base",
    )
}
_HTML_ATTRIBUTES = {
    "srcset": "html-srcset",
    "sizes": "html-srcset",
    "loading": "html-loading-attribute",
    "popover": "html-popover",
    "hidden": "html-hidden",
    "target": "html-target",
    "required": "html-required",
}
_CSS_FUNCTIONS = {
    "var(": "css-variables",
    "calc(": "css-unit-calc",
    "clamp(": "css-function-clamp",
    "linear-gradient(": "css-linear-gradient",
    "radial-gradient(": "css-radial-gradient",
}
_AT_RULE = re.compile(r"@([a-z-]+)")
_MEDIA_FEATURE = re.compile(r"\(\s*(prefers-color-scheme|prefers-reduced-motion|hover|orientation)")


@dataclass(frozen=True)
class Unsupported:
    """A feature the major clients handle badly, and which clients ignore it."""

    feature: str  # caniemail's name, e.g. "display:flex"
    clients: tuple[str, ...]

    def describe(self) -> str:
        names = ", ".join(self.clients[:4]) + (" …" if len(self.clients) > 4 else "")
        return f"{self.feature} is not supported by {names} (caniemail.com)"


@cache
def _support() -> dict[str, dict]:
    with DATA.open(encoding="utf-8") as file:
        data: dict[str, dict] = json.load(file)
    return data


def _verdict(slug: str) -> Unsupported | None:
    entry = _support().get(slug)
    if entry is None:
        return None
    ignoring = tuple(client for client, result in entry["latest"].items() if result == "n")
    families = {client.split(".", 1)[0] for client in ignoring}
    if "gmail" in families or len(families) >= 2:
        return Unsupported(entry["title"], ignoring)
    return None


def css_property(name: str, value: str = "") -> Unsupported | None:
    """Whether ``name: value`` is poorly supported (``border-top`` is judged as ``border``)."""
    name = name.strip().lower()
    value = value.strip().lower()
    if name == "display" and value.split(" ")[0] in ("flex", "grid", "none"):
        return _verdict(f"css-display-{value.split(' ')[0]}")
    for function, slug in _CSS_FUNCTIONS.items():
        if function in value and (found := _verdict(slug)):
            return found
    parts = name.split("-")
    for end in range(len(parts), 0, -1):
        slug = "css-" + "-".join(parts[:end])
        if slug in _support():
            return _verdict(slug)
    return None


def css_at_rules(css: str) -> list[Unsupported]:
    """Poorly supported at-rules and media features in a stylesheet."""
    found = []
    for name in dict.fromkeys(_AT_RULE.findall(css.lower())):
        if (verdict := _verdict(f"css-at-{name}")) is not None:
            found.append(verdict)
    for feature in dict.fromkeys(_MEDIA_FEATURE.findall(css.lower())):
        if (verdict := _verdict(f"css-at-media-{feature}")) is not None:
            found.append(verdict)
    return found


def html_element(tag: str) -> Unsupported | None:
    slug = _HTML_ELEMENTS.get(tag.lower())
    return _verdict(slug) if slug else None


def html_attribute(name: str) -> Unsupported | None:
    slug = _HTML_ATTRIBUTES.get(name.lower())
    return _verdict(slug) if slug else None


def meta_color_scheme() -> Unsupported | None:
    return _verdict("html-meta-color-scheme")
