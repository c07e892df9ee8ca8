"""CSS inlined once per template: the same styles as premailer on every email, at no cost
per email."""

from __future__ import annotations

from pathlib import Path

import cssutils
import lxml.html
import premailer
import pytest

from aftercare.authoring.reference_rendering import PerEmailRenderer, inlining_differences
from aftercare.authoring.samples import sample_emails
from aftercare.emails import EmailKind
from aftercare.errors import TemplateError
from aftercare.rendering.css import inline_fragment
from aftercare.rendering.inlining import build_plan
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import PROJECT_ROOT, StoreFacts
from tests.template_edits import insert_line

TEMPLATES = PROJECT_ROOT / "email_templates"
SAMPLES = sample_emails()


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(TEMPLATES)


def render_both(templates_dir: Path, sample_index: int) -> tuple[str, str]:
    """One sample rendered the fast way and the per-email-premailer way."""
    sample = SAMPLES[sample_index]
    renderer = EmailRenderer(templates_dir, check_interval=0)
    context = sample.context(StoreFacts(), renderer.available_locales())
    fast = renderer.render(sample.kind, context, "en").html
    slow = PerEmailRenderer(templates_dir).inlined_html(sample.kind, context, "en")
    return fast, slow


@pytest.mark.parametrize(
    "index", range(len(SAMPLES)), ids=[f"{s.kind.value}-{s.name}" for s in SAMPLES]
)
def test_every_element_gets_the_inline_style_premailer_gives_it_on_the_whole_email(
    index: int,
) -> None:
    fast, slow = render_both(TEMPLATES, index)
    assert inlining_differences(fast, slow) == []
    # Not vacuous: the email really is inlined, FAQ answers included where there are some.
    document = lxml.html.document_fromstring(fast)
    assert "padding:" in (document.find_class("content")[0].get("style") or "")
    for answer in document.find_class("answer"):
        assert all(p.get("style") for p in answer.iter("p"))


def test_the_comparison_notices_a_single_missing_declaration() -> None:
    fast, slow = render_both(TEMPLATES, 0)
    broken = fast.replace("font-weight:bold", "", 1)
    assert broken != fast
    differences = inlining_differences(broken, slow)
    assert len(differences) == 1 and "font-weight:bold" in differences[0]


def test_no_email_pays_for_premailer(
    renderer: EmailRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StoreFacts()
    contexts = [(s.kind, s.context(store, {"en"})) for s in SAMPLES]
    for kind, context in contexts:  # templates loaded, snippets inlined once
        renderer.render(kind, context, "en")
    calls = []
    original = premailer.Premailer.transform
    monkeypatch.setattr(
        premailer.Premailer,
        "transform",
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k),
    )
    for kind, context in contexts:
        renderer.render(kind, context, "en")
    assert calls == []


def test_each_faq_answer_is_inlined_once_however_many_emails_show_it(
    renderer: EmailRenderer,
) -> None:
    enriched = [s for s in SAMPLES if s.enriched]
    assert len(enriched) >= 2
    store = StoreFacts()
    answers = {q["answer_html"] for q in enriched[0].context(store, {"en"})["likely_questions"]}
    before = inline_fragment.cache_info()
    for _ in range(3):
        for sample in enriched:
            renderer.render(sample.kind, sample.context(store, {"en"}), "en")
    inlined = inline_fragment.cache_info().misses - before.misses
    assert inlined <= len(answers)


def test_media_queries_survive_with_important(renderer: EmailRenderer) -> None:
    sample = SAMPLES[2]
    email = renderer.render(sample.kind, sample.context(StoreFacts(), {"en"}), "en")
    styles = lxml.html.document_fromstring(email.html).findall(".//style")
    assert len(styles) == 1
    sheet = cssutils.parseString(styles[0].text, validate=False)
    media = [rule for rule in sheet if rule.type == rule.MEDIA_RULE]
    assert [m.media.mediaText for m in media] == ["only screen and (max-width: 620px)"]
    declarations = [p for rule in media[0].cssRules for p in rule.style.getProperties()]
    assert declarations and all(p.priority == "important" for p in declarations)
    # Everything else was inlined: no plain rule is left behind in <style>.
    assert [rule for rule in sheet if rule.type == rule.STYLE_RULE] == []


def test_the_brand_colour_from_settings_reaches_the_inlined_styles() -> None:
    store = StoreFacts(brand_colour="#7a1f5c")
    renderer = EmailRenderer(TEMPLATES)
    sample = next(s for s in SAMPLES if s.kind is EmailKind.WELCOME)
    html = renderer.render(sample.kind, sample.context(store, {"en"}), "en").html
    button = lxml.html.document_fromstring(html).find_class("button")[0]
    assert "background-color:#7a1f5c" in button.get("style", "").replace(" ", "")
    assert button.getparent().get("bgcolor") == "#7a1f5c"  # Outlook paints the cell
    assert "#2f5d50" not in html  # the default colour is gone everywhere


def test_inlining_keeps_every_line_where_the_marketer_wrote_it() -> None:
    sources = {
        path.relative_to(TEMPLATES).as_posix(): path.read_text()
        for path in TEMPLATES.rglob("*.html")
    }
    plan = build_plan(sources)
    assert plan.errors() == []
    for name, source in sources.items():
        stamped = plan.source_for(name)
        assert stamped is not None
        assert stamped.count("\n") == source.count("\n"), name
    assert plan.source_for("base.html") != sources["base.html"]  # it did inline


def render_welcome(templates_dir: Path) -> str:
    sample = next(s for s in SAMPLES if s.kind is EmailKind.WELCOME)
    renderer = EmailRenderer(templates_dir, check_interval=0)
    return renderer.render(sample.kind, sample.context(StoreFacts(), {"en"}), "en").html


def test_jinja_in_a_class_attribute_is_refused_with_file_and_line(templates_copy: Path) -> None:
    line = insert_line(
        templates_copy / "en" / "welcome.html", "<h1>", '<p class="note-{{ kind }}">Hi</p>'
    )
    with pytest.raises(
        TemplateError, match=rf"en/welcome.html, line {line}: Jinja inside a class"
    ) as caught:
        render_welcome(templates_copy)
    assert (caught.value.template, caught.value.line) == ("en/welcome.html", line)
    assert caught.value.problem.startswith("Jinja inside a class= attribute")


@pytest.mark.parametrize("selector", [".items td:last-child", ".box-table + p", "a[href]"])
def test_a_selector_that_depends_on_the_rendered_rows_is_refused_naming_its_line(
    templates_copy: Path, selector: str
) -> None:
    line = insert_line(
        templates_copy / "base.html", "table { border-collapse", f"  {selector} {{ border: 0; }}"
    )
    with pytest.raises(TemplateError, match=rf"base.html, line {line}: the selector") as caught:
        render_welcome(templates_copy)
    assert (caught.value.template, caught.value.line) == ("base.html", line)


def test_a_hover_rule_is_not_inlined_but_kept_in_style(templates_copy: Path) -> None:
    insert_line(
        templates_copy / "base.html", "table { border-collapse", "  .button:hover { opacity: 0.9; }"
    )
    html = render_welcome(templates_copy)
    assert ".button:hover" in html and "opacity" not in html.split("</style>", 1)[1]


def test_a_jinja_statement_inside_style_is_refused(templates_copy: Path) -> None:
    line = insert_line(
        templates_copy / "base.html",
        "table { border-collapse",
        "  {% if dir == 'rtl' %}.x { color: red; }{% endif %}",
    )
    with pytest.raises(TemplateError, match=rf"base.html, line {line}: a Jinja statement"):
        render_welcome(templates_copy)


def test_a_partial_styled_differently_in_two_places_is_refused(templates_copy: Path) -> None:
    (templates_copy / "partials" / "signature.html").write_text('<p class="sign">The team</p>\n')
    insert_line(
        templates_copy / "partials" / "footer.html",
        "Every {{ store_name }}",
        '{% include "partials/signature.html" %}',
    )
    insert_line(
        templates_copy / "en" / "welcome.html", "<h1>", '{% include "partials/signature.html" %}'
    )
    with pytest.raises(
        TemplateError, match="partials/signature.html, line 1: <p> gets different styles"
    ) as caught:
        render_welcome(templates_copy)
    assert (caught.value.template, caught.value.line) == ("partials/signature.html", 1)
    assert caught.value.problem.startswith("<p> gets different styles in ")


def test_a_partial_styled_in_one_place_and_not_in_the_other_is_refused(
    templates_copy: Path,
) -> None:
    (templates_copy / "partials" / "note.html").write_text("<span>Handmade</span>\n")
    base = templates_copy / "base.html"
    base.write_text(
        base.read_text().replace("  .footer a {", "  .footer span { color: #999; }\n  .footer a {")
    )
    insert_line(
        templates_copy / "partials" / "footer.html",
        "Every {{ store_name }}",
        '{% include "partials/note.html" %}',
    )
    insert_line(
        templates_copy / "en" / "welcome.html", "<h1>", '{% include "partials/note.html" %}'
    )
    with pytest.raises(TemplateError, match="partials/note.html, line 1: <span> gets different"):
        render_welcome(templates_copy)


def test_a_brand_coloured_macro_imported_without_context_is_refused(templates_copy: Path) -> None:
    path = templates_copy / "en" / "welcome.html"
    path.write_text(path.read_text().replace(" with context %}", " %}"))
    with pytest.raises(TemplateError, match=r"partials/macros.html, line \d+: .*with context"):
        render_welcome(templates_copy)


def test_an_edited_stylesheet_is_live_without_a_restart(templates_copy: Path) -> None:
    renderer = EmailRenderer(templates_copy, check_interval=0)
    sample = next(s for s in SAMPLES if s.kind is EmailKind.WELCOME)
    context = sample.context(StoreFacts(), {"en"})
    before = renderer.render(sample.kind, context, "en").html
    base = templates_copy / "base.html"
    base.write_text(
        base.read_text().replace("h1 { margin: 0 0 16px 0;", "h1 { margin: 0 0 99px 0;")
    )
    after = renderer.render(sample.kind, context, "en").html
    assert "margin:0 0 16px 0" in lxml.html.fromstring(before).find(".//h1").get("style")
    assert "margin:0 0 99px 0" in lxml.html.fromstring(after).find(".//h1").get("style")


def test_an_unreadable_template_fails_its_own_email_only(templates_copy: Path) -> None:
    (templates_copy / "en" / "welcome.html").write_bytes("Willkommen bei \xfc".encode("latin-1"))
    with pytest.raises(TemplateError, match="en/welcome.html.*cannot be read as UTF-8") as caught:
        render_welcome(templates_copy)
    assert (caught.value.template, caught.value.line) == ("en/welcome.html", None)
    sample = next(s for s in SAMPLES if s.kind is EmailKind.ORDER_CONFIRMATION)
    renderer = EmailRenderer(templates_copy, check_interval=0)
    email = renderer.render(sample.kind, sample.context(StoreFacts(), {"en"}), "en")
    assert "Thank you" in email.subject


def test_an_emptied_template_says_what_it_lacks(templates_copy: Path) -> None:
    (templates_copy / "en" / "welcome.html").write_text("\n")
    with pytest.raises(TemplateError, match=r"en/welcome.html: no \{% block subject %\}"):
        render_welcome(templates_copy)
