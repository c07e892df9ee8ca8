"""Move an email's CSS onto its elements, because Gmail and Outlook ignore much of
``<style>``.

Inline styles are what every mail client honours. What cannot be inlined — the
``@media`` rules that make the layout fit a 375 px phone — stays in a ``<style>`` block,
and ``!important`` is kept (``strip_important=False``) so those rules still beat the
inline styles they override. Premailer never fetches anything: a template that links an
external stylesheet gets it ignored, not downloaded at send time.

Emails are not inlined one by one: ``template_inlining`` runs premailer once per template
and ``inline_fragment`` once per HTML snippet. ``inline_css`` is the per-email reference
both are tested against (and what the benchmark's naive path pays for every email).
"""

from __future__ import annotations

import html
import logging
from functools import lru_cache
from typing import Any

from lxml import etree
from premailer import Premailer

# An element on the path from <html> to where a snippet goes: its tag and the attributes
# selectors may test (class, id).
Ancestor = tuple[str, tuple[tuple[str, str], ...]]

# The one premailer configuration, shared by per-template, per-snippet and per-email
# inlining so that all three produce the same styles.
PREMAILER_OPTIONS: dict[str, Any] = {
    "strip_important": False,
    "keep_style_tags": False,  # rules that could be inlined are dropped; the rest stay
    "disable_leftover_css": False,  # the leftover rules are the media queries
    "remove_classes": False,  # media queries select by class
    # ``height: auto`` would become an invalid ``height="auto"`` attribute on images;
    # templates set the pixel heights they need themselves.
    "disable_basic_attributes": ["height"],
    "disable_validation": True,  # email CSS (mso-*, -webkit-*) is not "valid" CSS
    "allow_network": False,
    "allow_loading_external_files": False,
    "cssutils_logging_level": logging.CRITICAL,
}

# A re-send, a preview refresh or the template checker inlines the same document again;
# a few recent results are cheap to keep.
_RECENT_DOCUMENTS = 32
# FAQ answers are a few dozen per store; each is inlined once per place it is shown.
_SNIPPETS = 2048
_FRAGMENT_MARK = "data-ac-fragment"


@lru_cache(maxsize=_RECENT_DOCUMENTS)
def inline_css(document: str) -> str:
    """``document`` with its ``<style>`` rules inlined and its media queries kept."""
    return Premailer(document, **PREMAILER_OPTIONS).transform()


@lru_cache(maxsize=_SNIPPETS)
def inline_fragment(fragment: str, ancestors: tuple[Ancestor, ...], stylesheet: str) -> str:
    """An HTML snippet with the styles it gets when placed inside ``ancestors``.

    The snippet is parsed inside the same chain of elements (tags, classes, ids) as the
    place the template prints it, under the same stylesheet, so ``.answer p`` and
    ``p`` rules reach it exactly as they would in a per-email inlining of the whole page.
    Cached per snippet: a store's FAQ answers are inlined once, not once per email.
    """
    opening: list[str] = []
    closing: list[str] = []
    for position, (tag, attributes) in enumerate(ancestors):
        marks = f" {_FRAGMENT_MARK}" if position == len(ancestors) - 1 else ""
        attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in attributes) + marks
        if tag == "html":
            opening.append(f"<html{attrs}><head><style>{stylesheet}</style></head>")
        else:
            opening.append(f"<{tag}{attrs}>")
        closing.insert(0, f"</{tag}>")
    document = "".join(opening) + fragment + "".join(closing)
    root = etree.fromstring(document, etree.HTMLParser())
    Premailer(**PREMAILER_OPTIONS).transform(root)
    container = next(e for e in root.iter() if _FRAGMENT_MARK in e.attrib)
    text = html.escape(container.text or "", quote=False)
    return text + "".join(
        etree.tostring(child, method="html", encoding="unicode") for child in container
    )
