"""The slow, obviously right way to render an email's HTML, kept as the yardstick.

Render the templates as written, then run premailer over the whole email: that is what
"inline the CSS" means, and what the per-template inliner must reproduce exactly. The
template checker compares the two on every sample, the tests prove them equal, and the
benchmark times this path as the naive baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import lxml.html
from lxml import etree

from aftercare.rendering.css import inline_css
from aftercare.rendering.renderer import EmailSandbox, template_names
from aftercare.rendering.translations import TemplateTranslations

# Attributes premailer writes from CSS (its "basic attributes"), besides ``style``.
_DERIVED_ATTRIBUTES = ("bgcolor", "width", "align", "valign")


class PerEmailRenderer:
    """Renders a kind's HTML from the templates as written, with no inlining at all.

    Same sandbox, same options as ``EmailRenderer``, so the only difference between the
    two paths is where the CSS gets inlined.
    """

    def __init__(
        self, templates_dir: Path, undefined: type[jinja2.Undefined] = jinja2.StrictUndefined
    ) -> None:
        # The templates as written, compiled once: this is the benchmark's floor too.
        self.env = EmailSandbox(jinja2.FileSystemLoader(Path(templates_dir).resolve()), undefined)
        self.env.translations = TemplateTranslations.load(Path(templates_dir))

    def template(self, kind: str, locale: str, suffix: str = "html") -> jinja2.Template:
        return self.env.select_template(template_names(kind, locale, suffix))

    def html(self, kind: str, context: Mapping[str, Any], locale: str) -> str:
        """The email's HTML before inlining."""
        return self.template(kind, locale).render(context)

    def inlined_html(self, kind: str, context: Mapping[str, Any], locale: str) -> str:
        """The email's HTML inlined by premailer as a whole, the way it is usually done."""
        return inline_css(self.html(kind, context, locale))


def inlining_differences(inlined_once: str, inlined_per_email: str, limit: int = 5) -> list[str]:
    """Where two renderings of one email differ in any element's inline CSS.

    Compares, element by element in document order: the tag, every ``style`` declaration
    (as property/value pairs), the attributes premailer derives from CSS, and what is left
    in ``<style>``. An empty list means every element looks the same in a mail client.
    """
    ours = lxml.html.document_fromstring(inlined_once)
    theirs = lxml.html.document_fromstring(inlined_per_email)
    differences: list[str] = []
    mine = [e for e in ours.iter() if isinstance(e.tag, str)]
    reference = [e for e in theirs.iter() if isinstance(e.tag, str)]
    if len(mine) != len(reference):
        differences.append(f"{len(mine)} elements inlined once, {len(reference)} inlined per email")
    for a, b in zip(mine, reference, strict=False):
        where = _path(a)
        if a.tag != b.tag:
            differences.append(f"{where}: <{a.tag}> where per-email inlining has <{b.tag}>")
            break
        if a.tag == "style":
            if _words(a.text) != _words(b.text):
                differences.append(f"{where}: <style> differs: {a.text!r} != {b.text!r}")
            continue
        if _declarations(a.get("style")) != _declarations(b.get("style")):
            differences.append(
                f"{where}: style={a.get('style')!r}, per email style={b.get('style')!r}"
            )
        for name in _DERIVED_ATTRIBUTES:
            if a.get(name) != b.get(name):
                differences.append(f"{where}: {name}={a.get(name)!r}, per email {b.get(name)!r}")
        if len(differences) >= limit:
            break
    return differences[:limit]


def _declarations(style: str | None) -> list[tuple[str, str]]:
    pairs = []
    for declaration in (style or "").split(";"):
        if ":" in declaration:
            name, value = declaration.split(":", 1)
            pairs.append((name.strip().lower(), " ".join(value.split())))
    return pairs


def _words(text: str | None) -> list[str]:
    return (text or "").split()


def _path(element: etree._Element) -> str:
    parts = []
    for node in [element, *element.iterancestors()][:4]:
        label = str(node.tag)
        if node.get("class"):
            label += "." + ".".join(node.get("class", "").split())
        parts.append(label)
    return " < ".join(parts)
