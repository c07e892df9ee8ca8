"""English a translator can never reach: words written in a template outside ``{% trans %}``.

Detected, not guessed: every sample email is rendered with a marking translation that
wraps each translated sentence in private-use characters, and every value the email was
given (names, products, amounts, the store's words) is taken out of what it shows. Any
word left is text the template itself wrote, unmarked, and a Russian, Thai or Chinese
customer would read it in English. The words are then found in the template files, so the
finding names the file and line to fix.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.etree
import lxml.html

from aftercare.authoring.samples import sample_emails
from aftercare.emails import EmailKind
from aftercare.errors import TemplateError
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import StoreFacts

_OPEN, _CLOSE = "\ue000", "\ue001"
# A translated sentence with no other inside: a link placeholder's own words are a
# sentence within the sentence, so they are taken out first (innermost first).
_INNERMOST = re.compile(f"{_OPEN}[^{_OPEN}{_CLOSE}]*{_CLOSE}")
_TAKEN = "\ue002"
_SPACES = re.compile(r"\s+")
# A word of two or more Latin letters: what an unmarked English sentence leaves behind.
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
_SHOWN_ATTRIBUTES = ("alt", "title", "aria-label")


@dataclass(frozen=True)
class UntranslatedText:
    template: str
    line: int | None
    words: str
    sample: str


class _Marking(gettext.NullTranslations):
    """Every translated sentence, wrapped, so what is left unwrapped is what no
    catalogue can translate."""

    def gettext(self, message: str) -> str:
        return f"{_OPEN}{message}{_CLOSE}"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return f"{_OPEN}{msgid1 if n == 1 else msgid2}{_CLOSE}"

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return self.ngettext(msgid1, msgid2, n)


class _MarkingTranslations:
    def __init__(self) -> None:
        self.rendered: dict[tuple[object, ...], object] = {}

    def for_locale(self, tag: str | None) -> gettext.NullTranslations:
        return _Marking()


def untranslated_text(templates_dir: Path, store: StoreFacts) -> list[UntranslatedText]:
    """The unmarked English each kind's templates show, one finding per file and line."""
    templates_dir = Path(templates_dir).resolve()
    renderer = EmailRenderer(templates_dir, check_interval=3600)
    locales = renderer.available_locales()  # loads the folder once; nothing reloads it
    renderer.environment.translations = _MarkingTranslations()  # type: ignore[attr-defined]
    sources = {
        path.relative_to(templates_dir).as_posix(): path.read_text(
            encoding="utf-8", errors="replace"
        )
        for path in sorted(templates_dir.rglob("*"))
        if path.suffix in (".html", ".txt") and path.is_file()
    }
    found: dict[tuple[str, int | None], UntranslatedText] = {}
    for kind in EmailKind:
        for sample in [s for s in sample_emails(locale="en") if s.kind is kind]:
            context = sample.context(store, locales)
            try:
                email = renderer.render(kind, context, context["locale"])
            except TemplateError:
                continue  # the render checks report it
            given = sorted(set(_strings(context)), key=len, reverse=True)
            shown = [email.subject, email.preheader, email.text, *_visible_html(email.html)]
            for part in shown:
                for words in _leftover(part, given):
                    template, line = _locate(words, sources, kind)
                    found.setdefault(
                        (template, line), UntranslatedText(template, line, words, sample.name)
                    )
    return sorted(found.values(), key=lambda f: (f.template, f.line or 0))


# Where a reader sees a break: the text on either side is not one sentence.
_BREAKING = {"br", "p", "div", "td", "th", "tr", "li", "h1", "h2", "h3", "h4", "table"}


def _visible_html(document: str) -> Iterator[str]:
    root = lxml.html.document_fromstring(document)
    for element in root.iter(*_BREAKING):
        element.tail = "\n" + (element.tail or "")
    for element in root.iter("style", "script", "head"):
        if element.tag != "head":
            element.drop_tree()
    title = root.find(".//title")
    if title is not None and title.text:
        yield title.text
    body = root.find("body")
    if body is not None:
        yield body.text_content()
    for element in root.iter():
        for attribute in _SHOWN_ATTRIBUTES:
            value = element.get(attribute)
            if value:
                yield value


def _leftover(text: str, given: list[str]) -> Iterator[str]:
    """Runs of words in ``text`` that neither a translation nor a given value produced."""
    rest, taken = _INNERMOST.subn(_TAKEN, text)
    while taken:
        rest, taken = _INNERMOST.subn(_TAKEN, rest)
    # One space for any run of white space, in the email and in its values alike: the
    # plain-text part wraps long lines, so a value may stand across a line break.
    rest = _SPACES.sub(" ", rest.replace(_TAKEN, "\n"))
    if given:
        # Whole values only: a two-letter value must not cut a word of the template's.
        values = "|".join(_whole(_SPACES.sub(" ", v)) for v in given)
        rest = re.sub(values, "\n", rest)
    for chunk in re.split(r"[\n\r]+", rest):
        words = _WORD.findall(chunk)
        if words:
            yield " ".join(words)


def _whole(value: str) -> str:
    """A pattern for ``value`` that does not cut a word: a two-letter value must not take
    the middle of one of the template's words (``; the label`` may follow one)."""
    before = r"(?<!\w)" if value[0].isalnum() else ""
    after = r"(?!\w)" if value[-1].isalnum() else ""
    return f"{before}{re.escape(value)}{after}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped and _WORD.search(stripped):
            yield stripped
            if "<" in stripped:  # the store's HTML (FAQ answers): its words as shown
                try:
                    fragment = lxml.html.fragment_fromstring(stripped, create_parent="div")
                except (ValueError, lxml.etree.ParserError):
                    return
                for piece in fragment.itertext():
                    if piece.strip() and _WORD.search(piece):
                        yield piece.strip()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def _locate(words: str, sources: Mapping[str, str], kind: EmailKind) -> tuple[str, int | None]:
    """The template file and line that wrote ``words``: the kind's own files first."""
    first = words.split(" ", 1)[0]
    pattern = re.compile(r"\b" + r"\W+(?:\{[^}]*\}\W*)*".join(map(re.escape, words.split(" "))))
    ordered = sorted(sources, key=lambda name: (kind.value not in name, name))
    for name in ordered:
        match = pattern.search(sources[name])
        if match:
            return name, sources[name].count("\n", 0, match.start()) + 1
    for name in ordered:
        index = sources[name].find(first)
        if index >= 0:
            return name, sources[name].count("\n", 0, index) + 1
    return f"en/{kind.value}.html", None
