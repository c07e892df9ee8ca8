"""Inline the layout's CSS into the template files once, so no email pays premailer's cost.

premailer takes about 15 ms per email even tuned (140 ms with defaults) — eight times the
whole budget of an email at 2,000 emails/s. But which CSS rule applies to which element
is decided by the template, not by the data: a ``<td class="amount">`` gets the same
declarations whatever amount it shows. So the work can be done once per template:

1. **Assemble** each email as the HTML parser will see it: the layout (``base.html``) with
   the email's blocks in place, every ``{% include %}`` and macro call expanded where it
   stands, and every Jinja tag replaced by something neutral (nothing in text, a
   placeholder in attribute values). Each start tag is labelled with the file and offset
   it came from.
2. **Inline** that document with premailer, with exactly the options per-email inlining
   uses (``css_inlining.PREMAILER_OPTIONS``).
3. **Stamp** what premailer changed (``style``, and the ``bgcolor``/``width``/``align``
   attributes it derives for Outlook) back into the original files at the labelled tags,
   and replace the ``<style>`` block with what premailer leaves in it (the media
   queries, ``!important`` kept). No line is added or removed, so an error still names the
   line the marketer sees in their editor.

The Jinja environment then compiles the stamped files; rendering is plain Jinja.

This is only faithful when an element's style cannot depend on the data, so the
inliner refuses — with the file and line — what would make it depend: Jinja inside a
``class`` or ``style`` attribute, Jinja statements inside ``<style>``, and selectors that
depend on rendered structure or attribute values (``:first-child``, ``+``, ``~``,
``[attr]``), which Outlook and Gmail mostly ignore anyway (caniemail:
css-pseudo-class-first-child, css-selector-adjacent-sibling, css-selector-attribute).
A partial included in two places must get the same styles in both. Jinja *expressions*
in ``<style>`` values are fine (``color: {{ store.brand_colour }}``): they travel through
premailer as a placeholder and come out inside the inlined ``style`` attributes.

HTML that enters through a variable marked ``|safe`` (FAQ answers rendered from
Markdown) is not in the template; the plan records each such slot's ancestors and
stylesheet so the renderer can inline each snippet once with its container's styles
(``css_inlining.inline_fragment``).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import cssutils
from lxml import etree
from premailer import Premailer

from aftercare.errors import TemplateError
from aftercare.rendering.css import PREMAILER_OPTIONS, Ancestor
from aftercare.rendering.template_source import (
    JINJA_TAG,
    EndTag,
    JinjaTag,
    ScannedTemplate,
    StartTag,
    TemplateSourceError,
    Text,
    scan,
)

# Where an element came from: (template name, offset of its start tag).
Origin = tuple[str, int]

ORIGIN_ATTRIBUTE = "data-ac-origin"
SLOT_TAG = "ac-slot"
SLOT_ATTRIBUTE = "data-ac-slot"
# A CSS identifier cssutils and premailer carry through unchanged, unlikely in real CSS,
# standing for a {{ value }} of the stylesheet while premailer works.
_PLACEHOLDER = re.compile(r"acjinja(\d+)z")
STYLE_VALUE = re.compile(r"(acjinja\d+z)")  # splits text around the placeholders
_MAX_NESTING = 40
_ATTRIBUTES_KEPT_FOR_SELECTORS = ("class", "id")

_EXTENDS = re.compile(r"^extends\s+(['\"])(?P<name>.+?)\1\s*$")
_BLOCK = re.compile(r"^block\s+(?P<name>\w+)")
_ENDBLOCK = re.compile(r"^endblock\b")
_CONTEXT = r"(\s+(?P<context>with|without)\s+context)?\s*$"
_INCLUDE = re.compile(r"^include\s+(?P<target>.+?)(\s+ignore\s+missing)?" + _CONTEXT)
_FROM_IMPORT = re.compile(r"^from\s+(['\"])(?P<name>.+?)\1\s+import\s+(?P<names>.+?)" + _CONTEXT)
_IMPORT = re.compile(r"^import\s+(['\"])(?P<name>.+?)\1\s+as\s+(?P<alias>\w+)" + _CONTEXT)
_MACRO = re.compile(r"^macro\s+(?P<name>\w+)\s*\(")
_ENDMACRO = re.compile(r"^endmacro\b")
_CALL_BLOCK = re.compile(r"^call\b")
_STRING_LITERAL = re.compile(r"^(['\"])(?P<name>[^'\"]+)\1$")
_MACRO_CALL = re.compile(r"^(?:(?P<module>\w+)\.)?(?P<name>\w+)\s*\(")
_SUPER_CALL = re.compile(r"^super\s*\(\s*\)$")
_SAFE_FILTER = re.compile(r"\|\s*safe\s*$")
# Selectors whose match depends on rendered structure or attribute values.
_DATA_DEPENDENT_SELECTOR = re.compile(r"\[|\+|~|:first-child|:last-child|:nth-child")
_STRUCTURAL_PSEUDO_CLASSES = ("first-child", "last-child", "nth-child")


class StyleInliningError(TemplateError):
    """A template cannot be inlined once, ahead of the data; names the file and line.

    ``origin`` is the element two emails disagree about, when that is the problem.
    """

    def __init__(
        self,
        problem: str,
        *,
        template: str | None = None,
        line: int | None = None,
        origin: Origin | None = None,
    ) -> None:
        super().__init__(problem, template=template, line=line)
        self.origin = origin


@dataclass(frozen=True)
class HtmlSlot:
    """Where trusted HTML is printed from a variable, and the styles it must receive."""

    expression: str
    ancestors: tuple[Ancestor, ...]
    stylesheet: str
    # Placeholders in ``stylesheet`` and the Jinja expression each one stands for.
    placeholders: tuple[tuple[str, str], ...]


@dataclass
class InliningPlan:
    """Stamped sources for every HTML template, and what could not be planned."""

    sources: dict[str, str] = field(default_factory=dict)
    failures: dict[str, StyleInliningError] = field(default_factory=dict)
    slots: dict[str, tuple[HtmlSlot, ...]] = field(default_factory=dict)
    roots: tuple[str, ...] = ()

    def source_for(self, name: str) -> str | None:
        return self.sources.get(name)

    def failure_for(self, root: str) -> StyleInliningError | None:
        return self.failures.get(root)

    def errors(self) -> list[StyleInliningError]:
        """Each distinct failure once (a conflict fails both templates involved)."""
        seen: dict[str, StyleInliningError] = {}
        for error in self.failures.values():
            seen.setdefault(str(error), error)
        return list(seen.values())


def build_plan(
    files: Mapping[str, str], unreadable: Mapping[str, str] | None = None
) -> InliningPlan:
    """The inlining plan for a set of HTML templates (``name -> source``).

    Every template no other one extends, includes or imports is an email (a "root").
    A root that cannot be planned gets a failure instead; the others are unaffected.
    ``unreadable`` names files that could not be read (not UTF-8, say), with the reason.
    """
    scanned: dict[str, ScannedTemplate] = {}
    failures: dict[str, StyleInliningError] = {
        name: StyleInliningError(f"cannot be read as UTF-8 text ({why})", template=name)
        for name, why in (unreadable or {}).items()
    }
    for name, source in files.items():
        try:
            scanned[name] = _scan(name, source)
        except TemplateSourceError as exc:
            failures[name] = StyleInliningError(str(exc), template=name, line=exc.line)
    structures = {name: _Structure.of(template) for name, template in scanned.items()}
    referenced = {target for s in structures.values() for target in s.references}
    roots = tuple(sorted(name for name in (*files, *failures) if name not in referenced))

    plan = InliningPlan(roots=roots)
    changes: dict[Origin, tuple[tuple[str, str], ...]] = {}
    style_texts: dict[Origin, str | None] = {}
    first_root: dict[Origin, str] = {}
    for root in roots:
        if root in failures:
            plan.failures[root] = failures[root]
            continue
        try:
            document = _Assembler(scanned, structures, failures).assemble(root)
            inlined = _inline_document(document.text)
            if inlined.refused is not None:
                raise _refused(scanned, document.origins[inlined.refused[0]], inlined.refused[1])
        except StyleInliningError as exc:
            plan.failures[root] = exc
            continue
        except Exception as exc:  # lxml or cssutils choking on something unforeseen
            plan.failures[root] = StyleInliningError(
                f"its CSS could not be inlined ({type(exc).__name__}: {exc});"
                " run `aftercare templates check` for details",
                template=root,
            )
            continue
        root_changes: dict[Origin, tuple[tuple[str, str], ...]] = {}
        conflict: StyleInliningError | None = None
        for origin_id, attributes in inlined.changes:
            origin = document.origins[origin_id]
            restored = tuple((k, document.restore(v)) for k, v in attributes)
            if origin_id in document.without_context and restored != attributes:
                plan.failures[root] = _needs_context(scanned, origin)
                break
            known = root_changes.get(origin, changes.get(origin))
            if known is not None and known != restored:
                conflict = _conflict(scanned, origin, first_root.get(origin, root), root)
                break
            root_changes[origin] = restored
        for origin_id, text in inlined.style_texts:
            origin = document.origins[origin_id]
            style_texts[origin] = document.restore(text) if text is not None else None
        if root in plan.failures:
            continue
        if conflict is not None:
            plan.failures[root] = conflict
            assert conflict.origin is not None
            plan.failures.setdefault(first_root.get(conflict.origin, root), conflict)
            continue
        for origin, attributes in root_changes.items():
            changes[origin] = attributes
            first_root.setdefault(origin, root)
        plan.slots[root] = tuple(
            HtmlSlot(
                expression=document.slots[slot_id],
                ancestors=ancestors,
                stylesheet=inlined.stylesheet,
                placeholders=tuple(
                    (f"acjinja{i}z", document.placeholders[i])
                    for i in sorted({int(n) for n in _PLACEHOLDER.findall(inlined.stylesheet)})
                ),
            )
            for slot_id, ancestors in inlined.slots
        )
    plan.sources = {
        name: _stamp(scanned[name], changes, style_texts) if name in scanned else files[name]
        for name in files
    }
    return plan


def _conflict(
    scanned: Mapping[str, ScannedTemplate], origin: Origin, first: str, second: str
) -> StyleInliningError:
    name, offset = origin
    template = scanned[name]
    tag = next(t for t in template.tokens if isinstance(t, StartTag) and t.start == offset)
    return _error_at(
        template,
        offset,
        f"<{tag.name}> gets different styles in {first} and in {second}, but a template"
        " file is inlined once; give it a class of its own in each place, or move the rule"
        " that differs into one template",
        origin,
    )


def _refused(
    scanned: Mapping[str, ScannedTemplate], style: Origin, selector: str
) -> StyleInliningError:
    name, offset = style
    template = scanned[name]
    found = template.source.find(selector.split()[0], offset)
    return _error_at(
        template,
        found if found >= 0 else offset,
        f"the selector {selector!r} depends on how many rows or which attributes the"
        " rendered email has, so it cannot be inlined ahead of the data (and Outlook"
        " ignores it); use a class, or move the rule into an @media block",
    )


def _needs_context(scanned: Mapping[str, ScannedTemplate], origin: Origin) -> StyleInliningError:
    name, offset = origin
    return _error_at(
        scanned[name],
        offset,
        "this element's inlined style takes a value from the email (such as"
        " {{ store.brand_colour }}), but it is in a macro imported without context, which"
        " cannot see the email's variables; import it with context:"
        ' {% from "' + name + '" import … with context %}',
    )


def _error_at(
    template: ScannedTemplate, offset: int, problem: str, origin: Origin | None = None
) -> StyleInliningError:
    """``problem`` at ``offset`` in ``template``, named by the line the marketer's editor shows."""
    return StyleInliningError(
        problem, template=template.name, line=template.line_of(offset), origin=origin
    )


@lru_cache(maxsize=512)
def _scan(name: str, source: str) -> ScannedTemplate:
    return scan(source, name)


# --- the structure of one template: blocks, macros, what it references ----------------------


@dataclass
class _Structure:
    """Where a template's blocks and macros are, and what it extends, includes, imports."""

    extends: str | None = None
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # token range of body
    macros: dict[str, tuple[int, int]] = field(default_factory=dict)
    # local name -> (file, macro name, imported with context?)
    imported_macros: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    imported_modules: dict[str, tuple[str, bool]] = field(default_factory=dict)
    references: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, template: ScannedTemplate) -> _Structure:
        structure = cls()
        open_blocks: list[tuple[str, int]] = []
        open_macro: tuple[str, int] | None = None
        for index, token in enumerate(template.tokens):
            if not (isinstance(token, JinjaTag) and token.kind == "statement"):
                continue
            body = token.body
            if match := _EXTENDS.match(body):
                structure.extends = match["name"]
                structure.references.add(match["name"])
            elif match := _BLOCK.match(body):
                open_blocks.append((match["name"], index))
            elif _ENDBLOCK.match(body) and open_blocks:
                name, start = open_blocks.pop()
                structure.blocks[name] = (start + 1, index)
            elif match := _MACRO.match(body):
                open_macro = (match["name"], index)
            elif _ENDMACRO.match(body) and open_macro:
                structure.macros[open_macro[0]] = (open_macro[1] + 1, index)
                open_macro = None
            elif match := _FROM_IMPORT.match(body):
                structure.references.add(match["name"])
                for part in match["names"].split(","):
                    words = part.split()
                    if words:
                        local = words[-1] if len(words) == 3 and words[1] == "as" else words[0]
                        structure.imported_macros[local] = (
                            match["name"],
                            words[0],
                            match["context"] == "with",
                        )
            elif match := _IMPORT.match(body):
                structure.references.add(match["name"])
                structure.imported_modules[match["alias"]] = (
                    match["name"],
                    match["context"] == "with",
                )
            elif match := _INCLUDE.match(body):
                literal = _STRING_LITERAL.match(match["target"].strip())
                if literal:
                    structure.references.add(literal["name"])
        return structure


# --- assembling one email as the HTML parser sees it ----------------------------------------


@dataclass
class _Document:
    text: str
    origins: list[Origin]
    slots: list[str]
    placeholders: list[str]
    without_context: set[int]

    def restore(self, value: str) -> str:
        """Put back the Jinja expressions that travelled through premailer as placeholders."""
        return _PLACEHOLDER.sub(lambda m: self.placeholders[int(m.group(1))], value)


@dataclass
class _Frame:
    """Where emission is: the file, and the block definitions of the template chain."""

    name: str
    blocks: dict[str, list[tuple[str, tuple[int, int]]]]
    depth: int
    # Inside a macro imported without context (or an include without context): the
    # email's variables are out of reach, so no style may take a value from them.
    without_context: bool = False


class _Assembler:
    def __init__(
        self,
        scanned: Mapping[str, ScannedTemplate],
        structures: Mapping[str, _Structure],
        failures: Mapping[str, StyleInliningError],
    ) -> None:
        self.scanned = scanned
        self.structures = structures
        self.failures = failures
        self.parts: list[str] = []
        self.origins: list[Origin] = []
        self.slots: list[str] = []
        self.placeholders: list[str] = []
        self.without_context: set[int] = set()
        self.in_style = False

    def assemble(self, root: str) -> _Document:
        self.emit_template(root, depth=0, at=(root, 0))
        return _Document(
            "".join(self.parts), self.origins, self.slots, self.placeholders, self.without_context
        )

    def template(self, name: str, at: tuple[str, int]) -> ScannedTemplate:
        if name in self.failures:
            raise self.failures[name]
        if name not in self.scanned:
            line = self.scanned[at[0]].line_of(at[1]) if at[0] in self.scanned else None
            raise StyleInliningError(f"template {name} not found", template=at[0], line=line)
        return self.scanned[name]

    def emit_template(
        self, name: str, depth: int, at: tuple[str, int], without_context: bool = False
    ) -> None:
        """A whole template; one that extends another emits its ancestor with its blocks."""
        if depth > _MAX_NESTING:
            raise StyleInliningError(
                f"includes, macros or extends nest more than {_MAX_NESTING} deep"
                " (does a template include itself?)",
                template=at[0],
            )
        chain = [name]
        self.template(name, at)
        while (parent := self.structures[chain[-1]].extends) is not None:
            if parent in chain:
                raise StyleInliningError(f"extends itself via {parent}", template=name)
            self.template(parent, (chain[-1], 0))
            chain.append(parent)
        blocks: dict[str, list[tuple[str, tuple[int, int]]]] = {}
        for member in chain:  # most derived first
            for block, span in self.structures[member].blocks.items():
                blocks.setdefault(block, []).append((member, span))
        top = chain[-1]
        self.emit(_Frame(top, blocks, depth, without_context), 0, len(self.scanned[top].tokens))

    def emit(self, frame: _Frame, start: int, end: int) -> None:
        template = self.scanned[frame.name]
        structure = self.structures[frame.name]
        tokens = template.tokens
        index = start
        while index < end:
            token = tokens[index]
            index += 1
            if isinstance(token, Text):
                self.parts.append(template.text(token))
            elif isinstance(token, StartTag):
                self.emit_start_tag(template, token)
                if frame.without_context:
                    self.without_context.add(len(self.origins) - 1)
            elif isinstance(token, EndTag):
                if token.name == "style":
                    self.in_style = False
                self.parts.append(template.text(token))
            elif token.kind == "comment":
                continue
            elif self.in_style:
                self.emit_style_jinja(template, token)
            elif token.kind == "output":
                self.emit_output(frame, template, structure, token)
            else:
                index = self.emit_statement(frame, template, structure, token, index)

    def emit_start_tag(self, template: ScannedTemplate, tag: StartTag) -> None:
        attributes: list[str] = []
        for attribute in tag.attributes:
            if attribute.jinja and attribute.name in ("class", "style"):
                raise _error_at(
                    template,
                    attribute.start,
                    f"Jinja inside a {attribute.name}= attribute; styles are inlined once per"
                    " template, so classes and inline styles must be fixed text (put a brand"
                    " colour in base.html's <style>, or choose between two static classes"
                    " with {% if %})",
                )
            if any(c in attribute.name for c in "{}%"):
                continue  # an attribute whose name is Jinja: selectors cannot rely on it
            if attribute.value_start is None:
                attributes.append(f" {attribute.name}")
                continue
            value = _without_jinja(template, attribute.value_start, attribute.value_end or 0)
            attributes.append(f' {attribute.name}="{html.escape(html.unescape(value))}"')
        self.origins.append((template.name, tag.start))
        origin = f' {ORIGIN_ATTRIBUTE}="{len(self.origins) - 1}"'
        self.parts.append(f"<{tag.name}{origin}{''.join(attributes)}>")
        if tag.name == "style":
            self.in_style = True

    def emit_style_jinja(self, template: ScannedTemplate, token: JinjaTag) -> None:
        if token.kind != "output":
            raise _error_at(
                template,
                token.start,
                "a Jinja statement inside <style>; the stylesheet is inlined once per"
                " template, so only {{ values }} such as {{ store.brand_colour }} may vary"
                " in it",
            )
        self.placeholders.append(template.text(token))
        self.parts.append(f"acjinja{len(self.placeholders) - 1}z")

    def emit_output(
        self,
        frame: _Frame,
        template: ScannedTemplate,
        structure: _Structure,
        token: JinjaTag,
    ) -> None:
        body = token.body
        if _SUPER_CALL.match(body):
            self.emit_super(frame, template, token)
            return
        call = _MACRO_CALL.match(body)
        if call:
            target = self.macro_target(structure, frame.name, call["module"], call["name"])
            if target is not None:
                self.emit_macro(frame, target, (template.name, token.start))
                return
        if _SAFE_FILTER.search(body):
            self.slots.append(body)
            slot = f' {SLOT_ATTRIBUTE}="{len(self.slots) - 1}"'
            self.parts.append(f"<{SLOT_TAG}{slot}></{SLOT_TAG}>")

    def macro_target(
        self, structure: _Structure, name: str, module: str | None, macro: str
    ) -> tuple[str, str, bool] | None:
        """The file and macro a call refers to, and whether it sees the email's variables."""
        if module is not None:
            imported = structure.imported_modules.get(module)
            return (imported[0], macro, imported[1]) if imported is not None else None
        if macro in structure.imported_macros:
            return structure.imported_macros[macro]
        if macro in structure.macros:
            return (name, macro, True)  # a macro of the same template sees its variables
        return None

    def emit_macro(self, frame: _Frame, target: tuple[str, str, bool], at: tuple[str, int]) -> None:
        file, macro, with_context = target
        self.template(file, at)
        span = self.structures[file].macros.get(macro)
        if span is None:
            raise _error_at(self.scanned[at[0]], at[1], f"{file} has no macro {macro}")
        self.check_depth(frame, at)
        without = frame.without_context or not with_context
        self.emit(_Frame(file, {}, frame.depth + 1, without), *span)

    def emit_super(self, frame: _Frame, template: ScannedTemplate, token: JinjaTag) -> None:
        for definitions in frame.blocks.values():
            for position, (file, (start, end)) in enumerate(definitions):
                if file == template.name and start <= template.tokens.index(token) < end:
                    if position + 1 < len(definitions):
                        parent, span = definitions[position + 1]
                        self.emit(
                            _Frame(parent, frame.blocks, frame.depth + 1, frame.without_context),
                            *span,
                        )
                    return

    def emit_statement(
        self,
        frame: _Frame,
        template: ScannedTemplate,
        structure: _Structure,
        token: JinjaTag,
        index: int,
    ) -> int:
        """Handle one ``{% … %}``; returns the token index to continue from."""
        body = token.body
        if match := _BLOCK.match(body):
            name = match["name"]
            own_span = structure.blocks.get(name)
            definitions = frame.blocks.get(name) or [(frame.name, own_span or (index, index))]
            file, span = definitions[0]
            self.emit(_Frame(file, frame.blocks, frame.depth, frame.without_context), *span)
            return (own_span[1] + 1) if own_span else index
        if match := _MACRO.match(body):
            span = structure.macros.get(match["name"])
            return span[1] + 1 if span else index
        if _CALL_BLOCK.match(body):
            raise _error_at(
                template,
                token.start,
                "{% call %} blocks are not supported in email templates; pass the content"
                " as a macro argument",
            )
        if match := _INCLUDE.match(body):
            literal = _STRING_LITERAL.match(match["target"].strip())
            if literal is None:
                raise _error_at(
                    template,
                    token.start,
                    "include a template by its name in quotes; a computed name cannot be"
                    " inlined ahead of the data",
                )
            self.check_depth(frame, (template.name, token.start))
            without = frame.without_context or match["context"] == "without"
            at = (template.name, token.start)
            self.emit_template(literal["name"], frame.depth + 1, at, without)
        return index

    def check_depth(self, frame: _Frame, at: tuple[str, int]) -> None:
        if frame.depth + 1 > _MAX_NESTING:
            raise _error_at(
                self.scanned[at[0]],
                at[1],
                f"includes or macros nest more than {_MAX_NESTING} deep"
                " (does a template include itself?)",
            )


def _without_jinja(template: ScannedTemplate, start: int, end: int) -> str:
    """An attribute value with its Jinja tags taken out (they hold data, not selectors)."""
    value = template.source[start:end]
    return JINJA_TAG.sub("", value)


# --- premailer, once per assembled document -------------------------------------------------


@dataclass(frozen=True)
class _Inlined:
    # (origin id, ((attribute, new value), ...)) for every element, changed or not.
    changes: tuple[tuple[int, tuple[tuple[str, str], ...]], ...]
    # (origin id of a <style>, what premailer left in it, or None when it removed it).
    style_texts: tuple[tuple[int, str | None], ...]
    slots: tuple[tuple[int, tuple[Ancestor, ...]], ...]
    stylesheet: str
    # (origin id of a <style>, a selector that cannot be inlined ahead of the data).
    refused: tuple[int, str] | None = None


@lru_cache(maxsize=256)
def _inline_document(document: str) -> _Inlined:
    """What premailer does to ``document``, element by element.

    Cached on the document text: a renderer for a copy of the templates, or one rebuilt
    after an edit elsewhere, reuses the work for every email that did not change.
    """
    if not document.strip():
        return _Inlined((), (), (), "")  # nothing to inline; Jinja reports what is missing
    root = etree.fromstring(document, etree.HTMLParser())
    before = {
        element: dict(element.attrib)
        for element in root.iter()
        if ORIGIN_ATTRIBUTE in element.attrib
    }
    styles = [e for e in before if e.tag == "style"]
    for style in styles:
        selector = _data_dependent_selector(style.text or "")
        if selector is not None:
            refused = (int(before[style][ORIGIN_ATTRIBUTE]), selector)
            return _Inlined((), (), (), "", refused)
    stylesheet = "\n".join(e.text or "" for e in styles)
    slots = tuple(
        (
            int(slot.get(SLOT_ATTRIBUTE, "0")),
            tuple(_ancestor(element) for element in reversed(list(slot.iterancestors()))),
        )
        for slot in root.iter(SLOT_TAG)
    )
    Premailer(**PREMAILER_OPTIONS).transform(root)
    changes = []
    for element, attributes in before.items():
        if element.tag == "style":
            continue
        changed = tuple(
            (key, value)
            for key, value in element.attrib.items()
            if key != ORIGIN_ATTRIBUTE and attributes.get(key) != value
        )
        # Unchanged elements too: a partial left alone in one place and styled in another
        # is a conflict as much as one styled two ways.
        changes.append((int(attributes[ORIGIN_ATTRIBUTE]), changed))
    style_texts = tuple(
        (
            int(before[style][ORIGIN_ATTRIBUTE]),
            style.text if style.getparent() is not None else None,
        )
        for style in styles
    )
    return _Inlined(tuple(changes), style_texts, slots, stylesheet)


def _ancestor(element: etree._Element) -> Ancestor:
    return (
        str(element.tag),
        tuple((k, element.get(k, "")) for k in _ATTRIBUTES_KEPT_FOR_SELECTORS if element.get(k)),
    )


def _data_dependent_selector(css: str) -> str | None:
    """The first inlined selector whose match depends on the rendered structure, if any.

    ``tr:last-child td`` matches the one ``{% for %}`` row of the template, but a
    different row in each order: such a rule cannot be inlined ahead of the data. premailer
    applies ``:first-child``, ``:last-child`` and ``:nth-child`` structurally and leaves
    other pseudo-classes (``:hover``) in ``<style>``; media queries stay in ``<style>`` too,
    so anything goes inside them.
    """
    cssutils.log.setLevel(logging.CRITICAL)
    for rule in cssutils.parseString(css, validate=False):
        if rule.type != rule.STYLE_RULE:
            continue
        for selector in (s.strip() for s in rule.selectorText.split(",")):
            pseudo = selector.split(":", 1)[1] if ":" in selector else ""
            # premailer's own test (``Premailer.transform``): only a selector ending in one
            # of these is applied to elements; any other pseudo-class stays in <style>.
            if pseudo and not (
                pseudo in _STRUCTURAL_PSEUDO_CLASSES or pseudo.startswith("nth-child")
            ):
                continue  # left in <style> by premailer, as per email
            if _DATA_DEPENDENT_SELECTOR.search(selector):
                return selector
    return None


# --- writing the result back into the files -------------------------------------------------


def _stamp(
    template: ScannedTemplate,
    changes: Mapping[Origin, tuple[tuple[str, str], ...]],
    style_texts: Mapping[Origin, str | None],
) -> str:
    """``template``'s source with premailer's changes written into its own tags."""
    edits: list[tuple[int, int, str]] = []
    for position, token in enumerate(template.tokens):
        if not isinstance(token, StartTag):
            continue
        origin = (template.name, token.start)
        if origin in changes:
            edits.extend(_attribute_edits(token, changes[origin]))
        if token.name == "style" and origin in style_texts:
            end_tag = next(
                t
                for t in template.tokens[position + 1 :]
                if isinstance(t, EndTag) and t.name == "style"
            )
            text = style_texts[origin]
            if text is None:
                old = template.source[token.start : end_tag.end]
                edits.append((token.start, end_tag.end, "\n" * old.count("\n")))
            else:
                old = template.source[token.end : end_tag.start]
                edits.append((token.end, end_tag.start, _same_lines(text, old.count("\n"))))
    source = template.source
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source


def _attribute_edits(
    tag: StartTag, attributes: tuple[tuple[str, str], ...]
) -> Iterator[tuple[int, int, str]]:
    inserted: list[str] = []
    for name, value in attributes:
        text = f'{name}="{_attribute_text(value)}"'
        existing = tag.attribute(name)
        if existing is not None:
            yield (existing.start, existing.end, text)
        else:
            inserted.append(" " + text)
    if inserted:
        yield (tag.name_end, tag.name_end, "".join(inserted))


def _attribute_text(value: str) -> str:
    """HTML-escape a value, leaving the Jinja expressions restored into it as they are."""
    parts = re.split(r"(\{\{.*?\}\})", value)
    return "".join(part if i % 2 else html.escape(part) for i, part in enumerate(parts))


def _same_lines(text: str, lines: int) -> str:
    """``text`` spread over exactly ``lines`` line breaks, so later line numbers hold."""
    pieces = text.strip("\n").split("\n")
    if len(pieces) > lines + 1:  # too many lines: the tail shares the last one
        pieces = [*pieces[:lines], " ".join(pieces[lines:])]
    missing = lines - (len(pieces) - 1)
    body = "\n".join(pieces)
    return "\n" + body + "\n" * (missing - 1) if missing >= 1 else body
