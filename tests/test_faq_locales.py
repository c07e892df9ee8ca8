"""The shipped FAQ answers exist in every product locale, as translations of one another.

Read with PyYAML and markdown-it directly, not with the snippet loader under test: a
translation changes the question and the body's words, never what decides when the answer
is shown (kinds, conditions, priorities, keywords, anchors, dates) or where it links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from aftercare.enrichment.faq.markdown_body import render_answer
from aftercare.settings import PROJECT_ROOT

SNIPPETS = PROJECT_ROOT / "faq_snippets"
LOCALES = ("en", "zh-CN", "ru", "th")
TRANSLATED = ("question", "locale")
_LINK = re.compile(r"\]\((https?://[^)\s]+)\)")


def _read(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


@pytest.mark.parametrize("locale", LOCALES[1:])
def test_every_answer_is_translated_with_the_same_rules(locale: str) -> None:
    english = {p.name: p for p in (SNIPPETS / "en").glob("*.md")}
    translated = {p.name: p for p in (SNIPPETS / locale).glob("*.md")}
    assert sorted(translated) == sorted(english)
    for name, path in english.items():
        source, source_body = _read(path)
        target, target_body = _read(translated[name])
        assert target["locale"] == locale, name
        assert target["question"] != source["question"], f"{locale}/{name}: question in English"
        same = {k: v for k, v in source.items() if k not in TRANSLATED}
        assert {k: v for k, v in target.items() if k not in TRANSLATED} == same, name
        assert _LINK.findall(target_body) == _LINK.findall(source_body), name


@pytest.mark.parametrize("locale", LOCALES)
def test_no_answer_shows_stray_asterisks(locale: str) -> None:
    """Bold that Markdown does not close (``**德国：**4.90``) reaches customers as ``**``."""
    parser = MarkdownIt("commonmark")
    for path in sorted((SNIPPETS / locale).glob("*.md")):
        _, body = _read(path)
        html = parser.render(body)
        assert "**" not in html, f"{locale}/{path.name}"
        assert not render_answer(body).problems, f"{locale}/{path.name}"


def test_unclosed_bold_is_a_problem_the_check_reports() -> None:
    assert render_answer("**德国：**4.90欧元").problems
    assert "**" in MarkdownIt("commonmark").render("**德国：**4.90欧元")  # the rule it guards
    assert not render_answer("**德国**：4.90欧元").problems
    assert not render_answer("Choose **Forgot your password?** on the page.").problems


@pytest.mark.parametrize("locale", LOCALES[1:])
def test_translations_are_not_left_in_english(locale: str) -> None:
    """A body with more Latin-script words than brand names would be English left over."""
    for path in sorted((SNIPPETS / locale).glob("*.md")):
        _, body = _read(path)
        prose = _LINK.sub("", body)
        latin = re.findall(r"[A-Za-z]{3,}", prose)
        assert len(latin) <= 8, f"{locale}/{path.name}: {latin}"
