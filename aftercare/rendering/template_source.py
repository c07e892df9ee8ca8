"""Read an HTML email template as both languages it is written in: HTML and Jinja.

CSS is inlined once per template, before any data exists (``template_inlining``), and
the template checker looks for Jinja where it must not be (inside ``class`` and ``style``
attributes). Both need to know where each HTML tag and each Jinja tag starts and ends in
the file a marketer edited, including a Jinja tag *inside* an HTML tag
(``href="{{ order.status_url }}"``), which an HTML parser would otherwise read as
garbage. This module finds those spans; it never changes the text, so every offset and
line number it reports is the marketer's own.

It is deliberately a scanner, not a full HTML parser: email templates are
hand-written, ``lxml`` does the real parsing later, and a scanner that keeps offsets is
what lets the inliner write styles back into the original file without moving a line.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Literal

JinjaKind = Literal["output", "statement", "comment"]

# Elements whose content is raw text to an HTML parser: a "<" in them is not a tag.
_RAW_TEXT_ELEMENTS = frozenset({"style", "script"})
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9:-]*")
_ATTRIBUTE_NAME_END = re.compile(r"[\s\"'>/=]|\{[{%#]")
_RAW_BLOCK_START = re.compile(r"\{%-?\s*raw\s*-?%\}")
_RAW_BLOCK_END = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_JINJA_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_JINJA_KINDS: dict[str, JinjaKind] = {"{{": "output", "{%": "statement", "{#": "comment"}
# Any Jinja tag, for taking the Jinja out of a stretch of HTML or CSS whose tags have been
# found already (an attribute value, a <style> body). Unlike the scanner it does not skip
# a closer inside a quoted string; the stretches it is used on hold none.
JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class TemplateSourceError(ValueError):
    """The file cannot be read as HTML with Jinja in it (an unclosed tag, say)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class JinjaTag:
    """``{{ … }}``, ``{% … %}`` or ``{# … #}``; ``body`` is what is between the delimiters."""

    start: int
    end: int
    kind: JinjaKind
    body: str


@dataclass(frozen=True)
class Attribute:
    """One attribute of a start tag. ``value_start``/``value_end`` exclude the quotes."""

    name: str
    start: int
    end: int
    value_start: int | None
    value_end: int | None
    jinja: tuple[JinjaTag, ...] = ()


@dataclass(frozen=True)
class StartTag:
    name: str
    start: int
    end: int
    name_end: int
    attributes: tuple[Attribute, ...]
    # Jinja standing between attributes: ``<td {% if wide %}colspan="2"{% endif %}>``.
    jinja: tuple[JinjaTag, ...] = ()

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True)
class EndTag:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Text:
    """Text, an HTML comment or a declaration such as ``<!DOCTYPE html>``: not a tag."""

    start: int
    end: int
    is_markup: bool = False  # a comment or declaration, copied as it is


Token = JinjaTag | StartTag | EndTag | Text


@dataclass
class ScannedTemplate:
    """A template's text and its tokens, in order, with offsets into ``source``."""

    name: str
    source: str
    tokens: list[Token]
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def line_of(self, offset: int) -> int:
        """The 1-based line ``offset`` is on: what a marketer's editor shows."""
        if not self._line_starts:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.source)]
        return bisect.bisect_right(self._line_starts, offset)

    def text(self, token: Token) -> str:
        return self.source[token.start : token.end]

    def attribute_value(self, attribute: Attribute) -> str:
        if attribute.value_start is None or attribute.value_end is None:
            return ""
        return self.source[attribute.value_start : attribute.value_end]


def scan(source: str, name: str = "<template>") -> ScannedTemplate:
    """Split ``source`` into HTML tags, Jinja tags and text, keeping every offset."""
    return ScannedTemplate(name=name, source=source, tokens=list(_Scanner(source).tokens()))


class _Scanner:
    def __init__(self, source: str) -> None:
        self.source = source
        self.at = 0

    def line(self, offset: int) -> int:
        return self.source.count("\n", 0, offset) + 1

    def tokens(self) -> list[Token]:
        tokens: list[Token] = []
        text_start = 0
        raw_element: str | None = None
        source = self.source

        def flush(until: int) -> None:
            if until > text_start:
                tokens.append(Text(text_start, until))

        while self.at < len(source):
            at = self.at
            two = source[at : at + 2]
            if two in _JINJA_CLOSERS:
                flush(at)
                raw = _RAW_BLOCK_START.match(source, at)
                if raw:
                    end = _RAW_BLOCK_END.search(source, raw.end())
                    if end is None:
                        raise TemplateSourceError("{% raw %} is never closed", self.line(at))
                    tokens.append(Text(raw.end(), end.start()))
                    self.at = end.end()
                else:
                    tokens.append(self.jinja_tag())
                text_start = self.at
                continue
            if raw_element is not None:
                if (
                    source.startswith("</", at)
                    and source[at + 2 : at + 2 + len(raw_element)].lower() == raw_element
                ):
                    flush(at)
                    tokens.append(self.end_tag())
                    raw_element = None
                    text_start = self.at
                else:
                    self.at += 1
                continue
            if source[at] == "<":
                if source.startswith("<!--", at):
                    flush(at)
                    end = source.find("-->", at + 4)
                    if end < 0:
                        raise TemplateSourceError("an HTML comment is never closed", self.line(at))
                    tokens.append(Text(at, end + 3, is_markup=True))
                    self.at = end + 3
                    text_start = self.at
                    continue
                if source.startswith("<!", at):
                    flush(at)
                    end = source.find(">", at)
                    if end < 0:
                        raise TemplateSourceError(
                            "a <!…> declaration is never closed", self.line(at)
                        )
                    tokens.append(Text(at, end + 1, is_markup=True))
                    self.at = end + 1
                    text_start = self.at
                    continue
                if source.startswith("</", at) and _TAG_NAME.match(source, at + 2):
                    flush(at)
                    tokens.append(self.end_tag())
                    text_start = self.at
                    continue
                if _TAG_NAME.match(source, at + 1):
                    flush(at)
                    tag = self.start_tag()
                    tokens.append(tag)
                    if tag.name in _RAW_TEXT_ELEMENTS:
                        raw_element = tag.name
                    text_start = self.at
                    continue
            self.at += 1
        flush(len(source))
        return tokens

    def jinja_tag(self) -> JinjaTag:
        """The Jinja tag starting at ``self.at``; quoted strings may hold its closer."""
        source, start = self.source, self.at
        opener = source[start : start + 2]
        closer = _JINJA_CLOSERS[opener]
        at = start + 2
        quote: str | None = None
        while at < len(source):
            char = source[at]
            if opener != "{#":
                if quote:
                    if char == "\\":
                        at += 2
                        continue
                    if char == quote:
                        quote = None
                    at += 1
                    continue
                if char in "\"'":
                    quote = char
                    at += 1
                    continue
            if source.startswith(closer, at):
                self.at = at + 2
                body = source[start + 2 : at].strip("-+ \t\r\n")
                return JinjaTag(start, self.at, _JINJA_KINDS[opener], body)
            at += 1
        raise TemplateSourceError(f"{opener} is never closed with {closer}", self.line(start))

    def end_tag(self) -> EndTag:
        source, start = self.source, self.at
        match = _TAG_NAME.match(source, start + 2)
        assert match is not None
        end = source.find(">", match.end())
        if end < 0:
            raise TemplateSourceError(f"</{match.group()} is never closed with >", self.line(start))
        self.at = end + 1
        return EndTag(match.group().lower(), start, self.at)

    def start_tag(self) -> StartTag:
        source, start = self.source, self.at
        match = _TAG_NAME.match(source, start + 1)
        assert match is not None
        name = match.group().lower()
        self.at = match.end()
        attributes: list[Attribute] = []
        between: list[JinjaTag] = []
        while True:
            while self.at < len(source) and source[self.at].isspace():
                self.at += 1
            if self.at >= len(source):
                raise TemplateSourceError(f"<{name} is never closed with >", self.line(start))
            if source[self.at : self.at + 2] in _JINJA_CLOSERS:
                between.append(self.jinja_tag())
                continue
            if source.startswith("/>", self.at):
                self.at += 2
                break
            if source[self.at] == ">":
                self.at += 1
                break
            if source[self.at] == "/":
                self.at += 1
                continue
            attributes.append(self.attribute())
        return StartTag(name, start, self.at, match.end(), tuple(attributes), tuple(between))

    def attribute(self) -> Attribute:
        source, start = self.source, self.at
        jinja: list[JinjaTag] = []
        while self.at < len(source):
            stop = _ATTRIBUTE_NAME_END.search(source, self.at)
            self.at = stop.start() if stop else len(source)
            if stop and stop.group().startswith("{"):
                jinja.append(self.jinja_tag())  # a Jinja tag inside the name
                continue
            break
        name = source[start : self.at].lower()
        if not name:  # a stray quote or "=": skip it rather than loop forever
            self.at += 1
            return Attribute(source[start], start, self.at, None, None)
        probe = self.at
        while probe < len(source) and source[probe].isspace():
            probe += 1
        if probe >= len(source) or source[probe] != "=":
            return Attribute(name, start, self.at, None, None, tuple(jinja))
        self.at = probe + 1
        while self.at < len(source) and source[self.at].isspace():
            self.at += 1
        quote = source[self.at] if self.at < len(source) and source[self.at] in "\"'" else None
        if quote:
            self.at += 1
        value_start = self.at
        while self.at < len(source):
            if source[self.at : self.at + 2] in _JINJA_CLOSERS:
                jinja.append(self.jinja_tag())
                continue
            char = source[self.at]
            if (quote and char == quote) or (not quote and (char.isspace() or char == ">")):
                break
            self.at += 1
        else:
            raise TemplateSourceError(f"the value of {name}= is never closed", self.line(start))
        value_end = self.at
        if quote:
            self.at += 1
        return Attribute(name, start, self.at, value_start, value_end, tuple(jinja))
