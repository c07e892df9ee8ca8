"""FAQ snippets: what a store writes in faq_snippets/<locale>/<id>.md, and what it gets back.

A store owner fixing snippets sees every problem at once, each at the file and line their
editor shows; a valid snippet comes back with its answer as email-safe HTML and as plain
text, and the library hands out the snippets of one email kind in one lookup.
"""

from __future__ import annotations

import textwrap
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aftercare.emails.email_kind import EmailKind
from aftercare.enrichment.faq import (
    InvalidSnippetsError,
    SnippetProblem,
    check_snippets,
    load_snippets,
)
from aftercare.enrichment.faq.markdown_body import render_answer
from aftercare.enrichment.faq.snippets import SNIPPET_KINDS
from aftercare.errors import TemplateError
from aftercare.rendering.renderer import answer_text as renderer_answer_text

CUSTOMS = """\
---
id: customs-duties
question: Will I have to pay customs duties or import taxes?
locale: en
kinds: [order_confirmation, order_shipped]
when:
  crosses_customs: true
  payment_method: [card, paypal]
keywords:
  en: [customs, duties, import tax]
  zh-CN: [关税, 海关]
priority: 0.35
valid_from: 2026-11-15
valid_until: 2026-12-24
---
Your parcel crosses a customs border, so the destination country may charge import duties
and taxes when it arrives. [What to expect](https://shop.example/pages/customs).
"""


def write(folder: Path, locale: str, name: str, text: str) -> Path:
    path = folder / locale / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``fragment``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def problems_in(folder: Path) -> list[tuple[str, int | None, str]]:
    return [(p.path.name, p.line, p.message) for p in check_snippets(folder)]


# A valid snippet ---------------------------------------------------------------------


def test_a_valid_snippet_loads_with_every_field_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "en", "customs-duties", CUSTOMS)

    library = load_snippets(tmp_path)

    snippet = library.get("en", "customs-duties")
    assert snippet is not None
    assert snippet.topic == "customs-duties"  # defaults to the id
    assert snippet.anchor == "customs-duties"  # defaults to the id
    assert snippet.question == "Will I have to pay customs duties or import taxes?"
    assert snippet.kinds == frozenset({"order_confirmation", "order_shipped"})
    assert snippet.when == {
        "crosses_customs": True,
        "payment_method": frozenset({"card", "paypal"}),
    }
    assert snippet.keywords == {
        "en": ("customs", "duties", "import tax"),
        "zh-CN": ("关税", "海关"),
    }
    assert snippet.priority == 0.35
    assert (snippet.valid_from, snippet.valid_until) == (date(2026, 11, 15), date(2026, 12, 24))
    assert snippet.body_markdown.startswith("Your parcel crosses a customs border")
    assert '<a href="https://shop.example/pages/customs">What to expect</a>' in snippet.answer_html
    assert "What to expect (https://shop.example/pages/customs)" in snippet.answer_text
    assert (snippet.source, snippet.line) == (path, 1)


def test_defaults_for_the_optional_fields(tmp_path: Path) -> None:
    write(
        tmp_path,
        "en",
        "support-hours",
        "---\nid: support-hours\nquestion: When can I reach you?\nlocale: en\n"
        "kinds: [welcome]\n---\nEvery weekday from 9 to 5.\n",
    )

    snippet = load_snippets(tmp_path).get("en", "support-hours")

    assert snippet is not None
    assert snippet.priority == 0.1  # the README's default
    assert snippet.when == {} and snippet.keywords == {}
    assert snippet.valid_from is None and snippet.valid_until is None


def test_a_snippet_is_shown_only_between_its_dates_both_included(tmp_path: Path) -> None:
    write(tmp_path, "en", "customs-duties", CUSTOMS)
    snippet = load_snippets(tmp_path).in_locale("en")[0]

    assert not snippet.shown_on(date(2026, 11, 14))
    assert snippet.shown_on(date(2026, 11, 15))
    assert snippet.shown_on(date(2026, 12, 24))
    assert not snippet.shown_on(date(2026, 12, 25))


def test_the_snippet_kinds_are_the_email_kinds() -> None:
    # enrichment may not import emails (a lower layer), so the list is kept equal here.
    assert {kind.value for kind in EmailKind} == SNIPPET_KINDS


# Every problem, with its file and line ---------------------------------------------


def _replace(old: str, new: str) -> str:
    assert old in CUSTOMS
    return CUSTOMS.replace(old, new)


# (what is wrong, the file's text, the text on the line to blame, what the message says)
PROBLEMS = [
    (
        "yaml",
        _replace("kinds: [order_confirmation, order_shipped]", "kinds: [a, b"),
        "kinds:",
        "not valid YAML",
    ),
    (
        "missing",
        _replace("question: Will I have to pay customs duties or import taxes?\n", ""),
        "---",
        "'question' is missing",
    ),
    (
        "empty",
        _replace("kinds: [order_confirmation, order_shipped]", "kinds: []"),
        "kinds:",
        "'kinds' is empty",
    ),
    (
        "blank question",
        _replace("question: Will I have to pay customs duties or import taxes?", 'question: "  "'),
        "question:",
        "'question' is empty",
    ),
    ("empty topic", _replace("locale: en", "locale: en\ntopic:"), "topic:", "'topic' is empty"),
    (
        "unknown field",
        _replace("priority: 0.35", "priority: 0.35\ncolour: red"),
        "colour:",
        "unknown field 'colour'",
    ),
    (
        "id format",
        _replace("id: customs-duties", "id: Customs_Duties"),
        "id:",
        "lower-case letters, digits and hyphens",
    ),
    (
        "id and file name",
        _replace("id: customs-duties", "id: customs"),
        "id:",
        "does not match the file name",
    ),
    ("locale", _replace("locale: en", "locale: ru"), "locale:", "does not match the folder"),
    ("kind", _replace("order_shipped]", "shipped]"), "kinds:", "unknown kind 'shipped'"),
    (
        "condition",
        _replace("  crosses_customs: true", "  moon_phase: full"),
        "moon_phase",
        "unknown condition 'moon_phase'",
    ),
    (
        "condition type",
        _replace("crosses_customs: true", "crosses_customs: maybe"),
        "crosses_customs",
        "must be true or false",
    ),
    (
        "condition as text",
        _replace("crosses_customs: true", 'crosses_customs: "true"'),
        "crosses_customs",
        "must be true or false",
    ),
    (
        "list value",
        _replace("[card, paypal]", "[card, bitcoin]"),
        "payment_method",
        "unknown value 'bitcoin'",
    ),
    ("list condition type", _replace("[card, paypal]", "true"), "payment_method", "must be a list"),
    ("priority range", _replace("priority: 0.35", "priority: 35"), "priority:", "from 0 to 1"),
    ("priority type", _replace("priority: 0.35", "priority: high"), "priority:", "from 0 to 1"),
    (
        "dates",
        _replace("valid_from: 2026-11-15", "valid_from: 2027-01-01"),
        "valid_from:",
        "is after valid_until",
    ),
    (
        "date",
        _replace("valid_until: 2026-12-24", "valid_until: next week"),
        "valid_until:",
        "must be a date",
    ),
    (
        "duplicate key",
        _replace("priority: 0.35", "priority: 0.35\npriority: 0.4"),
        "priority: 0.4",
        "given twice",
    ),
    (
        "jinja question",
        _replace("import taxes?", "import taxes, {{ customer.first_name }}?"),
        "question:",
        "Jinja",
    ),
    ("jinja body", _replace("and taxes when", "and taxes {% if x %}when"), "and taxes", "Jinja"),
    (
        "jinja comment",
        _replace("and taxes when", "and taxes {# note #} when"),
        "and taxes",
        "Jinja",
    ),
    (
        "http link",
        _replace("https://shop.example", "http://shop.example"),
        "What to expect",
        "not https",
    ),
    (
        "relative link",
        _replace("https://shop.example/pages/customs", "/pages/customs"),
        "What to expect",
        "not https",
    ),
    (
        "malformed link",
        _replace("(https://shop.example/pages/customs)", "(https://shop.example/pages customs)"),
        "What to expect",
        "could not read",
    ),
    (
        "javascript link",
        _replace("(https://shop.example/pages/customs)", "(javascript:alert(1))"),
        "What to expect",
        "could not read",
    ),
    (
        "no host",
        _replace("https://shop.example/pages/customs", "https:///pages"),
        "What to expect",
        "no valid host",
    ),
    ("raw html", _replace("and taxes when", "and <b>taxes</b> when"), "and <b>taxes", "raw HTML"),
    ("html block", CUSTOMS + "\n<div>More</div>\n", "<div>", "raw HTML"),
    ("heading", CUSTOMS + "\n## Customs\n", "## Customs", "a heading"),
    ("image", CUSTOMS + "\n![a box](https://shop.example/box.png)\n", "![a box]", "an image"),
]


@pytest.mark.parametrize(
    ("text", "blamed", "message"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_each_problem_is_reported_at_its_file_and_line(
    tmp_path: Path, text: str, blamed: str, message: str
) -> None:
    write(tmp_path, "en", "customs-duties", text)

    found = problems_in(tmp_path)

    expected_line = line_of(text, blamed)
    assert any(
        name == "customs-duties.md" and line == expected_line and message in said
        for name, line, said in found
    ), found


def test_an_empty_answer_is_reported_below_the_front_matter(tmp_path: Path) -> None:
    text = CUSTOMS.split("---\nYour parcel")[0] + "---\n\n"
    write(tmp_path, "en", "customs-duties", text)

    [(name, line, message)] = problems_in(tmp_path)

    closing = text.splitlines().index("---", 1) + 1
    assert name == "customs-duties.md" and message.startswith("the answer is empty")
    assert line == closing + 1


def test_a_file_without_front_matter_is_reported_on_its_first_line(tmp_path: Path) -> None:
    write(tmp_path, "en", "notes", "Just some notes about customs.\n")

    assert problems_in(tmp_path) == [
        (
            "notes.md",
            1,
            "no front matter: a snippet starts with a line '---', its fields, and '---'",
        )
    ]


def test_a_file_that_is_not_utf8_is_reported_at_the_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "en", "customs-duties", CUSTOMS)
    path.write_bytes(CUSTOMS.encode() + "Zölle\n".encode("latin-1"))

    [(_, line, message)] = problems_in(tmp_path)

    assert line == len(CUSTOMS.splitlines()) + 1
    assert "UTF-8" in message


def test_two_files_of_a_locale_with_one_id(tmp_path: Path) -> None:
    write(tmp_path, "en", "customs-duties", CUSTOMS)
    write(tmp_path, "en", "customs-copy", CUSTOMS)

    found = problems_in(tmp_path)

    # The file named after the id keeps it; the copy is told to change its id.
    duplicates = [(n, li) for n, li, m in found if "already used by customs-duties.md" in m]
    assert duplicates == [("customs-copy.md", line_of(CUSTOMS, "id:"))]


def test_the_same_id_in_another_locale_is_a_translation_not_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "en", "customs-duties", CUSTOMS)
    write(tmp_path, "de", "customs-duties", CUSTOMS.replace("locale: en", "locale: de"))

    library = load_snippets(tmp_path)

    assert [s.locale for s in library.translations("customs-duties")] == ["de", "en"]


def test_a_translation_answering_another_topic_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "en", "customs-duties", CUSTOMS)
    german = CUSTOMS.replace("locale: en", "locale: de").replace(
        "question:", "topic: import-fees\nquestion:"
    )
    write(tmp_path, "de", "customs-duties", german)

    found = check_snippets(tmp_path)

    # Which one is wrong cannot be told: both are reported, each naming the other.
    reported = {(p.path.parent.name, p.line) for p in found if "differs from" in p.message}
    assert reported == {("de", line_of(german, "topic:")), ("en", 1)}


def test_a_folder_that_is_not_a_locale_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "drafts_2026", "customs-duties", CUSTOMS)

    [problem] = check_snippets(tmp_path)

    assert problem.path == tmp_path / "drafts_2026" and "is not a locale" in problem.message


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    broken = (
        _replace("priority: 0.35", "priority: 2")
        .replace("order_shipped]", "shipped]")
        .replace("and taxes when", "and <i>taxes</i> when")
    )
    write(tmp_path, "en", "customs-duties", broken)
    write(tmp_path, "en", "returns", "---\nid: returns\n---\nSend it back.\n")

    with pytest.raises(InvalidSnippetsError) as raised:
        load_snippets(tmp_path)

    problems = raised.value.problems
    assert {(p.path.name, p.line) for p in problems} >= {
        ("customs-duties.md", line_of(broken, "priority:")),
        ("customs-duties.md", line_of(broken, "kinds:")),
        ("customs-duties.md", line_of(broken, "<i>taxes")),
        ("returns.md", 1),  # question, locale and kinds are missing
    }
    assert len([p for p in problems if p.path.name == "returns.md"]) == 3
    # A store owner reads the message in a log: every problem, by file and line.
    message = str(raised.value)
    assert all(str(p) in message for p in problems)
    assert isinstance(raised.value, TemplateError)


def test_one_problem_reads_like_a_template_error(tmp_path: Path) -> None:
    path = write(tmp_path, "en", "customs-duties", _replace("priority: 0.35", "priority: 2"))

    with pytest.raises(InvalidSnippetsError) as raised:
        load_snippets(tmp_path)

    assert raised.value.template == str(path)
    assert raised.value.line == line_of(CUSTOMS, "priority:")
    assert str(raised.value).startswith(f"template {path}, line {raised.value.line}: priority 2")


def test_a_missing_folder_is_a_problem_not_an_empty_library(tmp_path: Path) -> None:
    assert check_snippets(tmp_path / "faq") == [
        SnippetProblem(
            tmp_path / "faq",
            None,
            "no FAQ snippet folder here: create <locale>/<id>.md files in it",
        )
    ]


# The library -------------------------------------------------------------------------


def _snippet(snippet_id: str, locale: str, kinds: str, priority: float) -> str:
    return textwrap.dedent(
        f"""\
        ---
        id: {snippet_id}
        question: Question {snippet_id}?
        locale: {locale}
        kinds: [{kinds}]
        priority: {priority}
        ---
        Answer {snippet_id}.
        """
    )


def test_for_kind_gives_a_locales_snippets_of_one_kind_most_likely_first(tmp_path: Path) -> None:
    write(tmp_path, "en", "returns", _snippet("returns", "en", "order_shipped", 0.2))
    write(tmp_path, "en", "track", _snippet("track", "en", "order_shipped, order_delayed", 0.6))
    write(tmp_path, "en", "welcome", _snippet("welcome", "en", "welcome", 0.9))
    write(tmp_path, "en", "customs", _snippet("customs", "en", "order_shipped", 0.2))
    write(tmp_path, "th", "track", _snippet("track", "th", "order_shipped", 0.6))

    library = load_snippets(tmp_path)

    assert [s.id for s in library.for_kind("en", "order_shipped")] == [
        "track",
        "customs",
        "returns",
    ]
    assert [s.id for s in library.for_kind("en", "order_delayed")] == ["track"]
    assert [(s.id, s.locale) for s in library.for_kind("th", "order_shipped")] == [("track", "th")]
    assert library.for_kind("en", "order_refunded") == ()
    assert library.for_kind("de", "order_shipped") == ()
    assert library.locales == ("en", "th")
    assert library.get("th", "returns") is None


# Markdown to email HTML and text -------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))


def _tags(fragment: str) -> list[tuple[str, tuple[str, ...]]]:
    parser = _Tags()
    parser.feed(fragment)
    return parser.tags


BODY = """\
Send it back within **30 days**, *unworn*, with the
[returns form](https://shop.example/returns?from=email&x=1).

- Pack it in the original box
- Drop it at any post office
  - keep the receipt

1. Print the label
2. Stick it on
"""


def test_the_answer_html_uses_only_tags_every_mail_client_shows() -> None:
    rendered = render_answer(BODY)

    assert rendered.problems == ()
    allowed = {"p": (), "ul": (), "ol": (), "li": (), "strong": (), "em": (), "a": ("href",)}
    tags = _tags(rendered.html)
    assert {tag for tag, _ in tags} == set(allowed)
    assert all(attrs == allowed[tag] for tag, attrs in tags)  # no target, no title, no class


def test_the_answer_html_keeps_emphasis_links_and_lists() -> None:
    html = render_answer(BODY).html

    assert "<strong>30 days</strong>" in html and "<em>unworn</em>" in html
    assert '<a href="https://shop.example/returns?from=email&amp;x=1">returns form</a>' in html
    assert "<li>Pack it in the original box</li>" in html
    assert "<ol>\n<li>Print the label</li>\n<li>Stick it on</li>\n</ol>" in html
    assert "<ul>\n<li>keep the receipt</li>\n</ul>" in html  # the nested list


def test_the_answer_text_writes_links_out_and_lists_as_dashes() -> None:
    text = render_answer(BODY).text

    assert text == (
        "Send it back within 30 days, unworn, with the returns form"
        " (https://shop.example/returns?from=email&x=1).\n"
        "\n"
        "- Pack it in the original box\n"
        "- Drop it at any post office\n"
        "  - keep the receipt\n"
        "\n"
        "1. Print the label\n"
        "2. Stick it on"
    )


def test_an_autolink_is_written_once_in_the_text() -> None:
    rendered = render_answer("See <https://shop.example/faq>.")

    assert rendered.text == "See https://shop.example/faq."
    assert '<a href="https://shop.example/faq">https://shop.example/faq</a>' in rendered.html


def test_quotes_and_dashes_stay_as_typed_and_text_is_escaped() -> None:
    rendered = render_answer('Sizes run "small" -- order one up. 5 < 6 & more...')

    assert rendered.html == '<p>Sizes run "small" -- order one up. 5 &lt; 6 &amp; more...</p>\n'
    assert rendered.text == 'Sizes run "small" -- order one up. 5 < 6 & more...'


def test_the_renderers_own_text_fallback_keeps_neighbouring_blocks_apart() -> None:
    # The renderer strips the tags of answer_html for the text part today; words of two
    # paragraphs or list items must not run together there.
    stripped = renderer_answer_text(render_answer("First.\n\nSecond.\n\n- one\n- two\n").html)

    assert stripped.split() == ["First.", "Second.", "one", "two"]
