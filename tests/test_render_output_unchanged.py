"""The renderer's fast paths give what the plain paths give.

Prepared FAQ lists are reused across emails only while the values their inlined styles
take from the email are the same; subject clean-up skips its regexes only when they would
change nothing; a template edit is still picked up through the loader's cheaper check.
"""

from __future__ import annotations

import html
import random
import re
import shutil
import time
from pathlib import Path

from aftercare.rendering import renderer as rendering
from aftercare.rendering.renderer import EmailRenderer
from bench.render import TEMPLATES, sample_workload

_ORIGINAL_ONE_LINE = re.compile(f"[ ]*[{rendering._BREAKS}][ {rendering._BREAKS}]*| {{2,}}")


def _reference_one_line(text: str, limit: int) -> str:
    line = _ORIGINAL_ONE_LINE.sub(" ", text).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "\u2026"
    return line


def test_unescape_and_one_line_match_the_plain_implementations() -> None:
    pieces = ["&", "amp;", "lt;", "gt;", "#39;", "#34;", "quot;", "#x27;", "nbsp;", ";", "#"]
    pieces += [" ", "  ", "\n", "\r", "\t", "\u2028", "\u2029", "\x85", "\x00", "\x7f"]
    pieces += ["\u00a0", "\u2009", "a", "é", "€", "&amp;", "&#39;"]
    chance = random.Random(7)
    for _ in range(20_000):
        text = "".join(chance.choice(pieces) for _ in range(chance.randint(0, 12)))
        assert rendering._unescape(text) == html.unescape(text), repr(text)
        for limit in (5, 200):
            assert rendering._one_line(text, limit) == _reference_one_line(text, limit), text


def test_every_sample_renders_the_same_again_and_with_a_fresh_renderer() -> None:
    workload = sample_workload()
    warm = EmailRenderer(TEMPLATES)
    first = [warm.render(kind, context, locale) for kind, context, locale in workload]
    again = [warm.render(kind, context, locale) for kind, context, locale in workload]
    fresh = [EmailRenderer(TEMPLATES).render(k, c, loc) for k, c, loc in workload]
    assert first == again == fresh


def test_the_same_answers_with_another_brand_colour_get_that_colour() -> None:
    renderer = EmailRenderer(TEMPLATES)
    kind, context, locale = next(
        (k, c, loc) for k, c, loc in sample_workload() if c.get("likely_questions")
    )
    green = renderer.render(kind, context, locale)
    red_context = {**context, "store": {**context["store"], "brand_colour": "#aa0000"}}
    red = renderer.render(kind, red_context, locale)
    assert "#aa0000" in red.html and "#aa0000" not in green.html
    assert renderer.render(kind, context, locale) == green
    assert EmailRenderer(TEMPLATES).render(kind, red_context, locale) == red


def test_an_edited_template_is_picked_up_after_the_check_interval(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    renderer = EmailRenderer(folder, check_interval=0.05)
    kind, context, locale = sample_workload(folder)[0]
    assert "Welcome" in renderer.render(kind, context, locale).subject
    path = folder / "en" / f"{kind}.html"
    path.write_text(path.read_text().replace("Welcome to", "Hello from"), encoding="utf-8")
    time.sleep(0.1)
    assert renderer.render(kind, context, locale).subject.startswith("Hello from")
