"""`aftercare templates check`: the shipped templates pass; a broken copy fails, saying where."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aftercare.authoring.check import (
    MAX_HTML_BYTES,
    MAX_STYLE_BYTES,
    Severity,
    check_templates,
    format_report,
)
from aftercare.authoring.samples import ORDER_SAMPLES, sample_emails
from aftercare.cli import build_cli
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "email_templates"


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """A copy of the templates with one of each mistake a marketer can make.

    Returns the folder, the CLI's output for it and its exit code.
    """
    folder = tmp_path_factory.mktemp("broken") / "email_templates"
    shutil.copytree(TEMPLATES, folder)
    welcome = folder / "en" / "welcome.html"
    welcome.write_text(
        welcome.read_text().replace(
            "<h1>{% trans store_name=store.name %}Welcome to {{ store_name }}{% endtrans %}</h1>",
            "<h1>{% trans store_name=store.name %}Welcome to {{ store_name }}{% endtrans %}</h1>\n"
            '<p class="intro-{{ kind }}">Hello {{ customer.nickname }}</p>\n'
            '<img src="https://cdn.fernandfield.example/banner.png">\n'
            '<a href="http://fernandfield.example/summer">Summer sale</a>\n'
            '<div style="position: absolute">Stamp</div>\n'
            "<p>{{ customer.shoe_size }}</p>",
        )
    )
    (folder / "en" / "order_shipped.txt").unlink()
    refunded = folder / "en" / "order_refunded.html"
    # One long paragraph: over Gmail's clipping size without slowing the check down.
    refunded.write_text(
        refunded.read_text().replace(
            '<h2>{{ _("Would you like to order again?") }}</h2>',
            '<h2>{{ _("Would you like to order again?") }}</h2>\n<p>'
            + "Lorem ipsum dolor sit. " * 4200
            + "</p>",
        )
    )
    base = folder / "base.html"
    # Few rules with long names: over Gmail's 16 KB of <style>, cheap for premailer.
    bulky_media = "".join(
        f"    .filler-{'x' * 600}-{i} {{ margin: 0 !important; }}\n" for i in range(30)
    )
    base.write_text(
        base.read_text()
        .replace(
            "@media only screen and (max-width: 620px) {\n",
            "@media only screen and (max-width: 620px) {\n" + bulky_media,
            1,
        )
        .replace('<html lang="{{ lang }}" dir="{{ dir }}">', '<html dir="{{ dir }}">')
    )
    result = CliRunner().invoke(build_cli(), ["templates", "check", "--templates-dir", str(folder)])
    return folder, result.output, result.exit_code


def test_the_shipped_templates_pass_every_check() -> None:
    result = CliRunner().invoke(
        build_cli(), ["templates", "check", "--templates-dir", str(TEMPLATES)]
    )
    assert result.exit_code == 0, result.output
    assert "Template check passed: 0 errors" in result.output
    for kind in (
        "welcome",
        "order_confirmation",
        "order_shipped",
        "order_delayed",
        "order_refunded",
    ):
        assert re.search(rf"ok\s+en/{kind}.html\s+\d+ samples", result.output), result.output


def test_every_template_is_rendered_against_every_sample_order() -> None:
    report = check_templates(TEMPLATES)
    samples = sample_emails()
    languages = len(EmailRenderer(TEMPLATES).available_locales())  # each sample in each
    for kind in {s.kind for s in samples}:
        expected = sum(1 for s in samples if s.kind is kind) * languages
        assert report.templates[f"en/{kind.value}.html"].renders == expected
    names = {s.name for s in samples}
    for wanted in (*ORDER_SAMPLES, "partial shipment", "partial refund"):
        assert wanted in names


def test_a_broken_copy_fails_with_a_non_zero_exit(broken: tuple[Path, str, int]) -> None:
    _, output, exit_code = broken
    assert exit_code == 1
    assert "Template check FAILED" in output


def test_each_mistake_is_reported_with_its_file_and_line(broken: tuple[Path, str, int]) -> None:
    folder, output, _ = broken
    welcome = folder / "en" / "welcome.html"
    expected = {
        "jinja-in-attribute": line_of(welcome, 'class="intro-'),
        "image": line_of(welcome, "banner.png"),
        "link": line_of(welcome, "http://fernandfield.example/summer"),
    }
    for rule, line in expected.items():
        assert re.search(rf"error: en/welcome.html, line {line}: .*\({rule}\)", output), rule
    nickname = line_of(welcome, "customer.nickname")
    shoe = line_of(welcome, "customer.shoe_size")
    # Every undefined variable, not only the first one to stop the render.
    assert f"en/welcome.html, line {nickname}: 'customer.nickname' is undefined" in output
    assert f"en/welcome.html, line {shoe}: 'customer.shoe_size' is undefined" in output
    assert re.search(
        r"warning: en/welcome.html, line \d+: position is not supported by gmail", output
    )
    html_line = line_of(folder / "base.html", "<html dir")
    assert f"error: base.html, line {html_line}: <html> without lang" in output


def test_size_limits_and_the_missing_text_part_are_reported(broken: tuple[Path, str, int]) -> None:
    _, output, _ = broken
    assert "en/order_shipped.html: no plain-text part: add en/order_shipped.txt" in output
    html_size = re.search(r"en/order_refunded.html: the HTML is ([\d.]+) KB as sent", output)
    assert html_size and float(html_size.group(1)) * 1000 > MAX_HTML_BYTES
    style_size = re.search(r"<style> holds ([\d.]+) KB after inlining", output)
    assert style_size and float(style_size.group(1)) * 1024 > MAX_STYLE_BYTES


def test_an_inlining_problem_the_static_scan_cannot_see_is_caught_by_comparison(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, folder)
    path = folder / "en" / "welcome.html"
    # A tag opened in one branch and closed after the {% endif %}: the assembled template
    # nests differently from any rendered email, so styles could differ.
    path.write_text(
        path.read_text().replace(
            '<h2>{{ pgettext("heading", "Returns") }}</h2>',
            '{% if customer.first_name %}<div class="answer">{% else %}<div class="muted">'
            "{% endif %}<p>Returns are free.</p></div>\n<h2>Returns</h2>",
        )
    )
    report = check_templates(folder)
    inlining = [f for f in report.findings if f.rule == "inlining"]
    assert inlining and all(f.severity is Severity.ERROR for f in inlining)
    assert "en/welcome.html" in format_report(report)


def test_a_problem_is_reported_under_the_file_it_is_in_without_repeating_where(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, folder)
    # A partial that is not UTF-8 fails every email that includes it, with no line to
    # name: the finding belongs to the partial, not to the email that was being rendered.
    costs = folder / "partials" / "costs.html"
    costs.write_bytes(costs.read_text().replace("Subtotal", "Zwischensumme \xfc").encode("latin-1"))
    address = folder / "partials" / "address.html"
    typo_line = line_of(address, "<p class") + 1
    lines = address.read_text().splitlines(keepends=True)
    lines.insert(typo_line - 1, "{{ address.postcode_typo }}\n")
    address.write_text("".join(lines))

    report = check_templates(folder)

    unreadable = [f for f in report.templates["partials/costs.html"].findings if f.rule == "render"]
    assert [(f.line, f.message.split(" (")[0]) for f in unreadable] == [
        (None, "cannot be read as UTF-8 text")
    ]
    typo = [f for f in report.templates["partials/address.html"].findings if f.rule == "render"]
    assert [(f.line, f.message) for f in typo] == [
        (typo_line, "'dict object' has no attribute 'postcode_typo'")
    ]
    assert f"error: partials/address.html, line {typo_line}: 'dict object'" in format_report(report)
    for finding in report.findings:  # the report prefixes the place once, itself
        assert f"template {finding.template}" not in finding.message, finding


def test_a_broken_faq_snippet_fails_the_check_with_its_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faq = tmp_path / "faq_snippets"
    shutil.copytree(PROJECT_ROOT / "faq_snippets", faq)
    broken = faq / "en" / "when-ships.md"
    lines = broken.read_text(encoding="utf-8").splitlines()
    kinds_line = next(i for i, line in enumerate(lines) if line.startswith("kinds:")) + 1
    lines[kinds_line - 1] = "kinds: [order_confirmation, order_teleported]"
    broken.write_text("\n".join(lines) + "\n{{ customer.first_name }}\n", encoding="utf-8")
    monkeypatch.setenv("AFTERCARE_FAQ_DIR", str(faq))
    result = CliRunner().invoke(
        build_cli(), ["templates", "check", "--templates-dir", str(TEMPLATES)]
    )
    assert result.exit_code == 1, result.output
    assert f"faq_snippets/en/when-ships.md, line {kinds_line}" in result.output
    assert "order_teleported" in result.output
    assert "(faq-snippet)" in result.output
