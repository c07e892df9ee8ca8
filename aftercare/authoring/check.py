"""Check every template in every locale against sample orders, before anything is sent.

``aftercare templates check`` runs this. For each template it reports, with the file and
line where one can be named:

- render errors and every undefined variable (not only the first);
- HTML size, encoded as it is sent (quoted-printable): Gmail clips a message above about
  102 KB and hides the rest, footer and all (hteumeuleu/email-bugs#41); fail above 90 KB;
- the total size of ``<style>``: Gmail keeps only the first 16 KB of CSS
  (hteumeuleu/email-bugs#90);
- links that are not absolute ``https`` (``mailto:`` and ``tel:`` are fine), images
  without ``alt`` or ``width``, a missing ``lang``, a missing plain-text part;
- Jinja inside ``class``/``style`` attributes, and anything else that stops the CSS from
  being inlined once per template; and that the once-inlined HTML equals what premailer
  makes of the whole email;
- CSS and HTML the major mail clients ignore (``email_client_support``, warnings).

Errors make the check fail; warnings are advice.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import cssutils
import jinja2
import lxml.html

from aftercare.authoring import client_support as support
from aftercare.authoring.reference_rendering import PerEmailRenderer, inlining_differences
from aftercare.authoring.samples import SampleEmail, sample_emails, sample_store_facts
from aftercare.authoring.translation_catalogues import gaps
from aftercare.authoring.untranslated_text import untranslated_text
from aftercare.emails import EmailKind
from aftercare.enrichment.faq.snippets import check_snippets
from aftercare.errors import TemplateError
from aftercare.rendering.inlining import build_plan
from aftercare.rendering.mime import encoded_size
from aftercare.rendering.renderer import (
    TRUSTED_HTML_FIELD,
    TRUSTED_HTML_LIST,
    EmailRenderer,
    answer_text,
    pins_in,
    template_names,
)
from aftercare.rendering.template_source import (
    JINJA_TAG,
    EndTag,
    ScannedTemplate,
    StartTag,
    TemplateSourceError,
    scan,
)
from aftercare.rendering.translations import CATALOGUE_FOLDER, TemplateTranslations, normalized
from aftercare.settings import StoreFacts

# Gmail clips at ~102 KB; implementations disagree on 102*1000 vs 102*1024 bytes, so the
# check fails at 90 KB of encoded HTML to leave room for what the transport adds.
MAX_HTML_BYTES = 90_000
MAX_STYLE_BYTES = 16 * 1024
_SAFE_SCHEMES = ("https://", "mailto:", "tel:")
_ONCE_PER_TEMPLATE = frozenset({"html-size", "style-size", "lang", "text-part"})


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem, where it is, and which sample showed it (for problems of output)."""

    template: str
    line: int | None
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    sample: str | None = None

    def __str__(self) -> str:
        where = f"{self.template}, line {self.line}" if self.line else self.template
        sample = f" [sample: {self.sample}]" if self.sample else ""
        return f"{self.severity}: {where}: {self.message} ({self.rule}){sample}"


@dataclass
class TemplateReport:
    """What the check found for one template file."""

    template: str
    renders: int = 0
    largest_html_bytes: int = 0
    largest_style_bytes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


@dataclass
class CheckReport:
    templates_dir: Path
    templates: dict[str, TemplateReport] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for report in self.templates.values() for f in report.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, finding: Finding) -> None:
        """Record ``finding`` unless the template already has it (from another sample).

        A size or ``lang`` problem is reported once per template, with the first sample
        that showed it; a render error at a line already reported is the same problem.
        """
        report = self.templates.setdefault(finding.template, TemplateReport(finding.template))
        for known in report.findings:
            same_place = known.rule == finding.rule and known.line == finding.line
            if same_place and (
                finding.rule in _ONCE_PER_TEMPLATE or known.message == finding.message
            ):
                return
            if finding.rule == "render" and finding.line and known.line == finding.line:
                return
        report.findings.append(finding)


def check_templates(
    templates_dir: Path, store: StoreFacts | None = None, faq_dir: Path | None = None
) -> CheckReport:
    """Check every template under ``templates_dir``; see the module docstring for what.

    With ``faq_dir``, the FAQ snippets too (front matter, kinds, conditions, ids, bodies,
    links): a broken snippet fails the check with its file and line, never a send.
    """
    templates_dir = Path(templates_dir).resolve()
    store = store or sample_store_facts()
    report = CheckReport(templates_dir)
    sources: dict[str, str] = {}
    for path in sorted(templates_dir.rglob("*")):
        if not (path.is_file() and path.suffix in (".html", ".txt")):
            continue
        name = path.relative_to(templates_dir).as_posix()
        report.templates.setdefault(name, TemplateReport(name))
        try:
            sources[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            report.add(Finding(name, None, "encoding", f"not UTF-8 text ({exc}); save it as UTF-8"))
    scanned = _static_checks(report, sources)
    _inlining_checks(report, sources, scanned)
    renderer = EmailRenderer(templates_dir, check_interval=0)
    reference = PerEmailRenderer(templates_dir)
    for locale in sorted(renderer.available_locales()):
        for kind in EmailKind:
            _check_email(report, renderer, reference, sources, scanned, store, locale, kind)
    _check_translations(report, templates_dir)
    _check_blocks(report, sources, renderer.environment)
    if renderer.available_locales() - renderer.template_folder_locales():
        _check_untranslated(report, templates_dir, store)
    if faq_dir is not None and Path(faq_dir).is_dir():
        _check_snippets(report, Path(faq_dir).resolve())
        _check_pins(report, renderer, sources, Path(faq_dir).resolve())
    return report


def _check_pins(
    report: CheckReport, renderer: EmailRenderer, sources: dict[str, str], faq_dir: Path
) -> None:
    """A template that pins a snippet the store does not have would silently pin nothing."""
    known = {path.stem for path in faq_dir.glob("*/*.md")}
    for name, source in sources.items():
        try:
            pinned = pins_in(renderer.environment, source)
        except jinja2.TemplateSyntaxError:
            continue  # reported by the render checks
        for snippet_id in pinned:
            if snippet_id in known:
                continue
            line = next(
                (n for n, text in enumerate(source.splitlines(), 1) if snippet_id in text), None
            )
            report.add(
                Finding(
                    name,
                    line,
                    "faq-pin",
                    f"pin_question({snippet_id!r}) pins a snippet {faq_dir.name}/ does not have;"
                    f" add {faq_dir.name}/<locale>/{snippet_id}.md or fix the id",
                )
            )


def _check_translations(report: CheckReport, templates_dir: Path) -> None:
    """Each catalogue against the templates: a sentence missing or awaiting confirmation in
    one language sends that language's customers a half-English email."""
    loaded = TemplateTranslations.load(templates_dir)
    for problem in loaded.problems:
        report.add(
            Finding(
                f"locales/{problem.locale}/LC_MESSAGES/messages.po",
                None,
                "catalogue",
                problem.message,
            )
        )
    try:
        found = gaps(templates_dir, dict(loaded.catalogues))
    except TemplateError:
        return  # a template that cannot be parsed is reported by the render checks
    folders = {
        normalized(p.parent.parent.name): p.parent.parent.name
        for p in (templates_dir / CATALOGUE_FOLDER).glob("*/LC_MESSAGES/messages.po")
    }
    for gap in found:
        folder = folders.get(gap.locale, gap.locale)
        report.add(
            Finding(
                f"locales/{folder}/LC_MESSAGES/messages.po",
                None,
                "translation",
                f"{gap.problem}: {gap.msgid!r}; fill it in (any .po editor), then run"
                " `aftercare templates check` again",
            )
        )


def _check_blocks(
    report: CheckReport, sources: dict[str, str], environment: jinja2.Environment
) -> None:
    """A kind written in several locale folders must have the same blocks in each: a
    German email without the preheader block another language has shows the body's first
    words as its inbox preview, and one without ``subject`` cannot be sent at all."""
    blocks: dict[str, dict[str, set[str]]] = {}
    for name, source in sources.items():
        folder, _, file = name.partition("/")
        if not file.endswith(".html") or "/" in file or folder in ("partials", "locales"):
            continue
        try:
            found = {b.name for b in environment.parse(source).find_all(jinja2.nodes.Block)}
        except jinja2.TemplateSyntaxError:
            continue  # reported by the render checks
        blocks.setdefault(file, {})[folder] = found
    for file, by_folder in sorted(blocks.items()):
        every = set().union(*by_folder.values())
        for folder, found in sorted(by_folder.items()):
            for missing in sorted(every - found):
                others = ", ".join(f for f, b in sorted(by_folder.items()) if missing in b)
                report.add(
                    Finding(
                        f"{folder}/{file}",
                        None,
                        "locale-blocks",
                        f"has no {{% block {missing} %}}, which {others}/{file} has; add it so"
                        " every language's email has the same parts",
                    )
                )


def _check_untranslated(report: CheckReport, templates_dir: Path, store: StoreFacts) -> None:
    """Words a template writes outside ``{% trans %}``: the languages that come from
    catalogues would show them in English."""
    for found in untranslated_text(templates_dir, store):
        report.add(
            Finding(
                found.template,
                found.line,
                "untranslated",
                f"{found.words!r} is not marked for translation, so customers reading a"
                " translated email see it in English; wrap the sentence in"
                ' {% trans %}…{% endtrans %} (or _("…") in an attribute)',
                sample=found.sample,
            )
        )


def _check_snippets(report: CheckReport, faq_dir: Path) -> None:
    for problem in check_snippets(faq_dir):
        path = Path(problem.path)
        shown = (
            f"{faq_dir.name}/{path.relative_to(faq_dir).as_posix()}"
            if path.is_relative_to(faq_dir)
            else str(path)
        )
        report.add(Finding(shown, problem.line, "faq-snippet", problem.message))


# --- the files themselves -------------------------------------------------------------------


def _static_checks(report: CheckReport, sources: dict[str, str]) -> dict[str, ScannedTemplate]:
    scanned: dict[str, ScannedTemplate] = {}
    for name, source in sources.items():
        if not name.endswith(".html"):
            continue
        try:
            template = scan(source, name)
        except TemplateSourceError as exc:
            report.add(Finding(name, exc.line, "html", str(exc)))
            continue
        scanned[name] = template
        style: StartTag | None = None
        for token in template.tokens:
            if isinstance(token, StartTag):
                _check_tag(report, template, token)
                style = token if token.name == "style" else None
            elif isinstance(token, EndTag) and token.name == "style" and style is not None:
                css = JINJA_TAG.sub("x", template.source[style.end : token.start])
                _check_stylesheet(report, template, style.end, css)
                style = None
    return scanned


def _check_tag(report: CheckReport, template: ScannedTemplate, tag: StartTag) -> None:
    name = template.name
    line = template.line_of(tag.start)
    for attribute in tag.attributes:
        if attribute.jinja and attribute.name in ("class", "style"):
            report.add(
                Finding(
                    name,
                    template.line_of(attribute.start),
                    "jinja-in-attribute",
                    f'Jinja inside <{tag.name} {attribute.name}="…">: classes and inline'
                    " styles must be fixed text, because the CSS is inlined once per"
                    " template; use two static classes and {% if %}, or put a"
                    " {{ value }} into base.html's <style>",
                ),
            )
        value = template.attribute_value(attribute)
        literal_link = attribute.name in ("href", "src") and not attribute.jinja
        if literal_link and not value.strip().lower().startswith(_SAFE_SCHEMES):
            report.add(
                Finding(
                    name,
                    line,
                    "link",
                    f'<{tag.name} {attribute.name}="{value}"> is not an absolute https'
                    " link; mail clients flag plain http, and relative links go nowhere",
                )
            )
        if attribute.name == "style" and not attribute.jinja:
            for declaration in value.split(";"):
                if ":" in declaration:
                    prop, prop_value = declaration.split(":", 1)
                    _warn_css(report, name, line, support.css_property(prop, prop_value))
        _warn_css(report, name, line, support.html_attribute(attribute.name))
    _warn_css(report, name, line, support.html_element(tag.name))
    if tag.name == "img":
        missing = [a for a in ("alt", "width") if tag.attribute(a) is None]
        if missing:
            report.add(
                Finding(
                    name,
                    line,
                    "image",
                    f"<img> without {' or '.join(missing)}: "
                    + (
                        "screen readers and blocked images need alt text; "
                        if "alt" in missing
                        else ""
                    )
                    + (
                        "Outlook needs a width attribute to size an image"
                        if "width" in missing
                        else ""
                    ),
                )
            )
    if tag.name == "html" and tag.attribute("lang") is None:
        report.add(Finding(name, line, "lang", '<html> without lang: set lang="{{ lang }}"'))
    if tag.name == "meta" and "color-scheme" in template.text(tag):
        _warn_css(report, name, line, support.meta_color_scheme())


def _check_stylesheet(report: CheckReport, template: ScannedTemplate, start: int, css: str) -> None:
    for verdict in support.css_at_rules(css):
        report.add(
            Finding(
                template.name,
                template.line_of(start),
                "email-client-support",
                verdict.describe(),
                Severity.WARNING,
            )
        )
    cssutils.log.setLevel(logging.CRITICAL)  # a broken rule is premailer's to report
    sheet = cssutils.parseString(css, validate=False)
    for rule in _style_rules(sheet):
        for prop in rule.style.getProperties(all=True):
            verdict = support.css_property(prop.name, prop.value)
            if verdict is not None:
                found = template.source.find(prop.name, start)
                line = template.line_of(found if found >= 0 else start)
                _warn_css(report, template.name, line, verdict)


def _style_rules(sheet: Any) -> Iterable[Any]:
    for rule in sheet:
        if rule.type == rule.STYLE_RULE:
            yield rule
        elif rule.type == rule.MEDIA_RULE:
            yield from (r for r in rule.cssRules if r.type == r.STYLE_RULE)


def _warn_css(
    report: CheckReport, template: str, line: int, verdict: support.Unsupported | None
) -> None:
    if verdict is not None:
        report.add(
            Finding(template, line, "email-client-support", verdict.describe(), Severity.WARNING)
        )


def _inlining_checks(
    report: CheckReport, sources: dict[str, str], scanned: dict[str, ScannedTemplate]
) -> None:
    plan = build_plan({name: source for name, source in sources.items() if name.endswith(".html")})
    for error in plan.errors():
        name = error.template or next(iter(plan.roots), "base.html")
        line = error.line
        already = report.templates.get(name)
        if already and any(
            f.rule == "jinja-in-attribute" and f.line == line for f in already.findings
        ):
            continue
        report.add(Finding(name, line, "inlining", error.problem))


# --- every email, rendered --------------------------------------------------------------------


def _check_email(
    report: CheckReport,
    renderer: EmailRenderer,
    reference: PerEmailRenderer,
    sources: dict[str, str],
    scanned: dict[str, ScannedTemplate],
    store: StoreFacts,
    locale: str,
    kind: EmailKind,
) -> None:
    page_name = f"{locale}/{kind.value}.html"
    text_name = f"{locale}/{kind.value}.txt"
    # A language that comes from a catalogue renders the templates of the folder it falls
    # back to (en/): every one of its samples is checked there, named by its language.
    translated = locale not in renderer.template_folder_locales()
    if translated:
        page_name = next(
            (n for n in template_names(kind.value, locale, "html") if n in sources), page_name
        )
        text_name = page_name.removesuffix(".html") + ".txt"
    if page_name not in report.templates:
        if text_name in report.templates:
            report.add(
                Finding(text_name, None, "text-part", f"{text_name} has no {page_name} beside it")
            )
        return  # this locale falls back to another language for this kind: by design
    if page_name not in sources or (text_name in report.templates and text_name not in sources):
        return  # unreadable: reported as an encoding error already
    if text_name not in sources:
        report.add(
            Finding(
                page_name,
                None,
                "text-part",
                f"no plain-text part: add {text_name} (spam filters and some readers"
                " need a text/plain alternative)",
            )
        )
        return
    template_report = report.templates[page_name]
    locales = renderer.available_locales()
    for sample in [s for s in sample_emails(locale=locale) if s.kind is kind]:
        if translated:
            sample = replace(sample, name=f"{locale}: {sample.name}")
        context = sample.context(store, locales)
        try:
            email = renderer.render(kind, context, context["locale"])
        except TemplateError as exc:
            report.add(
                Finding(
                    exc.template or page_name,
                    exc.line,
                    "render",
                    exc.problem,
                    sample=sample.name,
                )
            )
            for finding in _undefined_variables(
                renderer.templates_dir, sample, store, locales, sources
            ):
                report.add(finding)
            continue
        template_report.renders += 1
        _check_output(report, template_report, page_name, email.html, sample.name)
        differences = inlining_differences(
            email.html, reference.inlined_html(kind, context, context["locale"])
        )
        for difference in differences:
            report.add(
                Finding(
                    page_name,
                    None,
                    "inlining",
                    "inlined once, this element differs from premailer on the whole email:"
                    f" {difference} (does an {{% if %}} open a tag it does not close?)",
                    sample=sample.name,
                )
            )


def _check_output(
    report: CheckReport, template_report: TemplateReport, page_name: str, html: str, sample: str
) -> None:
    size = encoded_size(html)  # the HTML part as build_mime sends it
    template_report.largest_html_bytes = max(template_report.largest_html_bytes, size)
    if size > MAX_HTML_BYTES:
        report.add(
            Finding(
                page_name,
                None,
                "html-size",
                f"the HTML is {size / 1000:.1f} KB as sent (limit {MAX_HTML_BYTES / 1000:.0f} KB);"
                " Gmail clips messages above about 102 KB and hides the rest, footer included",
                sample=sample,
            )
        )
    document = lxml.html.document_fromstring(html)
    style_bytes = sum(len((s.text or "").encode()) for s in document.iter("style"))
    template_report.largest_style_bytes = max(template_report.largest_style_bytes, style_bytes)
    if style_bytes > MAX_STYLE_BYTES:
        report.add(
            Finding(
                page_name,
                None,
                "style-size",
                f"<style> holds {style_bytes / 1024:.1f} KB after inlining (Gmail keeps"
                f" {MAX_STYLE_BYTES // 1024} KB and drops the rest)",
                sample=sample,
            )
        )
    if not (document.get("lang") or "").strip():
        report.add(
            Finding(page_name, None, "lang", "the email's <html> has no lang", sample=sample)
        )
    for element in document.iter("a", "img"):
        attribute = "href" if element.tag == "a" else "src"
        url = (element.get(attribute) or "").strip()
        if not url.lower().startswith(_SAFE_SCHEMES):
            report.add(
                Finding(
                    page_name,
                    None,
                    "link",
                    f'<{element.tag} {attribute}="{url}"> in the sent email is not an'
                    " absolute https link",
                    sample=sample,
                )
            )


def _undefined_variables(
    templates_dir: Path,
    sample: SampleEmail,
    store: StoreFacts,
    locales: frozenset[str],
    sources: dict[str, str],
) -> list[Finding]:
    """Every undefined variable the sample meets, rendering on past each one."""
    found: list[tuple[str, int, str]] = []
    # The templates as written (an inlining problem must not hide the variables), with
    # every part of the email rendered; the strict render has reported the first error.
    renderer = PerEmailRenderer(templates_dir, undefined=_recording(found))
    context = sample.context(store, locales)
    context[TRUSTED_HTML_LIST] = [  # as EmailRenderer hands them to the templates
        {**entry, "answer_text": answer_text(entry[TRUSTED_HTML_FIELD])}
        for entry in context[TRUSTED_HTML_LIST]
    ]
    for suffix in ("html", "txt"):
        with contextlib.suppress(Exception):
            renderer.template(sample.kind, context["locale"], suffix).render(context)
    findings = []
    for name, line, missing in dict.fromkeys(found):
        expression = _expression_at(sources.get(name, ""), line, missing)
        findings.append(
            Finding(
                name,
                line,
                "undefined",
                f"{expression} is undefined for this email",
                sample=sample.name,
            )
        )
    return findings


def _recording(found: list[tuple[str, int, str]]) -> type[jinja2.Undefined]:
    """An ``Undefined`` that notes where it is used, then behaves as an empty value."""

    class RecordingUndefined(jinja2.ChainableUndefined):
        def _note(self) -> None:
            frame = sys._getframe(2)
            while frame is not None:
                template = frame.f_globals.get("__jinja_template__")
                if template is not None:
                    line = template.get_corresponding_lineno(frame.f_lineno)
                    found.append((template.name or "?", line, self._undefined_name or "?"))
                    return
                frame = frame.f_back  # type: ignore[assignment]

        def __str__(self) -> str:
            self._note()
            return ""

        def __html__(self) -> str:
            self._note()
            return ""

        def __iter__(self) -> Any:
            self._note()
            return iter(())

        def __bool__(self) -> bool:
            self._note()
            return False

        def __len__(self) -> int:
            self._note()
            return 0

    return RecordingUndefined


def _expression_at(source: str, line: int, missing: str) -> str:
    """The dotted expression on ``line`` that ends in ``missing`` (``customer.nickname``)."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    match = re.search(rf"[A-Za-z_][\w.]*\.{re.escape(missing)}\b|\b{re.escape(missing)}\b", text)
    return f"'{match.group()}'" if match else f"'{missing}'"


# --- the report ---------------------------------------------------------------------------------


def format_report(report: CheckReport) -> str:
    """Plain text, one block per template with findings, then a summary line."""
    lines: list[str] = []
    for name in sorted(report.templates):
        template = report.templates[name]
        if not template.findings and not template.renders:
            continue
        sizes = ""
        if template.renders:
            html_kb = template.largest_html_bytes / 1000
            style_kb = template.largest_style_bytes / 1024
            sizes = (
                f"  {template.renders} samples,"
                f" HTML up to {html_kb:.1f} KB, <style> {style_kb:.1f} KB"
            )
        status = "FAIL" if template.errors else "ok"
        lines.append(f"{status:4}  {name}{sizes}")
        for finding in template.findings:
            lines.append(f"      {finding}")
    errors = len(report.errors)
    warnings = len(report.findings) - errors
    verdict = "passed" if report.ok else "FAILED"
    lines.append(
        f"Template check {verdict}: {errors} error{'s' * (errors != 1)},"
        f" {warnings} warning{'s' * (warnings != 1)} in {report.templates_dir}"
    )
    return "\n".join(lines)
