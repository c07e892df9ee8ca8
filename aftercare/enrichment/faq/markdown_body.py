"""A snippet's Markdown body as the two forms an email shows it in: HTML and plain text.

The body is written by the store, once, and printed unescaped into every email it fits
(the renderer marks ``answer_html`` as the one trusted field), so the HTML is built here
from an allowlist rather than taken from a Markdown renderer: only ``p``, ``ul``, ``ol``,
``li``, ``strong``, ``em`` and ``a href`` ever come out. Those are what every mail client
shows the same way (Outlook's Word engine included); headings, images, code blocks, quotes
and tables are reported as problems instead, since the email already gives the question
as the heading and the renderer styles only what ``.answer p`` and ``.answer a`` reach.

Raw HTML is reported, not escaped: markdown-it with ``html`` disabled would print
``<b>`` as visible text, which the store owner would only notice in a customer's inbox.
Links get no ``target`` (mail clients open links in a browser anyway, and Gmail strips it)
and must be ``https``: a shop's FAQ page over plain HTTP gets flagged by mail filters.

The plain-text form is for the text part of the email: links as ``text (url)``, list items
as ``- `` (``1. `` in numbered lists), paragraphs separated by blank lines.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Typographer off: the store's quotes and dashes stay as typed, in every language (its
# replacements are English conventions). HTML off for the output; a second parser with
# HTML on finds what markdown-it would have read as HTML, to report it by line.
_RENDERING = MarkdownIt("commonmark", {"html": False, "typographer": False})
_FINDING_HTML = MarkdownIt("commonmark", {"html": True, "typographer": False})

# Text markdown-it did not turn into a link although it looks like one: an address with
# a space, a ``javascript:`` or ``file:`` scheme (refused by markdown-it's link check), or
# a reference link without its definition.
_UNREAD_LINK = re.compile(r"\]\(|\]\[")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")

_UNSUPPORTED_BLOCKS = {
    "heading_open": "a heading: the email already shows the question as the heading;"
    " write the answer as paragraphs",
    "blockquote_open": "a quote ('>'): write the answer as paragraphs",
    "code_block": "a code block (a line indented by four spaces): remove the indentation",
    "fence": "a code block ('```'): write the answer as paragraphs",
    "hr": "a horizontal rule ('---' or '***'): separate paragraphs with a blank line",
    "table_open": "a table: mail clients show tables very differently; use a list",
}
_UNSUPPORTED_INLINE = {
    "image": "an image: FAQ answers are text; link to a page that shows the picture",
}


@dataclass(frozen=True)
class MarkdownProblem:
    """Something in a body the email cannot show as written; ``line`` counts from 1."""

    line: int
    message: str


@dataclass(frozen=True)
class RenderedAnswer:
    """A body as email HTML and as plain text, and what in it could not be shown.

    A body with problems still renders (what could not be shown is left out), so a check
    can report every problem at once; a snippet with problems is never sent.
    """

    html: str
    text: str
    problems: tuple[MarkdownProblem, ...] = ()


def render_answer(markdown: str) -> RenderedAnswer:
    """The email HTML and plain text of ``markdown``, with every problem found in it."""
    problems = [*_html_problems(markdown)]
    tokens = _RENDERING.parse(markdown)
    blocks = _Walker(tokens, problems).blocks()
    html_out = "".join(_block_html(block) for block in blocks)
    text_out = "\n\n".join(_block_text(block) for block in blocks)
    problems.extend(_unclosed_emphasis(markdown, tokens))
    problems.sort(key=lambda p: p.line)
    return RenderedAnswer(html=html_out, text=text_out, problems=tuple(problems))


def _unclosed_emphasis(markdown: str, tokens: list[Token]) -> list[MarkdownProblem]:
    """``**`` that Markdown did not read as bold, which the customer would see as asterisks.

    It happens most in Chinese, Japanese and Thai: ``**德国：**4.90欧元`` is not bold,
    because a closing ``**`` after punctuation must be followed by a space or punctuation
    (CommonMark's flanking rule). Moving the punctuation out of the bold fixes it.
    """
    found: list[MarkdownProblem] = []
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        for child in token.children:
            if child.type == "text" and ("**" in child.content or "__" in child.content):
                line = (token.map[0] + 1) if token.map else 1
                found.append(
                    MarkdownProblem(
                        line,
                        f"the asterisks in {child.content.strip()[:40]!r} are not read as bold"
                        " and would show as ** in the email; put punctuation outside the"
                        " bold (**德国**：, not **德国：**) or a space after the closing **",
                    )
                )
    return found


def _html_problems(markdown: str) -> list[MarkdownProblem]:
    """Where markdown-it would read raw HTML: one problem per line (``<b>x</b>`` is one)."""
    found: dict[int, str] = {}
    for token in _FINDING_HTML.parse(markdown):
        if token.type == "html_block":
            found.setdefault(_first_line(token), token.content)
        elif token.type == "inline":
            for child, line in _children_with_lines(token):
                if child.type == "html_inline":
                    found.setdefault(line, child.content)
    return [_raw_html(line, content) for line, content in found.items()]


def _raw_html(line: int, content: str) -> MarkdownProblem:
    shown = content.strip().splitlines()[0][:60] if content.strip() else content
    return MarkdownProblem(
        line,
        f"raw HTML {shown!r}: snippets are Markdown only (**bold**, *italic*,"
        " [text](https://...), lists)",
    )


# The body as a small tree: a paragraph is its inline tokens, a list its items' blocks.
@dataclass(frozen=True)
class _Paragraph:
    inline: tuple[Token, ...]
    hidden: bool  # a tight list item's paragraph: no <p>, no blank line


@dataclass(frozen=True)
class _List:
    ordered: bool
    start: int
    items: tuple[tuple[_Paragraph | _List, ...], ...]


_Block = _Paragraph | _List


class _Walker:
    """Reads markdown-it's flat token stream into ``_Block``s, noting what is unsupported."""

    def __init__(self, tokens: list[Token], problems: list[MarkdownProblem]) -> None:
        self._tokens = tokens
        self._at = 0
        self._problems = problems

    def blocks(self, until: str | None = None) -> tuple[_Block, ...]:
        found: list[_Block] = []
        while self._at < len(self._tokens):
            token = self._tokens[self._at]
            self._at += 1
            if token.type == until:
                break
            if token.type == "paragraph_open":
                found.append(self._paragraph(token))
            elif token.type in ("bullet_list_open", "ordered_list_open"):
                found.append(self._list(token))
            elif token.type in _UNSUPPORTED_BLOCKS:
                self._problems.append(
                    MarkdownProblem(_first_line(token), _UNSUPPORTED_BLOCKS[token.type])
                )
                self._skip_to_close(token)
        return tuple(found)

    def _paragraph(self, opening: Token) -> _Paragraph:
        inline = self._tokens[self._at]
        self._at += 2  # the inline token and paragraph_close
        self._check_inline(inline)
        return _Paragraph(tuple(inline.children or ()), hidden=opening.hidden)

    def _list(self, opening: Token) -> _List:
        ordered = opening.type == "ordered_list_open"
        start = int(opening.attrs.get("start", 1)) if ordered else 1
        closing = opening.type.replace("_open", "_close")
        items = []
        while self._at < len(self._tokens):
            token = self._tokens[self._at]
            self._at += 1
            if token.type == closing:
                break
            if token.type == "list_item_open":
                items.append(self.blocks(until="list_item_close"))
        return _List(ordered, start, tuple(items))

    def _skip_to_close(self, opening: Token) -> None:
        if opening.nesting != 1:
            return
        depth = 1
        while self._at < len(self._tokens) and depth:
            depth += self._tokens[self._at].nesting
            self._at += 1

    def _check_inline(self, inline: Token) -> None:
        for child, line in _children_with_lines(inline):
            if child.type in _UNSUPPORTED_INLINE:
                self._problems.append(MarkdownProblem(line, _UNSUPPORTED_INLINE[child.type]))
            elif child.type == "link_open":
                problem = _link_problem(str(child.attrs.get("href", "")))
                if problem:
                    self._problems.append(MarkdownProblem(line, problem))
            elif child.type == "text" and _UNREAD_LINK.search(child.content):
                self._problems.append(
                    MarkdownProblem(
                        line,
                        f"a link Markdown could not read in {child.content.strip()[:60]!r}:"
                        " write [text](https://...) with no spaces in the address",
                    )
                )


def _link_problem(href: str) -> str | None:
    """Why ``href`` (as markdown-it normalised it) cannot be an FAQ link, or ``None``."""
    try:
        parts = urlsplit(href)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"the link {href!r} is not a valid web address"
    if parts.scheme != "https":
        return (
            f"the link {href!r} is not https: link to the full address, starting with"
            " https://, so mail filters and browsers trust it"
        )
    if not parts.hostname or not _HOST.match(parts.hostname):
        return f"the link {href!r} has no valid host name (https://shop.example/...)"
    return None


def _children_with_lines(inline: Token) -> list[tuple[Token, int]]:
    """Each child of an inline token with the line (from 1) it stands on."""
    line = _first_line(inline)
    found = []
    for child in inline.children or ():
        found.append((child, line))
        if child.type in ("softbreak", "hardbreak"):
            line += 1
    return found


def _first_line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 1


def _block_html(block: _Block) -> str:
    if isinstance(block, _Paragraph):
        inner = _inline_html(block.inline)
        return inner if block.hidden else f"<p>{inner}</p>\n"
    tag = "ol" if block.ordered else "ul"
    items = "".join(
        "<li>" + "".join(_block_html(b) for b in item).strip("\n") + "</li>\n"
        for item in block.items
    )
    # A newline after each closing tag: whoever strips the tags (the renderer's plain-text
    # fallback) keeps the words of neighbouring blocks apart.
    return f"<{tag}>\n{items}</{tag}>\n"


def _inline_html(children: tuple[Token, ...]) -> str:
    out = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(html.escape(child.content, quote=False))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in ("strong_open", "strong_close", "em_open", "em_close"):
            tag = "strong" if kind.startswith("strong") else "em"
            out.append(f"<{tag}>" if kind.endswith("_open") else f"</{tag}>")
        elif kind == "link_open":
            out.append(f'<a href="{html.escape(str(child.attrs.get("href", "")), quote=True)}">')
        elif kind == "link_close":
            out.append("</a>")
    return "".join(out)


def _block_text(block: _Block) -> str:
    if isinstance(block, _Paragraph):
        return _inline_text(block.inline)
    lines = []
    for number, item in enumerate(block.items, start=block.start):
        marker = f"{number}. " if block.ordered else "- "
        first, *rest = _item_text(item).split("\n")
        lines.append(marker + first)
        # Continuation lines (a loose item's second paragraph, a nested list) line up
        # under the item's text, as a reader of the text part expects.
        lines.extend(" " * len(marker) + line if line else "" for line in rest)
    return "\n".join(lines)


def _item_text(item: tuple[_Block, ...]) -> str:
    text = ""
    for block in item:
        part = _block_text(block)
        if not text:
            text = part
        elif isinstance(block, _List):
            text += "\n" + part  # a nested list follows its item's line directly
        else:
            text += "\n\n" + part
    return text


def _inline_text(children: tuple[Token, ...]) -> str:
    out = []
    href: str | None = None
    link_text: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            (link_text if href is not None else out).append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            # The text part reflows like the HTML does: a line break in the source is a
            # space, and the mail client wraps the paragraph.
            (link_text if href is not None else out).append(" ")
        elif kind == "link_open":
            href = str(child.attrs.get("href", ""))
            link_text = []
        elif kind == "link_close" and href is not None:
            text = "".join(link_text)
            # An autolink (<https://...>) is its own text: no need to say it twice.
            out.append(href if text in (href, href.removeprefix("mailto:")) else f"{text} ({href})")
            href = None
    return "".join(out)
