"""Turn a template context into the parts of one email: subject, preheader, HTML, text.

Marketers edit the templates, so rendering treats them as untrusted code: Jinja's
sandbox refuses attribute tricks such as ``''.__class__.__mro__`` and does not let a
template modify the context it was given; autoescaping keeps customer data from
injecting HTML; ``StrictUndefined`` turns a misspelt variable into an error instead of a
silently empty sentence. Every failure becomes a ``TemplateError`` that names the
template file and line, so the person who edited it can fix it.

Subject and preheader live in the same file as the body (``{% block subject %}``,
``{% block preheader %}``): one file per email to edit, and the subject can use the
same facts as the body.

Speed: the HTML templates arrive with their CSS already inlined (``template_loader``),
FAQ answers are inlined once per snippet, and the plain-text part is its own Jinja
template, so an email costs a few Jinja renders and nothing else (``bench/render.py``).
"""

from __future__ import annotations

import html
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import jinja2
import jinja2.nodes
import jinja2.sandbox
from babel.lists import format_list
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from aftercare.errors import TemplateError
from aftercare.rendering.css import inline_fragment
from aftercare.rendering.include_flattening import flatten_includes
from aftercare.rendering.inlining import STYLE_VALUE, HtmlSlot, InliningPlan
from aftercare.rendering.loader import PreinlinedLoader
from aftercare.rendering.locale_format import FALLBACK_LANGUAGE, babel_locale
from aftercare.rendering.rendered_email import RenderedEmail
from aftercare.rendering.translations import TemplateTranslations

# Long subjects are cut by every inbox anyway; 200 keeps a broken template from
# producing a header that some servers fold or reject.
MAX_SUBJECT_CHARS = 200
MAX_PREHEADER_CHARS = 300
# A template that builds a huge string (``"x" * 10**9``) would exhaust memory before any
# size check could run; no email needs a repeated value longer than this.
MAX_REPEATED_LENGTH = 100_000
MAX_EXPONENT = 100

# The one context value that is trusted HTML: FAQ answers, rendered from the store's own
# Markdown snippets (never customer data). Each is inlined once with its container's CSS.
TRUSTED_HTML_LIST = "likely_questions"
_HEADER_BLOCKS = ("subject", "preheader")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
TRUSTED_HTML_FIELD = "answer_html"

_T = TypeVar("_T")

# Control characters (Unicode category Cc: CR, LF, tab, NUL, DEL, C1 controls such as
# NEL) and the Unicode line and paragraph separators (Zl, Zp), with the spaces around
# them; or a run of spaces. One pass, and none at all for an ordinary subject line.
_BREAKS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_LINE_BREAKS_AND_SPACES = re.compile(f"[ ]*[{_BREAKS}][ {_BREAKS}]*| {{2,}}")
# Matches exactly where the pattern above does (a break, or two spaces): a search that
# finds nothing is cheaper than a substitution that replaces nothing.
_NEEDS_ONE_LINING = re.compile(f"[{_BREAKS}]|  ")
# What autoescaping writes (markupsafe), and what ``html.unescape`` makes of it.
_ESCAPES = (("&#39;", "'"), ("&#34;", '"'), ("&lt;", "<"), ("&gt;", ">"))


def _autoescape_html(template_name: str | None) -> bool:
    """Escape in ``.html`` templates and in templates made from strings, not in ``.txt``.

    What ``select_autoescape(["html"], default_for_string=True)`` decides, in a function
    cheap enough to be asked at every include.
    """
    return template_name is None or template_name.endswith((".html", ".htm"))


class EmailSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with a fast path for the plain dicts a context is made of.

    The sandbox looks an attribute up with ``getattr`` first and falls back to the item,
    so every ``{{ order.number }}`` on a dict raised and caught an ``AttributeError``: a
    fifth of the rendering time. A key of a plain ``dict`` is data, never a Python
    internal, so it is returned directly; everything else, including every name that
    starts with ``_``, goes through the sandbox's checks. (A key now wins over a ``dict``
    method of the same name, which is what a marketer writing ``order.items`` means.)

    String and list repetition and powers are capped, so a template cannot exhaust memory
    with ``{{ "x" * 10**9 }}``; ``range`` is already capped by the sandbox.

    Every path that renders email templates (``EmailRenderer``, the per-email reference
    the checker and the benchmark compare it with) uses this class, so they differ only in
    their loader: whitespace, escaping and caching are decided here, once.
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(
        self,
        loader: jinja2.BaseLoader,
        undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
        *,
        inline_partials: bool = False,
    ) -> None:
        # ``include_flattening``: fixed includes compiled into the including template.
        self.inline_partials = inline_partials
        super().__init__(
            loader=loader,
            undefined=undefined,
            autoescape=_autoescape_html,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Jinja would stat every template and include on every render. ``EmailRenderer``
            # checks the folder once per email instead (``_reload_if_changed``).
            auto_reload=False,
            # A plain dict: the folder holds a few dozen templates, and Jinja's LRU cache
            # costs a deque scan on every lookup (several per email: each include).
            cache_size=-1,
            extensions=["jinja2.ext.i18n"],
        )
        # The words of every language (``translations``): replaced by the renderer whenever
        # a catalogue changes. Sentences are looked up trimmed, so re-indenting a template
        # keeps its translations (docs/decisions/0002).
        self.translations = TemplateTranslations()
        self.policies["ext.i18n.trimmed"] = True
        self.newstyle_gettext = True  # type: ignore[attr-defined]
        self.globals.update(
            gettext=_gettext,
            _=_gettext,
            ngettext=_ngettext,
            pgettext=_pgettext,
            npgettext=_npgettext,
        )
        # Invisible characters after the preheader, so inboxes show the preheader alone
        # as the preview instead of pulling in the first words of the body.
        self.globals["preheader_padding"] = Markup("&#847;&zwnj;&nbsp;" * 40)
        # ``{{ pin_question("returns-how") }}`` in a kind's template: that FAQ answer is
        # always among the email's likely questions. It prints nothing where it stands; the
        # renderer finds the pins before rendering (``EmailRenderer.pinned_questions``).
        self.globals[PIN_FUNCTION] = _pin_placeholder
        # ``{{ names|as_list }}``: "A, B and C" as the email's language joins a list
        # ("A, B и C", "A、B和C", "A B และC"); a comma is English punctuation.
        self.filters["as_list"] = _as_list
        # ``{{ heading|underline("=") }}``: a plain-text heading's rule, as wide as the
        # heading looks in a monospaced reader (a Chinese character takes two columns).
        self.filters["underline"] = _underline

    def _generate(
        self,
        source: jinja2.nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        if self.inline_partials:
            source = flatten_includes(self, source, name, _autoescape_html)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a plain dict, not Jinja's ``ChainMap``.

        Every include starts a new context, which copies the globals twice; iterating a
        ``ChainMap`` is pure Python, a dict is not, and that made a third of the cost of a
        plain-text part. The globals are set once, in ``__init__``, so a snapshot per
        template loses nothing.
        """
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute[0] != "_":
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call(
        __self,  # noqa: N805 - Jinja's own signature: its callers pass the names positionally
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Every call a template makes; the gettext functions directly.

        They are this module's own (safe by construction), and a template calls them for
        every sentence: the sandbox's check and Jinja's per-call context handling (which
        copies the context inside every loop) would cost more than the translation. They
        read only the email's locale and escaping, never loop or block variables.
        """
        if __obj in _GETTEXT_FUNCTIONS:
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            return __obj(__context, *args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT:
                raise jinja2.sandbox.SecurityError(
                    f"an exponent above {MAX_EXPONENT} is refused in email templates"
                )
            return left**right
        for sequence, times in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(times, int)
                and len(sequence) * times > MAX_REPEATED_LENGTH
            ):
                raise jinja2.sandbox.SecurityError(
                    f"repeating a value to more than {MAX_REPEATED_LENGTH:,} items or"
                    " characters is refused in email templates"
                )
        return left * right


def _underline(heading: Any, character: str = "-") -> str:
    return character * max(display_width(str(heading)), 1)


@lru_cache(maxsize=4096)  # headings repeat email after email
def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospaced font: East Asian wide and full-width
    characters two, combining marks (Thai vowels and tone marks above and below) and
    format characters none, everything else one (Unicode UAX #11)."""
    width = 0
    for character in text:
        if unicodedata.combining(character) or unicodedata.category(character) in _ZERO_WIDTH:
            continue
        width += 2 if unicodedata.east_asian_width(character) in "WF" else 1
    return width


_ZERO_WIDTH = {"Mn", "Me", "Cf"}


@jinja2.pass_context
def _as_list(context: jinja2.runtime.Context, items: Any) -> str:
    values = [str(item) for item in items]
    if not values:
        return ""
    return format_list(values, locale=babel_locale(context.get("locale") or FALLBACK_LANGUAGE))


def _translated(context: jinja2.runtime.Context, key: tuple[Any, ...]) -> Any:
    """The translation ``key`` names (``("gettext", message)``, ``("ngettext", s, p, n)``…)
    for the email being rendered, escaped where the template autoescapes: a translation is
    text, never markup (docs/decisions/0002).

    Every sentence of every email comes through here (about sixty an email), so each
    (locale, escaping, message) is looked up and escaped once and kept with the
    translations it came from, which a catalogue edit replaces.
    """
    translations = context.environment.translations  # type: ignore[attr-defined]
    full = (context.get("locale"), context.eval_ctx.autoescape, *key)
    found = translations.rendered.get(full)
    if found is None:
        reader = translations.for_locale(full[0])
        text = getattr(reader, key[0])(*key[1:])
        found = escape(text) if full[1] else text
        translations.rendered[full] = found
    return found


# Jinja's new-style gettext (``newstyle_gettext``): the translation is a format string
# filled with the call's named values (escaped when autoescaping, by ``Markup.__mod__``),
# even with none, so ``%%`` is always a percent sign. Jinja wraps plain callables to do
# this through two more sandboxed calls each; these do it directly, and a sentence without
# values is formatted once and kept.


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str, /, **variables: Any) -> str:
    if variables:
        return _translated(context, ("gettext", message)) % variables
    return _formatted_once(context, ("gettext", message))


@jinja2.pass_context
def _ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, number: int, /, **variables: Any
) -> str:
    variables.setdefault("num", number)
    return _translated(context, ("ngettext", singular, plural, number)) % variables


@jinja2.pass_context
def _pgettext(
    context: jinja2.runtime.Context, message_context: str, message: str, /, **variables: Any
) -> str:
    variables.setdefault("context", message_context)
    return _translated(context, ("pgettext", message_context, message)) % variables


@jinja2.pass_context
def _npgettext(
    context: jinja2.runtime.Context,
    message_context: str,
    singular: str,
    plural: str,
    number: int,
    /,
    **variables: Any,
) -> str:
    variables.setdefault("context", message_context)
    variables.setdefault("num", number)
    key = ("npgettext", message_context, singular, plural, number)
    return _translated(context, key) % variables


_GETTEXT_FUNCTIONS = frozenset({_gettext, _ngettext, _pgettext, _npgettext})


def _formatted_once(context: jinja2.runtime.Context, key: tuple[Any, ...]) -> str:
    translations = context.environment.translations  # type: ignore[attr-defined]
    full = ("formatted", context.get("locale"), context.eval_ctx.autoescape, *key)
    found = translations.rendered.get(full)
    if found is None:
        found = _translated(context, key) % {}
        translations.rendered[full] = found
    return found


@dataclass(frozen=True)
class _EmailTemplates:
    """What one (kind, locale) renders with, resolved once per version of the templates."""

    page: jinja2.Template
    text: jinja2.Template
    text_name: str
    answer_slot: HtmlSlot | None
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class _PreparedList:
    """One email's FAQ entries as prepared for a slot, and what they were prepared from."""

    slot: HtmlSlot | None
    given: tuple[Any, ...]  # the entry dicts, held: their ids are part of the key
    expressions: tuple[str, ...]  # the stylesheet's {{ values }} the answers use, in order
    fill: tuple[str, ...]  # their escaped values for this list
    entries: tuple[dict[str, Any], ...]


PIN_FUNCTION = "pin_question"
# Bounds the prepared-entry cache: entries not built once per answer (a store's own slot,
# a test) would otherwise pile up.
_MAX_PREPARED_ENTRIES = 10_000


def _pin_placeholder(snippet_id: str) -> str:
    return ""


def pins_in(environment: jinja2.Environment, source: str) -> tuple[str, ...]:
    """The snippet ids a template pins with ``pin_question("id")``, in the order written.

    Read from the template's syntax tree, not by rendering: the pins decide what the
    context holds, so they must be known before the render they are part of.
    """
    pinned: list[str] = []
    for call in environment.parse(source).find_all(jinja2.nodes.Call):
        name = call.node
        if isinstance(name, jinja2.nodes.Name) and name.name == PIN_FUNCTION and call.args:
            value = getattr(call.args[0], "value", None)
            if isinstance(call.args[0], jinja2.nodes.Const) and isinstance(value, str):
                pinned.append(value)
    return tuple(dict.fromkeys(pinned))


class EmailRenderer:
    """Renders emails from ``templates_dir``, with locale fallbacks.

    An email is named by its templates' base name, ``kind``: ``order_shipped`` renders
    ``<locale>/order_shipped.html`` and ``.txt``. Callers pass an ``EmailKind`` (a
    ``StrEnum``, so it is that name); rendering itself knows no list of kinds, which
    belongs to the emails layer above it.

    Compiled templates are cached (and recompiled within ``check_interval`` seconds of a
    file changing), so one renderer serves many emails. ``undefined`` is for the template
    checker, which collects every undefined variable instead of stopping at the first;
    emails are always rendered with ``StrictUndefined``.
    """

    def __init__(
        self,
        templates_dir: Path,
        *,
        check_interval: float = 1.0,
        undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    ) -> None:
        # Absolute, so tracebacks name template files we can recognise and shorten.
        self.templates_dir = Path(templates_dir).resolve()
        self._loader = PreinlinedLoader(self.templates_dir, check_interval=check_interval)
        self._env = EmailSandbox(self._loader, undefined, inline_partials=True)
        # The same templates with Jinja's own includes, to locate a failure (``_located``).
        self._plain_env: EmailSandbox | None = None
        self._plan: InliningPlan | None = None
        self._resolved: dict[tuple[str, str], _EmailTemplates] = {}
        # Inlined FAQ answers split around the stylesheet's {{ values }}, by slot and HTML.
        self._answers: dict[tuple[int, str], tuple[list[str], str]] = {}
        self._expressions: dict[str, Callable[..., Any]] = {}
        # Prepared FAQ entries by (slot, entry dict): see ``_prepared_answers``.
        self._entries: dict[tuple[int, int], tuple[Any, tuple[str, ...], dict[str, Any]]] = {}
        # Whole prepared lists by (slot, entry dicts): see ``_prepared_answers``.
        self._lists: dict[tuple[int, ...], _PreparedList] = {}

    @property
    def environment(self) -> jinja2.Environment:
        """The sandboxed environment (for the template checker and the benchmark)."""
        return self._env

    def available_locales(self) -> frozenset[str]:
        """The locales emails can be written in: the template folders (``en``, ``de_AT``)
        and the translation catalogues (``ru``, ``zh_Hans_CN``).

        ``build_context`` takes these, so an email's dates and money are formatted in the
        language its template is written in.
        """
        if self._loader.plan() is not self._plan:
            self._guarded(self._reload_if_changed, "locales")
        catalogues = {str(tag) for tag in self._env.translations.locales}
        return self._loader.locales() | catalogues

    def template_folder_locales(self) -> frozenset[str]:
        """The locales with a folder of their own templates (``en``; ``de`` for a store
        that wrote whole German emails), as opposed to those translated by catalogues."""
        return self._loader.locales()

    def pinned_questions(self, kind: str, locale: str) -> tuple[str, ...]:
        """The FAQ snippets ``kind``'s template in ``locale`` pins (``pin_question``)."""
        return self._templates_for(kind, locale).pinned

    def render(self, kind: str, context: Mapping[str, Any], locale: str) -> RenderedEmail:
        """All parts of a ``kind`` email in ``locale`` (falling back to language, then ``en``).

        The HTML and text parts come from the same locale folder, so an email never mixes
        languages when a translation is missing one of its files.
        """
        templates = self._templates_for(kind, locale)
        # The prepared answers go into each render's own copy of the context (``new_context``
        # copies it), not into a further copy made here.
        extra: dict[str, Any] = {}
        try:
            return self._render(kind, templates, context, extra)
        except TemplateError as error:
            if error.__cause__ is None or not self._env.inline_partials:
                raise
            raise self._located(error, templates, {**context, **extra}) from error.__cause__

    def _render(
        self,
        kind: str,
        templates: _EmailTemplates,
        context: Mapping[str, Any],
        extra: dict[str, Any],
    ) -> RenderedEmail:
        page = templates.page
        page_name = page.name or ""
        # What ``_guarded`` does, without a closure per step: these run for every email.
        try:
            if context.get(TRUSTED_HTML_LIST):
                extra[TRUSTED_HTML_LIST] = self._prepared_answers(templates.answer_slot, context)
            body, blocks = self._render_page(page, context, extra)
        except TemplateError:
            raise
        except Exception as exc:
            raise _template_error(exc, page_name, self.templates_dir) from exc
        variables = {**context, **extra} if extra else context  # only for the rare paths
        subject = blocks.get("subject")
        if subject is None:
            subject = self._render_block(page, "subject", variables)
        subject = _one_line(_unescape(subject), MAX_SUBJECT_CHARS)
        if not subject:
            raise TemplateError("the subject block renders empty", template=page.name)
        preheader = blocks.get("preheader")
        if preheader is None:
            preheader = self._render_block(page, "preheader", variables)
        preheader = _one_line(_unescape(preheader), MAX_PREHEADER_CHARS)
        try:
            text = self._render_text(templates.text, context, extra)
        except TemplateError:
            raise
        except Exception as exc:
            raise _template_error(exc, templates.text_name, self.templates_dir) from exc
        return RenderedEmail(
            kind=kind,
            subject=subject,
            preheader=preheader,
            html=body,
            text=text.strip() + "\n",
        )

    def _located(
        self, error: TemplateError, templates: _EmailTemplates, variables: Mapping[str, Any]
    ) -> TemplateError:
        """``error`` naming the partial and line where it happened.

        Partials are compiled into the templates that include them
        (``include_flattening``), so a failure inside one is reported at the including
        template's file. Rendering the email again with plain includes fails at the same
        point, and Jinja names the partial's file and line; failures are rare, so this
        second render costs nothing in the common case.
        """
        plain = self._plain_env
        if plain is None:
            plain = self._plain_env = EmailSandbox(self._loader, self._env.undefined)
            plain.translations = self._env.translations
        for name in (templates.page.name, templates.text_name):
            try:
                plain.get_template(name).render(variables)
            except Exception as exc:  # noqa: BLE001 - any failure is the one to report
                return _template_error(exc, name or "", self.templates_dir)
        return error

    def _templates_for(self, kind: str, locale: str) -> _EmailTemplates:
        """The compiled page and text templates for ``kind`` in ``locale``, checked once."""
        # The common case, files checked less than ``check_interval`` ago and the plan
        # unchanged since: no refresh, no guard.
        plan = self._loader.checked_plan()
        if plan is None or plan is not self._plan:
            plan = self._guarded(self._reload_if_changed, f"{kind}.html")
        resolved = self._resolved.get((kind, locale))
        if resolved is not None:
            return resolved
        candidates = template_names(kind, locale, "html")
        page = self._guarded(lambda: self._env.select_template(candidates), candidates[0])
        name = page.name or ""
        failure = plan.failure_for(name)
        if failure is not None:
            raise failure
        self._check_layout(page)
        text_name = f"{posixpath.dirname(name)}/{kind}.txt"
        text = self._guarded(lambda: self._env.get_template(text_name), text_name)
        slots = plan.slots.get(name, ())
        slot = next((s for s in slots if TRUSTED_HTML_FIELD in s.expression), None)
        source = self._loader.get_source(self._env, name)[0]
        pinned = pins_in(self._env, source)
        resolved = _EmailTemplates(page, text, text_name, slot, pinned)
        self._resolved[(kind, locale)] = resolved
        return resolved

    def _reload_if_changed(self) -> InliningPlan:
        """The current inlining plan; compiled templates are dropped when it changed.

        The loader looks at the files at most once per ``check_interval``; a new plan
        means some file changed, and since one change to the layout's ``<style>`` changes
        every template, everything is recompiled.
        """
        plan = self._loader.plan()
        if plan is not self._plan:
            if self._env.cache is not None:
                self._env.cache.clear()
            self._plain_env = None
            self._resolved.clear()
            self._answers.clear()
            self._entries.clear()
            self._lists.clear()
            self._env.translations = TemplateTranslations.load(self.templates_dir)
            self._plan = plan
        return plan

    def _render_page(
        self, page: jinja2.Template, variables: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        """The page's HTML, and the subject and preheader blocks as it rendered them.

        The layout prints both blocks (``<title>`` and the hidden preview line), so they
        are captured on the way instead of being rendered a second time: this is what
        ``Template.render`` does, with the two block functions of this one render's
        context wrapped. A block rendered other than exactly once is not returned, and
        ``render`` renders it on its own.
        """
        context = page.new_context(variables)  # copies ``variables`` into a new dict
        context.parent.update(extra)  # that copy: ``variables`` stays as it was
        captured: dict[str, list[str]] = {}
        for name in _HEADER_BLOCKS:
            stack = context.blocks.get(name)
            if stack:
                stack[0] = _capturing(stack[0], captured.setdefault(name, []))
        try:
            body = self._env.concat(page.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            self._env.handle_exception()  # maps compiled frames back to template lines
            raise  # unreachable: handle_exception always raises
        return body, {name: parts[0] for name, parts in captured.items() if len(parts) == 1}

    def _render_text(
        self, template: jinja2.Template, variables: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> str:
        """``template.render({**variables, **extra})``, copying the variables only once."""
        try:
            context = template.new_context(variables)
            context.parent.update(extra)  # the context's own copy
            return self._env.concat(template.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            self._env.handle_exception()
            raise  # unreachable: handle_exception always raises

    def _prepared_answers(
        self, slot: HtmlSlot | None, variables: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """FAQ entries with their answer inlined for the page and as text for the text part.

        ``answer_html`` gets the styles of the place the page shows it: premailer runs once
        per answer and place (``inline_fragment``), and per email only the values the
        stylesheet takes from the email (the brand colour) are filled in. ``answer_text``
        is the answer without tags, also computed once per answer, for the ``.txt``.
        """
        given = tuple(variables[TRUSTED_HTML_LIST])
        # The same chosen answers reach many emails as the same dicts: the whole list is
        # prepared once per slot, and per email only the stylesheet's values are looked up
        # again (in the order the slow path below would look them up) and compared.
        list_key = (id(slot), *map(id, given))
        known = self._lists.get(list_key)
        if (
            known is not None
            and known.slot is slot
            and all(a is b for a, b in zip(known.given, given, strict=True))
            and tuple(str(escape(self._evaluate(tag, variables))) for tag in known.expressions)
            == known.fill
        ):
            return list(known.entries)
        values: dict[str, str] = {}
        expressions = dict(slot.placeholders) if slot is not None else {}

        def filled(parts: list[str]) -> tuple[str, ...]:
            for placeholder in parts[1::2]:
                if placeholder not in values:
                    value = self._evaluate(expressions[placeholder], variables)
                    values[placeholder] = str(escape(value))
            return tuple(values[p] for p in parts[1::2])

        entries = []
        for entry in given:
            answer_html = str(entry[TRUSTED_HTML_FIELD])
            key = (id(slot), answer_html)
            prepared = self._answers.get(key)
            if prepared is None:
                inlined = (
                    inline_fragment(answer_html, slot.ancestors, slot.stylesheet)
                    if slot is not None
                    else answer_html
                )
                prepared = (STYLE_VALUE.split(inlined), answer_text(answer_html))
                self._answers[key] = prepared
            parts, text = prepared
            fill = filled(parts) if len(parts) > 1 else ()
            # The same chosen answer reaches many emails as the same dict
            # (``LikelyQuestion.for_template``): prepared once per slot and brand values.
            done = self._entries.get((id(slot), id(entry)))
            if done is not None and done[0] is entry and done[1] == fill:
                entries.append(done[2])
                continue
            if fill:
                answer = "".join(values[p] if i % 2 else p for i, p in enumerate(parts))
            else:
                answer = parts[0]
            # The snippet's own text rendering keeps link addresses and list dashes; an
            # entry without one (a store's own slot) gets the tags stripped.
            own_text = entry.get("answer_text")
            result = {
                "url": None,
                **entry,
                TRUSTED_HTML_FIELD: Markup(answer),
                "answer_text": own_text or text,
            }
            if len(self._entries) >= _MAX_PREPARED_ENTRIES:
                self._entries.clear()
            self._entries[(id(slot), id(entry))] = (entry, fill, result)
            entries.append(result)
        if len(self._lists) >= _MAX_PREPARED_ENTRIES:
            self._lists.clear()
        self._lists[list_key] = _PreparedList(
            slot,
            given,
            tuple(expressions[p] for p in values),  # dicts keep the order of lookup
            tuple(values.values()),
            tuple(entries),
        )
        return entries

    def _evaluate(self, tag: str, variables: Mapping[str, Any]) -> Any:
        """The value of a ``{{ expression }}`` that stood in the stylesheet.

        A dotted name (``store.brand_colour``, the usual case) is looked up through the
        sandbox directly; anything else is compiled once as a sandboxed expression.
        """
        compiled = self._expressions.get(tag)
        if compiled is None:
            expression = tag.strip()[2:-2].strip("-+ \t\n")
            if _DOTTED_NAME.match(expression):
                compiled = partial(self._lookup, expression.split("."))
            else:
                expression_of = self._env.compile_expression(expression, undefined_to_none=False)
                compiled = partial(_call_with_keywords, expression_of)
            self._expressions[tag] = compiled
        return compiled(variables)

    def _lookup(self, path: list[str], variables: Mapping[str, Any]) -> Any:
        first = path[0]
        value = variables[first] if first in variables else self._env.undefined(name=first)
        for attribute in path[1:]:
            value = self._env.getattr(value, attribute)
        return value

    def _check_layout(self, template: jinja2.Template) -> None:
        """Refuse content outside ``{% block %}`` in a template that extends the layout.

        Jinja silently drops it, so a sentence a marketer adds below ``{% endblock %}``
        would never reach the customer, and a misspelt variable there would never be
        reported. Checked once per version of the templates.
        """
        name = template.name or ""
        source = self._guarded(lambda: self._loader.raw_source(name), name)
        tree = self._guarded(lambda: self._env.parse(source, name, template.filename), name)
        if not any(isinstance(node, jinja2.nodes.Extends) for node in tree.body):
            return
        lines = source.splitlines()
        for node in tree.body:
            if not isinstance(node, jinja2.nodes.Output):
                continue
            for part in node.nodes:
                line = part.lineno
                if isinstance(part, jinja2.nodes.TemplateData):
                    if not part.data.strip():
                        continue
                    line += part.data[: len(part.data) - len(part.data.lstrip())].count("\n")
                snippet = lines[line - 1].strip()[:80]
                raise TemplateError(
                    f"{snippet!r} is outside every {{% block %}}, so it would never be shown;"
                    " move it into a block",
                    template=_shown_name(name, self.templates_dir),
                    line=line,
                )

    def _render_block(
        self, template: jinja2.Template, block: str, variables: Mapping[str, Any]
    ) -> str:
        """One block of ``template`` on its own, HTML-escaped as in the page.

        Autoescaping applies inside the block too (the file is HTML), so ``&`` in a store
        name comes out as ``&amp;``; ``render`` unescapes it to give back exactly the text
        the variables held, which is what a subject line must show.
        """
        render_block = template.blocks.get(block)
        if render_block is None:
            raise TemplateError(
                f"no {{% block {block} %}} in this template", template=template.name
            )

        def run() -> str:
            try:
                return "".join(render_block(template.new_context(dict(variables))))
            except Exception:
                # Maps the compiled code's frames back to template lines.
                self._env.handle_exception()
                raise  # unreachable: handle_exception always raises

        return self._guarded(run, template.name or block)

    def _guarded(self, step: Callable[[], _T], template_name: str) -> _T:
        return _guarded(step, template_name, self.templates_dir)


def _call_with_keywords(function: Callable[..., Any], variables: Mapping[str, Any]) -> Any:
    return function(**variables)


_BLOCK_END = re.compile(r"</(?:p|li|h[1-6]|div|blockquote)\s*>|<br\s*/?>", re.IGNORECASE)


def answer_text(answer_html: str) -> str:
    """An FAQ answer for the plain-text part: its text, without tags or entities, one
    paragraph per block (``striptags`` alone would run "…tags.Start a return…" together).
    Used where an answer comes without the text its Markdown gives (``answer_text``)."""
    parts = (Markup(part).striptags() for part in _BLOCK_END.split(answer_html))
    return "\n\n".join(part for part in parts if part)


def _unescape(text: str) -> str:
    """``html.unescape(text)``; without its regex when only autoescaping wrote ``&``.

    Each ``&`` starts at most one of the references replaced here, and none of their
    replacements contains an ``&``: when every ``&`` left starts ``&amp;``, replacing it
    last gives what ``html.unescape`` gives (``&amp;lt;`` stays ``&lt;``).
    """
    if "&" not in text:
        return text
    plain = text
    for reference, character in _ESCAPES:
        if reference in plain:
            plain = plain.replace(reference, character)
    if plain.count("&") == plain.count("&amp;"):
        return plain.replace("&amp;", "&")
    return html.unescape(text)


def _capturing(
    render_block: Callable[[jinja2.runtime.Context], Iterator[str]], into: list[str]
) -> Callable[[jinja2.runtime.Context], Iterator[str]]:
    """``render_block``, also appending the text it produces to ``into``."""

    def capture(context: jinja2.runtime.Context) -> Iterator[str]:
        # Not a generator: the compiled caller (``yield from``, or ``concat`` for
        # ``self.subject()``) iterates what it returns right away.
        chunks = list(render_block(context))
        into.append("".join(chunks))
        return iter(chunks)

    return capture


def locale_folders(locale: str) -> list[str]:
    """``de_AT`` -> ``de_AT``, ``de``, ``en``: the most specific translation first."""
    tag = locale.replace("-", "_")
    candidates = [tag, tag.split("_", 1)[0], FALLBACK_LANGUAGE]
    return list(dict.fromkeys(candidates))


def template_names(kind: str, locale: str, suffix: str) -> list[str]:
    """Where a ``kind`` email's ``.html`` or ``.txt`` for ``locale`` may be, best first."""
    return [f"{folder}/{kind}.{suffix}" for folder in locale_folders(locale)]


def _one_line(text: str, limit: int) -> str:
    """``text`` as a single header-safe line: no CR/LF or control characters, at most
    ``limit`` characters.

    A customer name with a line break must not start a new header (header injection),
    and a template's own line breaks are only layout. No-break and thin spaces stay: CLDR
    puts them in amounts and date ranges ("1.234,50\u00a0€") so they do not wrap.
    """
    # ``isprintable`` rules out every break character (category Cc, Zl or Zp).
    if (text.isprintable() and "  " not in text) or _NEEDS_ONE_LINING.search(text) is None:
        line = text.strip()
    else:
        line = _LINE_BREAKS_AND_SPACES.sub(" ", text).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "\u2026"
    return line


def _guarded(step: Callable[[], _T], template_name: str, templates_dir: Path) -> _T:
    """Run a rendering step; any failure becomes a ``TemplateError`` naming file and line."""
    try:
        return step()
    except TemplateError:
        raise
    except Exception as exc:
        raise _template_error(exc, template_name, templates_dir) from exc


def _template_error(exc: Exception, template_name: str, templates_dir: Path) -> TemplateError:
    """The ``TemplateError`` a failed rendering step raises: what failed, in which file and line."""
    if isinstance(exc, jinja2.TemplatesNotFound):
        return TemplateError(
            f"no template for this email: looked for {', '.join(map(str, exc.templates))}"
            f" in {templates_dir}"
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(f"template {exc.name} not found in {templates_dir}")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(
            f"syntax error: {exc.message}",
            template=_shown_name(exc.name or exc.filename or template_name, templates_dir),
            line=exc.lineno,
        )
    name, line = _failing_template_line(exc.__traceback__, templates_dir)
    kind = "refused by the sandbox" if isinstance(exc, jinja2.sandbox.SecurityError) else ""
    return TemplateError(
        f"{kind}: {exc}" if kind else str(exc) or type(exc).__name__,
        template=_shown_name(name or template_name, templates_dir),
        line=line,
    )


def _shown_name(name: str, templates_dir: Path) -> str:
    """A template as the marketer names it: relative to the templates folder, with ``/``."""
    path = Path(name)
    if path.is_relative_to(templates_dir):
        path = path.relative_to(templates_dir)
    return path.as_posix()


def _frames(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _failing_template_line(
    tb: TracebackType | None, templates_dir: Path
) -> tuple[str | None, int | None]:
    """The innermost template file and line in a traceback Jinja has rewritten.

    Jinja rewrites tracebacks so that frames of compiled templates carry the template's
    filename and source line (``jinja2.debug.rewrite_traceback_stack``); the innermost
    such frame is where the error is, even inside an included partial.
    """
    root = str(templates_dir)
    found: tuple[str | None, int | None] = (None, None)
    for frame in _frames(tb):
        filename = frame.tb_frame.f_code.co_filename
        if filename.startswith(root):
            found = (filename, frame.tb_lineno)
    return found
