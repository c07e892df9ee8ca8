"""The store's FAQ snippets: read once, checked whole, ready to pick from in microseconds.

A snippet is one Markdown file, ``faq_snippets/<locale>/<id>.md``, with YAML front matter
(the format is ``faq_snippets/README.md``). The store writes them, so every mistake is
reported at once, each with its file and line, the way an editor shows it: a store owner
fixing snippets before a holiday should not have to run the check ten times to find ten
typos. ``load_snippets`` refuses a folder with any problem (``InvalidSnippetsError``);
``check_snippets`` returns the problems for ``aftercare templates check``.

Everything a selection needs is computed here, at load: bodies rendered to email HTML and
text, dates parsed, and the snippets of each (locale, kind) in one tuple, so picking the
likely questions for an email costs a dictionary lookup and a short loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import frontmatter
import yaml

from aftercare.enrichment.faq.markdown_body import render_answer
from aftercare.errors import TemplateError

# The email kinds a snippet may name: the values of ``aftercare.emails.EmailKind``. Listed
# here because enrichment sits below emails in the layers (docs/architecture.md) and may
# not import it; tests/test_faq_snippets.py keeps the two lists equal.
SNIPPET_KINDS = frozenset(
    {
        "welcome",
        "order_confirmation",
        "order_shipped",
        "order_delayed",
        "order_refunded",
        "order_delivered",
    }
)

# The conditions of ``when`` (faq_snippets/README.md, "Conditions"): true/false ones, and
# the ones whose value is a list of the names below.
BOOLEAN_CONDITIONS = frozenset(
    {
        "international",
        "crosses_customs",
        "duties_prepaid",
        "first_order",
        "partial_shipment",
        "several_parcels",
        "payment_due_later",
        "partial_refund",
        "has_backorder",
        "has_digital",
        "all_digital",
        "has_discount",
        "has_tracking",
    }
)
LIST_CONDITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "payment_method": frozenset(
            {"card", "paypal", "bank_transfer", "cod", "invoice", "cheque", "gift_card", "other"}
        ),
        "refund_method": frozenset(
            {"original_payment", "card", "store_credit", "gift_card", "cash", "bank_transfer"}
            | {"other"}
        ),
        "delay_stage": frozenset({"before_shipping", "in_transit"}),
    }
)

DEFAULT_PRIORITY = 0.1
REQUIRED_FIELDS = ("id", "question", "locale", "kinds")
KNOWN_FIELDS = frozenset(
    {*REQUIRED_FIELDS, "topic", "when", "keywords", "priority", "anchor"}
    | {"valid_from", "valid_until"}
)

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# BCP 47 as locales and keyword languages are written here: en, zh-CN, pt-BR, sr-Latn.
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_JINJA = re.compile(r"\{[{%#]")
# The front matter's delimiters, as python-frontmatter recognises them.
_BOUNDARY = frontmatter.YAMLHandler.FM_BOUNDARY

Condition = bool | frozenset[str]


@dataclass(frozen=True)
class Snippet:
    """One FAQ answer in one locale, checked and rendered.

    ``when`` maps each condition to the value it needs (``True``/``False``, or the set of
    payment methods, refund methods or delay stages it accepts); all must hold.
    ``keywords`` maps a language to words a support ticket about this question contains.
    ``answer_html`` is the email-safe HTML of the body and ``answer_text`` its plain text;
    ``source`` and ``line`` say where the snippet is written, for messages about it.
    """

    id: str
    topic: str
    question: str
    locale: str
    kinds: frozenset[str]
    when: Mapping[str, Condition] = field(hash=False)
    keywords: Mapping[str, tuple[str, ...]] = field(hash=False)
    priority: float
    anchor: str
    valid_from: date | None
    valid_until: date | None
    body_markdown: str
    answer_html: str
    answer_text: str
    source: Path
    line: int
    # ``priority: {order_confirmation: 0.3, order_shipped: 0.05}``: a prior per email kind
    # (changing the address is likely after a confirmation, rare once the parcel left).
    priority_by_kind: Mapping[str, float] = field(default_factory=dict, hash=False)

    def prior_for(self, kind: str) -> float:
        """The store's estimate that this question is asked after a ``kind`` email."""
        return self.priority_by_kind.get(kind, self.priority)

    def shown_on(self, day: date) -> bool:
        """Whether ``day`` is within the snippet's dates (both ends included)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


@dataclass(frozen=True)
class SnippetProblem:
    """One thing wrong in a snippet file: where (``line`` counts from 1), and what to do."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class InvalidSnippetsError(TemplateError):
    """The FAQ snippets have problems; ``problems`` lists every one, by file and line.

    A ``TemplateError``: snippets are content the store edits, like its templates, and the
    person who fixes them is the same.
    """

    def __init__(self, problems: Iterable[SnippetProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            only = self.problems[0]
            super().__init__(only.message, template=str(only.path), line=only.line)
        else:
            listed = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} problems in the FAQ snippets:\n{listed}")


@dataclass(frozen=True)
class SnippetLibrary:
    """Every snippet of a store, by locale, by id and by email kind.

    ``for_kind`` tuples are sorted by priority (highest first), then id, so a selection
    that ranks by priority alone can stop early.
    """

    folder: Path
    snippets: tuple[Snippet, ...]
    _by_locale: Mapping[str, tuple[Snippet, ...]] = field(repr=False, compare=False)
    _by_id: Mapping[tuple[str, str], Snippet] = field(repr=False, compare=False)
    _by_kind: Mapping[tuple[str, str], tuple[Snippet, ...]] = field(repr=False, compare=False)

    @classmethod
    def of(cls, snippets: Iterable[Snippet], folder: Path) -> SnippetLibrary:
        ordered = tuple(sorted(snippets, key=lambda s: (s.locale, s.id)))
        by_locale: dict[str, list[Snippet]] = {}
        by_kind: dict[tuple[str, str], list[Snippet]] = {}
        for snippet in ordered:
            by_locale.setdefault(snippet.locale, []).append(snippet)
            for kind in snippet.kinds:
                by_kind.setdefault((snippet.locale, kind), []).append(snippet)
        return cls(
            folder=folder,
            snippets=ordered,
            _by_locale=MappingProxyType({k: tuple(v) for k, v in by_locale.items()}),
            _by_id=MappingProxyType({(s.locale, s.id): s for s in ordered}),
            _by_kind=MappingProxyType(
                {k: tuple(sorted(v, key=lambda s: (-s.priority, s.id))) for k, v in by_kind.items()}
            ),
        )

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._by_locale)

    def in_locale(self, locale: str) -> tuple[Snippet, ...]:
        return self._by_locale.get(locale, ())

    def get(self, locale: str, snippet_id: str) -> Snippet | None:
        return self._by_id.get((locale, snippet_id))

    def translations(self, snippet_id: str) -> tuple[Snippet, ...]:
        """The snippet ``snippet_id`` in every locale that has it."""
        return tuple(s for s in self.snippets if s.id == snippet_id)

    def for_kind(self, locale: str, kind: str) -> tuple[Snippet, ...]:
        """The snippets ``locale`` has for emails of ``kind``, before conditions and dates."""
        return self._by_kind.get((locale, kind), ())


def load_snippets(folder: Path) -> SnippetLibrary:
    """Every snippet under ``folder/<locale>/*.md``; raises ``InvalidSnippetsError``."""
    snippets, problems = _read_folder(folder)
    if problems:
        raise InvalidSnippetsError(problems)
    return SnippetLibrary.of(snippets, folder)


def check_snippets(folder: Path) -> list[SnippetProblem]:
    """Every problem in the snippets under ``folder``, by file and line; empty when fine."""
    return _read_folder(folder)[1]


def _read_folder(folder: Path) -> tuple[list[Snippet], list[SnippetProblem]]:
    if not folder.is_dir():
        return [], [
            SnippetProblem(
                folder, None, "no FAQ snippet folder here: create <locale>/<id>.md files in it"
            )
        ]
    snippets: list[Snippet] = []
    problems: list[SnippetProblem] = []
    field_lines: dict[Path, dict[str, int]] = {}
    readings: list[_Reading] = []
    for locale_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        if locale_folder.name.startswith("."):
            continue
        if not _LANGUAGE_TAG.match(locale_folder.name):
            problems.append(
                SnippetProblem(
                    locale_folder,
                    None,
                    f"{locale_folder.name!r} is not a locale: name the folder after its"
                    " language (en, zh-CN, ru, th, ...)",
                )
            )
            continue
        for path in sorted(locale_folder.glob("*.md")):
            snippet, reading = _read_snippet(path, locale_folder.name)
            problems.extend(reading.problems)
            readings.append(reading)
            if snippet is not None:
                snippets.append(snippet)
                field_lines[path] = reading.field_lines
    problems.extend(_duplicates(readings))
    problems.extend(_topic_disagreements(snippets, field_lines))
    problems.sort(key=lambda p: (str(p.path), p.line or 0))
    return snippets, problems


def _duplicates(readings: list[_Reading]) -> list[SnippetProblem]:
    """Files of one locale with the same id, whatever else is wrong with them.

    The file named after the id keeps it; the others are told to change theirs.
    """
    groups: dict[tuple[str, str], list[_Reading]] = {}
    for reading in readings:
        if reading.snippet_id is not None:
            groups.setdefault((reading.path.parent.name, reading.snippet_id), []).append(reading)
    problems = []
    for (_, snippet_id), group in groups.items():
        owner = next((r for r in group if r.path.stem == snippet_id), group[0])
        for reading in group:
            if reading is not owner:
                problems.append(
                    SnippetProblem(
                        reading.path,
                        reading.field_lines.get("id", reading.first_line),
                        f"the id {snippet_id!r} is already used by {owner.path.name}:"
                        " each snippet of a locale needs its own id",
                    )
                )
    return problems


def _topic_disagreements(
    snippets: list[Snippet], field_lines: Mapping[Path, Mapping[str, int]]
) -> list[SnippetProblem]:
    """The same id in two locales is one answer translated, so it answers one topic.

    Which translation is wrong cannot be told, so each one is reported, naming the others.
    """
    by_id: dict[str, list[Snippet]] = {}
    for snippet in snippets:
        by_id.setdefault(snippet.id, []).append(snippet)
    problems = []
    for group in by_id.values():
        if len({s.topic for s in group}) < 2:
            continue
        for snippet in group:
            others = ", ".join(
                f"{o.topic!r} in {o.locale}/{o.source.name}"
                for o in group
                if o.topic != snippet.topic
            )
            problems.append(
                SnippetProblem(
                    snippet.source,
                    field_lines[snippet.source].get("topic", snippet.line),
                    f"topic {snippet.topic!r} differs from {others}: the same id in each"
                    " locale is the same answer translated, so give them one topic",
                )
            )
    return problems


@dataclass
class _Reading:
    """One file being read: the problems found so far, and how to place them.

    ``first_line`` is the front matter's opening ``---``, where a problem without a line
    of its own goes; ``yaml_origin`` the file line of the front matter text's YAML line 0.
    ``field_lines`` and ``snippet_id`` are kept for the checks across files.
    """

    path: Path
    first_line: int = 1
    yaml_origin: int = 1
    problems: list[SnippetProblem] = field(default_factory=list)
    field_lines: dict[str, int] = field(default_factory=dict)
    snippet_id: str | None = None
    closing_line: int = 1

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(SnippetProblem(self.path, line or self.first_line, message))

    def line_of(self, node: yaml.Node) -> int:
        return self.yaml_origin + node.start_mark.line


def _read_snippet(path: Path, locale: str) -> tuple[Snippet | None, _Reading]:
    """One snippet file of ``locale``'s folder, or ``None``; the reading says why."""
    reading = _Reading(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reading.problem(raw[: exc.start].count(b"\n") + 1, "not UTF-8 text: save it as UTF-8")
        return None, reading
    except OSError as exc:
        reading.problem(None, f"cannot be read: {exc.strerror}")
        return None, reading
    parts = _split(text, reading)
    if parts is None:
        return None, reading
    front_matter, body, body_line = parts
    fields = _parse_front_matter(front_matter, reading)
    if fields is None:
        return None, reading
    reading.field_lines = {key: given.line for key, given in fields.items()}
    snippet = _snippet(fields, body, body_line, path, locale, reading)
    return (snippet if not reading.problems else None), reading


def _split(text: str, reading: _Reading) -> tuple[str, str, int] | None:
    """The front matter and the body, and the file line the body's text starts on.

    The delimiters are python-frontmatter's; its own ``split`` gives no positions, and
    every problem needs its line. Sets where the front matter starts on ``reading``.
    """
    opening = _BOUNDARY.search(text)
    if opening is None or text[: opening.start()].strip("\ufeff \t\r\n"):
        reading.problem(
            1, "no front matter: a snippet starts with a line '---', its fields, and '---'"
        )
        return None
    reading.first_line = text[: opening.start()].count("\n") + 1
    closing = _BOUNDARY.search(text, opening.end())
    if closing is None:
        reading.problem(None, "the front matter is not closed: add a line '---' after the fields")
        return None
    # Each part's text starts right after its delimiter's dashes (or the line break after
    # them): its first line is the line that position is on.
    reading.yaml_origin = text[: opening.end()].count("\n") + 1
    reading.closing_line = text[: closing.start()].count("\n") + 1
    body_line = text[: closing.end()].count("\n") + 1
    return text[opening.end() : closing.start()], text[closing.end() :], body_line


@dataclass(frozen=True)
class _Field:
    value: Any
    line: int
    node: yaml.Node


def _parse_front_matter(text: str, reading: _Reading) -> dict[str, _Field] | None:
    """The front matter's fields, each with its line; ``None`` when it is not YAML.

    Composed to YAML nodes first (python-frontmatter's loader keeps no line numbers), then
    each value is constructed on its own, so one bad date does not hide the other fields.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        reading.problem(
            _yaml_error_line(exc, text, reading),
            f"the front matter is not valid YAML: {exc.problem or exc}",
        )
        return None
    except yaml.YAMLError as exc:
        reading.problem(None, f"the front matter is not valid YAML: {exc}")
        return None
    if not isinstance(root, yaml.MappingNode):
        reading.problem(None, "the front matter must be 'field: value' lines")
        return None
    fields: dict[str, _Field] = {}
    for key_node, value_node in root.value:
        line = reading.line_of(key_node)
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or not key:
            reading.problem(line, "a field without a name")
            continue
        if key in fields:
            reading.problem(line, f"{key!r} is given twice (first on line {fields[key].line})")
            continue
        try:
            value = loader.construct_object(value_node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            reading.problem(line, f"{key}: cannot be read ({exc})")
            continue
        fields[key] = _Field(value, line, value_node)
    loader.dispose()
    return fields


def _yaml_error_line(exc: yaml.MarkedYAMLError, text: str, reading: _Reading) -> int | None:
    """The line to fix for a YAML error.

    For an unclosed ``[``, ``{`` or quote YAML notices the problem only where the next
    field starts (or at the end); the line where it opened is the one to fix.
    """
    mark = exc.problem_mark
    context = exc.context or ""
    unclosed = context.startswith(("while parsing a flow", "while scanning a quoted"))
    if exc.context_mark and (unclosed or mark is None or mark.index >= len(text.rstrip())):
        mark = exc.context_mark
    return reading.yaml_origin + mark.line if mark else None


def _snippet(
    fields: dict[str, _Field],
    body: str,
    body_line: int,
    path: Path,
    locale: str,
    reading: _Reading,
) -> Snippet | None:
    for key, given in fields.items():
        if key not in KNOWN_FIELDS:
            reading.problem(
                given.line,
                f"unknown field {key!r}: the fields are {', '.join(sorted(KNOWN_FIELDS))}",
            )
    for key in REQUIRED_FIELDS:
        if key not in fields:
            reading.problem(None, f"{key!r} is missing: every snippet needs {key}")
        elif _is_empty(fields[key].value):
            reading.problem(fields[key].line, f"{key!r} is empty")

    snippet_id = _identifier(fields, "id", reading)
    reading.snippet_id = snippet_id
    if snippet_id and snippet_id != path.stem:
        reading.problem(
            fields["id"].line,
            f"the id {snippet_id!r} does not match the file name: rename the file"
            f" {snippet_id}.md or change the id",
        )
    topic = _identifier(fields, "topic", reading) if "topic" in fields else snippet_id
    question = _text(fields, "question", reading)
    given_locale = _text(fields, "locale", reading)
    if given_locale and given_locale != locale:
        reading.problem(
            fields["locale"].line,
            f"locale {given_locale!r} does not match the folder {locale!r}: move the file"
            f" to {given_locale}/ or change the locale",
        )
    kinds = _kinds(fields, reading)
    when = _conditions(fields, reading)
    keywords = _keywords(fields, reading)
    priority, priority_by_kind = _priority(fields, kinds, reading)
    anchor = _anchor(fields, reading) or snippet_id
    valid_from = _date(fields, "valid_from", reading)
    valid_until = _date(fields, "valid_until", reading)
    if valid_from and valid_until and valid_from > valid_until:
        reading.problem(
            fields["valid_from"].line,
            f"valid_from {valid_from} is after valid_until {valid_until}: the snippet would"
            " never be shown",
        )
    answer = _body(body, body_line, reading)
    if reading.problems:
        return None
    if not (snippet_id and topic and question and kinds and answer):
        # Every reason should have been reported above; never drop a snippet silently.
        reading.problem(None, "incomplete: a snippet needs an id, a question, kinds and an answer")
        return None
    return Snippet(
        id=snippet_id,
        topic=topic,
        question=question,
        locale=locale,
        kinds=kinds,
        when=MappingProxyType(when),
        keywords=MappingProxyType(keywords),
        priority=priority,
        anchor=anchor,
        valid_from=valid_from,
        valid_until=valid_until,
        body_markdown=body.strip(),
        answer_html=answer[0],
        answer_text=answer[1],
        source=path,
        line=reading.first_line,
        priority_by_kind=MappingProxyType(priority_by_kind),
    )


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)


def _text(fields: dict[str, _Field], key: str, reading: _Reading) -> str | None:
    given = fields.get(key)
    if given is None:
        return None
    if _is_empty(given.value):
        if key not in REQUIRED_FIELDS:  # those are reported as missing already
            reading.problem(given.line, f"{key!r} is empty: give it a value or leave it out")
        return None
    if not isinstance(given.value, str):
        reading.problem(given.line, f"{key!r} must be text")
        return None
    if _JINJA.search(given.value):
        reading.problem(
            given.line,
            f"{key!r} contains Jinja ({{{{, {{% or {{#}}): a snippet is the same text for every"
            " customer; write it out",
        )
    return given.value.strip() or None


def _identifier(fields: dict[str, _Field], key: str, reading: _Reading) -> str | None:
    value = _text(fields, key, reading)
    if value is not None and not _ID.match(value):
        reading.problem(
            fields[key].line,
            f"{key} {value!r} may hold only lower-case letters, digits and hyphens"
            " (customs-duties)",
        )
        return None
    return value


def _names(given: _Field, key: str, reading: _Reading) -> list[tuple[str, int]] | None:
    """A list of names (one name alone is a list of one), each with its line."""
    node = given.node
    if isinstance(given.value, str):
        return [(given.value, given.line)]
    if not isinstance(given.value, list) or not isinstance(node, yaml.SequenceNode):
        reading.problem(given.line, f"{key!r} must be a list, like [a, b]")
        return None
    names = []
    for item, item_node in zip(given.value, node.value, strict=True):
        line = reading.line_of(item_node)
        if not isinstance(item, str) or not item.strip():
            reading.problem(line, f"{key!r}: {item!r} is not a name")
            continue
        names.append((item.strip(), line))
    return names


def _kinds(fields: dict[str, _Field], reading: _Reading) -> frozenset[str]:
    given = fields.get("kinds")
    if given is None or _is_empty(given.value):
        return frozenset()
    kinds = set()
    for kind, line in _names(given, "kinds", reading) or ():
        if kind not in SNIPPET_KINDS:
            reading.problem(
                line,
                f"unknown kind {kind!r}: the kinds are {', '.join(sorted(SNIPPET_KINDS))}",
            )
        kinds.add(kind)
    return frozenset(kinds)


def _conditions(fields: dict[str, _Field], reading: _Reading) -> dict[str, Condition]:
    given = fields.get("when")
    if given is None or given.value is None:
        return {}
    if not isinstance(given.value, dict) or not isinstance(given.node, yaml.MappingNode):
        reading.problem(given.line, "'when' must be conditions, one 'name: value' per line")
        return {}
    conditions: dict[str, Condition] = {}
    for key_node, value_node in given.node.value:
        name = key_node.value
        line = reading.line_of(key_node)
        value = given.value.get(name)
        if name in BOOLEAN_CONDITIONS:
            if isinstance(value, bool):
                conditions[name] = value
            else:
                reading.problem(line, f"when {name}: must be true or false, not {value!r}")
        elif name in LIST_CONDITIONS:
            allowed = LIST_CONDITIONS[name]
            names = _names(_Field(value, line, value_node), f"when {name}", reading)
            if names is None:
                continue
            for unknown, item_line in ((n, li) for n, li in names if n not in allowed):
                reading.problem(
                    item_line,
                    f"when {name}: unknown value {unknown!r}; the values are"
                    f" {', '.join(sorted(allowed))}",
                )
            if not names:
                reading.problem(line, f"when {name}: give at least one value")
            conditions[name] = frozenset(n for n, _ in names)
        else:
            known = sorted(BOOLEAN_CONDITIONS | set(LIST_CONDITIONS))
            reading.problem(
                line, f"unknown condition {name!r}: the conditions are {', '.join(known)}"
            )
    return conditions


def _keywords(fields: dict[str, _Field], reading: _Reading) -> dict[str, tuple[str, ...]]:
    given = fields.get("keywords")
    if given is None or given.value is None:
        return {}
    if not isinstance(given.value, dict) or not isinstance(given.node, yaml.MappingNode):
        reading.problem(given.line, "'keywords' must be one 'language: [words]' line per language")
        return {}
    keywords: dict[str, tuple[str, ...]] = {}
    for key_node, value_node in given.node.value:
        language = key_node.value
        line = reading.line_of(key_node)
        if not _LANGUAGE_TAG.match(str(language)):
            reading.problem(line, f"keywords: {language!r} is not a language (en, zh-CN, ...)")
            continue
        value = given.value.get(language)
        names = _names(_Field(value, line, value_node), f"keywords {language}", reading)
        if names:
            keywords[language] = tuple(dict.fromkeys(n for n, _ in names))
    return keywords


def _priority(
    fields: dict[str, _Field], kinds: frozenset[str], reading: _Reading
) -> tuple[float, dict[str, float]]:
    """One prior for every kind, or one per kind (``{order_confirmation: 0.3, ...}``);
    with a mapping, a kind it leaves out gets the default."""
    given = fields.get("priority")
    if given is None or given.value is None:
        return DEFAULT_PRIORITY, {}

    def number(value: object, what: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            reading.problem(
                given.line, f"{what} {value!r} must be a number from 0 to 1 (0.35 is 35%)"
            )
            return None
        return float(value)

    if isinstance(given.value, dict):
        by_kind: dict[str, float] = {}
        for kind, value in given.value.items():
            if kind not in kinds:
                reading.problem(
                    given.line,
                    f"priority for {kind!r}: the snippet's kinds are {', '.join(sorted(kinds))}",
                )
                continue
            if (prior := number(value, f"priority for {kind}")) is not None:
                by_kind[kind] = prior
        return max(by_kind.values(), default=DEFAULT_PRIORITY), by_kind
    prior = number(given.value, "priority")
    return (DEFAULT_PRIORITY if prior is None else prior), {}


def _anchor(fields: dict[str, _Field], reading: _Reading) -> str | None:
    value = _text(fields, "anchor", reading)
    if value is not None and (value.startswith("#") or any(c.isspace() for c in value)):
        reading.problem(
            fields["anchor"].line,
            f"anchor {value!r} must be the anchor's name alone, without '#' or spaces",
        )
        return None
    return value


def _date(fields: dict[str, _Field], key: str, reading: _Reading) -> date | None:
    given = fields.get(key)
    if given is None or given.value is None:
        return None
    value = given.value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    reading.problem(given.line, f"{key} {value!r} must be a date written 2026-11-15")
    return None


def _body(body: str, body_line: int, reading: _Reading) -> tuple[str, str] | None:
    """The body's email HTML and text; its problems placed on the file's lines."""
    if not body.strip():
        reading.problem(
            reading.closing_line + 1,
            "the answer is empty: write it below the front matter's closing '---'",
        )
        return None
    # The body's text starts on the closing '---' line, so its line 1 is body_line.
    for number, line in enumerate(body.split("\n")):
        if _JINJA.search(line):
            reading.problem(
                body_line + number,
                "Jinja ({{, {% or {#}) in the answer: a snippet is the same text for every"
                " customer; write it out",
            )
    rendered = render_answer(body)
    for problem in rendered.problems:
        reading.problem(body_line + problem.line - 1, problem.message)
    return rendered.html, rendered.text
