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
"""

from __future__ import annotations

import html
import posixpath
import re
import unicodedata
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import jinja2
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from aftercare.css_inlining import inline_css
from aftercare.email_kinds import EmailKind
from aftercare.email_message import RenderedEmail
from aftercare.errors import TemplateError
from aftercare.locale_format import FALLBACK_LANGUAGE

# Long subjects are cut by every inbox anyway; 200 keeps a broken template from
# producing a header that some servers fold or reject.
MAX_SUBJECT_CHARS = 200
MAX_PREHEADER_CHARS = 300

_T = TypeVar("_T")

# Control characters (CR, LF, tab, NUL...) and the Unicode line and paragraph separators.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_SPACES = re.compile(" {2,}")


class EmailRenderer:
    """Renders the five email kinds from ``templates_dir``, with locale fallbacks.

    Compiled templates are cached by the Jinja environment (and recompiled when a file
    changes), so one renderer serves many emails.
    """

    def __init__(self, templates_dir: Path) -> None:
        # Absolute, so tracebacks name template files we can recognise and shorten.
        self.templates_dir = Path(templates_dir).resolve()
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=True, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=True,
        )
        self._layout_checked: weakref.WeakKeyDictionary[jinja2.Template, bool] = (
            weakref.WeakKeyDictionary()
        )

    def render(self, kind: EmailKind, context: Mapping[str, Any], locale: str) -> RenderedEmail:
        """All parts of a ``kind`` email in ``locale`` (falling back to language, then ``en``).

        The HTML and text parts come from the same locale folder, so an email never mixes
        languages when a translation is missing one of its files.
        """
        variables = dict(context)
        page = self._guarded(lambda: self._template_for(kind, locale), f"{kind.value}.html")
        self._check_layout(page)
        folder = posixpath.dirname(page.name or "")
        text_name = f"{folder}/{kind.value}.txt"
        text_template = self._guarded(lambda: self._env.get_template(text_name), text_name)

        subject = _one_line(self._render_block(page, "subject", variables), MAX_SUBJECT_CHARS)
        if not subject:
            raise TemplateError(f"template {page.name}: the subject block renders empty")
        preheader = _one_line(self._render_block(page, "preheader", variables), MAX_PREHEADER_CHARS)
        body = self._guarded(lambda: page.render(variables), page.name)
        text = self._guarded(lambda: text_template.render(variables), text_name)
        return RenderedEmail(
            kind=kind,
            subject=subject,
            preheader=preheader,
            html=inline_css(body),
            text=text.strip() + "\n",
        )

    def available_locales(self) -> frozenset[str]:
        """The locale folders that hold templates (``en``, ``de``, ``de_AT``...).

        ``build_context`` takes these, so an email's dates and money are formatted in the
        language its template is written in.
        """
        return frozenset(
            folder.name
            for folder in self.templates_dir.iterdir()
            if folder.is_dir() and folder.name != "partials" and any(folder.glob("*.html"))
        )

    def _check_layout(self, template: jinja2.Template) -> None:
        """Refuse content outside ``{% block %}`` in a template that extends the layout.

        Jinja silently drops it, so a sentence a marketer adds below ``{% endblock %}``
        would never reach the customer, and a misspelt variable there would never be
        reported. Checked once per compiled template (a changed file is a new one).
        """
        if template in self._layout_checked:
            return
        name = template.name or ""
        loader = self._env.loader
        assert loader is not None  # set in __init__
        source, _, _ = self._guarded(lambda: loader.get_source(self._env, name), name)
        tree = self._guarded(lambda: self._env.parse(source, name, template.filename), name)
        if any(isinstance(node, jinja2.nodes.Extends) for node in tree.body):
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
                        f"{_where(name, line, self.templates_dir)}: {snippet!r} is outside"
                        " every {% block %}, so it would never be shown; move it into a block"
                    )
        self._layout_checked[template] = True

    def _template_for(self, kind: EmailKind, locale: str) -> jinja2.Template:
        return self._env.select_template(
            [f"{folder}/{kind.value}.html" for folder in _locale_folders(locale)]
        )

    def _render_block(
        self, template: jinja2.Template, block: str, variables: dict[str, Any]
    ) -> str:
        """One block of ``template`` on its own; its HTML escapes are undone for a header.

        Autoescaping applies inside the block too (the file is HTML), so ``&`` in a store
        name comes out as ``&amp;``; unescaping gives back exactly the text the variables
        held, which is what a subject line must show.
        """
        render_block = template.blocks.get(block)
        if render_block is None:
            raise TemplateError(
                f"template {template.name}: no {{% block {block} %}} in this template"
            )

        def run() -> str:
            try:
                return "".join(render_block(template.new_context(variables)))
            except Exception:
                # Maps the compiled code's frames back to template lines.
                self._env.handle_exception()
                raise  # unreachable: handle_exception always raises

        return html.unescape(self._guarded(run, template.name or block))

    def _guarded(self, step: Callable[[], _T], template_name: str) -> _T:
        return _guarded(step, template_name, self.templates_dir)


def _locale_folders(locale: str) -> list[str]:
    """``de_AT`` -> ``de_AT``, ``de``, ``en``: the most specific translation first."""
    tag = locale.replace("-", "_")
    candidates = [tag, tag.split("_", 1)[0], FALLBACK_LANGUAGE]
    return list(dict.fromkeys(candidates))


def _one_line(text: str, limit: int) -> str:
    """``text`` as a single header-safe line: no CR/LF or control characters, at most
    ``limit`` characters.

    A customer name with a line break must not start a new header (header injection),
    and a template's own line breaks are only layout. No-break and thin spaces stay: CLDR
    puts them in amounts and date ranges ("1.234,50\u00a0€") so they do not wrap.
    """
    visible = "".join(" " if unicodedata.category(c) in _LINE_BREAKING else c for c in text)
    line = _SPACES.sub(" ", visible).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "\u2026"
    return line


def _guarded(step: Callable[[], _T], template_name: str, templates_dir: Path) -> _T:
    """Run a rendering step; any failure becomes a ``TemplateError`` naming file and line."""
    try:
        return step()
    except TemplateError:
        raise
    except jinja2.TemplatesNotFound as exc:
        raise TemplateError(
            f"no template for this email: looked for {', '.join(map(str, exc.templates))}"
            f" in {templates_dir}"
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name} not found in {templates_dir}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = _where(exc.name or exc.filename or template_name, exc.lineno, templates_dir)
        raise TemplateError(f"{where}: syntax error: {exc.message}") from exc
    except Exception as exc:
        name, line = _failing_template_line(exc.__traceback__, templates_dir)
        where = _where(name or template_name, line, templates_dir)
        kind = "refused by the sandbox" if isinstance(exc, jinja2.sandbox.SecurityError) else ""
        detail = f"{kind}: {exc}" if kind else str(exc) or type(exc).__name__
        raise TemplateError(f"{where}: {detail}") from exc


def _where(name: str, line: int | None, templates_dir: Path) -> str:
    path = Path(name)
    if path.is_relative_to(templates_dir):
        path = path.relative_to(templates_dir)
    return f"template {path.as_posix()}, line {line}" if line else f"template {path.as_posix()}"


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
