"""Partials compiled into their including templates render exactly as Jinja's includes do."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from aftercare.errors import TemplateError
from aftercare.rendering.renderer import EmailRenderer, EmailSandbox

CONTEXT = {
    "order": {"number": "1001", "items": [{"title": "Mug"}, {"title": "Plate & Bowl"}]},
    "name": "<Ada>",
}

# Each case: the templates, and the one to render. Both environments must agree.
CASES: dict[str, dict[str, str]] = {
    "plain": {"t.txt": "a{% include 'p.txt' %}b", "p.txt": "[{{ order.number }}]"},
    "loop variables": {
        "t.txt": "{% for item in order['items'] %}{% include 'p.txt' %}{% endfor %}",
        "p.txt": "{{ item.title }};",
    },
    "names an include does not see": {
        "t.txt": (
            "{% macro m(a) %}{% for i in [a] %}{% include 'p.txt' %}{% endfor %}{% endmacro %}"
            "{{ m(1) }}"
        ),
        "p.txt": "{{ loop is defined }}{{ varargs is defined }}{{ kwargs is defined }}{{ i }}",
    },
    "a partial's own loop": {
        "t.txt": "{% for o in [1, 2] %}{% include 'p.txt' %}|{% endfor %}",
        "p.txt": (
            "{% for i in order['items'] %}{{ i.title }}{% if not loop.last %}, {% endif %}"
            "{{ loop.index }}/{{ loop.length }}{% endfor %}"
        ),
    },
    "loop outside the partial's own for": {
        "t.txt": "{% for o in [1, 2] %}{% include 'p.txt' %}{% endfor %}",
        "p.txt": "{{ loop is defined }}{% for i in [3] %}{{ loop.index }}{% endfor %}",
    },
    "loop in a for's else and filter": {
        "t.txt": "{% for o in [1] %}{% include 'p.txt' %}{% endfor %}",
        "p.txt": (
            "{% for i in [] %}x{% else %}{{ loop is defined }}{% endfor %}"
            "{% for i in [1, 2] if loop is defined %}{{ i }}{% endfor %}"
        ),
    },
    "loop inside a macro's body in the partial's for": {
        "t.txt": "{% for o in [1] %}{% include 'p.txt' %}{% endfor %}",
        "p.txt": (
            "{% for i in [1, 2] %}{% macro m() %}{{ loop is defined }}{% endmacro %}"
            "{{ m() }}{% endfor %}"
        ),
    },
    "a recursive loop of its own": {
        "t.txt": "{% include 'p.txt' %}",
        "p.txt": (
            "{% for n in [{'c': [{'c': []}]}] recursive %}[{{ loop.depth }}"
            "{{ loop(n.c) }}]{% endfor %}"
        ),
    },
    "macros imported with context": {
        "t.html": "{% from 'm.html' import b, g as hello with context %}{{ b(name) }}{{ hello() }}",
        "m.html": (
            "{# blocks #}\n{% macro b(v) %}<b>{{ v }}</b>{% endmacro %}\n"
            "{% macro g(x=order.number) -%} #{{ x }} {%- endmacro %}\n"
        ),
    },
    "an imported macro calling another of its module": {
        "t.txt": "{% from 'm.txt' import a with context %}{{ a() }}",
        "m.txt": "{% macro a() %}[{{ b() }}]{% endmacro %}{% macro b() %}B{% endmacro %}",
    },
    "a module doing more than defining macros": {
        "t.txt": "{% from 'm.txt' import a with context %}{{ a() }}",
        "m.txt": "{% set x = 'module' %}{% macro a() %}{{ x }}{% endmacro %}",
    },
    "macros imported without context": {
        "t.txt": "{% from 'm.txt' import a %}{{ a() }}",
        "m.txt": "{% macro a() %}{{ order is defined }}{% endmacro %}",
    },
    "macros imported into a child template, used in its blocks": {
        "t.txt": (
            "{% extends 'base.txt' %}{% from 'm.txt' import a with context %}"
            "{% block b %}{{ a() }}{% endblock %}"
        ),
        "base.txt": "[{% block b %}{% endblock %}]",
        "m.txt": "{% macro a() %}{{ order.number }}{% endmacro %}",
    },
    "an import inside a block": {
        "t.txt": (
            "{% extends 'base.txt' %}{% block b %}"
            "{% from 'm.txt' import a with context %}{{ a() }}{% endblock %}"
        ),
        "base.txt": "({% block b %}{% endblock %})",
        "m.txt": "{% macro a() %}{{ name }}{% endmacro %}",
    },
    "an imported macro taking a call block": {
        "t.txt": "{% from 'm.txt' import w with context %}{% call w() %}in{% endcall %}",
        "m.txt": "{% macro w() %}<{{ caller() }}>{% endmacro %}",
    },
    "an imported macro including a partial": {
        "t.html": "{% from 'm.html' import card with context %}{{ card() }}",
        "m.html": "{% macro card() %}{% include 'p.html' %}{% endmacro %}",
        "p.html": "<i>{{ name }}</i>",
    },
    "with variables": {
        "t.txt": "{% with items = order['items'] %}{% include 'p.txt' %}{% endwith %}",
        "p.txt": "{% for i in items %}{{ i.title }},{% endfor %}",
    },
    "a partial's set stays in the partial": {
        "t.txt": "{% set x = 'outer' %}{% include 'p.txt' %}|{{ x }}",
        "p.txt": "{% set x = 'inner' %}{{ x }}",
    },
    "the template's set reaches the partial": {
        "t.txt": "{% set x = 'from parent' %}{% include 'p.txt' %}",
        "p.txt": "{{ x }}",
    },
    "a set reading the same name": {
        "t.txt": "{% set n = 1 %}{% include 'p.txt' %}{{ n }}",
        "p.txt": "{% set n = n + 41 %}{{ n }}-",
    },
    "nested partials": {
        "t.txt": "<{% include 'p.txt' %}>",
        "p.txt": "p({% include 'q.txt' %})",
        "q.txt": "q{{ order.number }}",
    },
    "a partial defining and calling a macro": {
        "t.txt": "{% include 'p.txt' %}{% include 'p.txt' %}",
        "p.txt": "{% macro twice(v) %}{{ v }}{{ v }}{% endmacro %}{{ twice(order.number) }}",
    },
    "a partial importing macros": {
        "t.html": "{% include 'p.html' %}",
        "p.html": "{% import 'm.html' as m %}{{ m.b(name) }}",
        "m.html": "{% macro b(v) %}<b>{{ v }}</b>{% endmacro %}",
    },
    "escaping in html": {"t.html": "{% include 'p.html' %}", "p.html": "<i>{{ name }}</i>"},
    "a text partial in an html template keeps its own escaping": {
        "t.html": "{{ name }}{% include 'p.txt' %}",
        "p.txt": "{{ name }}",
    },
    "a partial including itself": {
        "t.txt": "{% include 'p.txt' %}",
        "p.txt": "{% if order.number == '1' %}{% include 'p.txt' %}{% endif %}x",
    },
    "ignore missing": {"t.txt": "a{% include 'nope.txt' ignore missing %}b"},
    "a name from a variable": {
        "t.txt": "{% set which = 'p.txt' %}{% include which %}",
        "p.txt": "dynamic",
    },
    "without context": {
        "t.txt": "{% include 'p.txt' without context %}",
        "p.txt": "{{ order is defined }}",
    },
    "a partial with blocks and self": {
        "t.txt": "{% include 'p.txt' %}",
        "p.txt": "{% block b %}in block{% endblock %}{{ self.b() }}",
    },
    "whitespace control": {
        "t.txt": "line\n{% include 'p.txt' %}\nafter\n",
        "p.txt": "  {% if true %}\n  kept\n  {% endif %}\n",
    },
}


def _render(templates: dict[str, str], inline: bool) -> str:
    environment = EmailSandbox(jinja2.DictLoader(templates), inline_partials=inline)
    name = "t.html" if "t.html" in templates else "t.txt"
    return environment.get_template(name).render(CONTEXT)


@pytest.mark.parametrize("case", list(CASES))
def test_inlined_partials_render_exactly_as_includes(case: str) -> None:
    templates = CASES[case]
    assert _render(templates, inline=True) == _render(templates, inline=False)


def test_the_partial_is_compiled_into_the_template() -> None:
    templates = CASES["nested partials"]
    inlined = EmailSandbox(jinja2.DictLoader(templates), inline_partials=True)
    plain = EmailSandbox(jinja2.DictLoader(templates))
    assert "get_template" not in inlined.compile(templates["t.txt"], "t.txt", raw=True)
    assert "get_template" in plain.compile(templates["t.txt"], "t.txt", raw=True)


def test_a_broken_partial_is_left_to_jinja_to_report() -> None:
    templates = {"t.txt": "{% include 'p.txt' %}", "p.txt": "{% if %}"}
    environment = EmailSandbox(jinja2.DictLoader(templates), inline_partials=True)
    with pytest.raises(jinja2.TemplateSyntaxError) as caught:
        environment.get_template("t.txt").render(CONTEXT)
    assert caught.value.name == "p.txt"


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_an_error_in_a_nested_partial_names_that_partial_and_line(tmp_path: Path) -> None:
    """The renderer's partials are inlined; its errors still point where the marketer
    has to look."""
    _write(
        tmp_path,
        {
            "en/welcome.html": (
                "{% block subject %}Hi{% endblock %}{% block preheader %}p{% endblock %}"
                "<html><body>{% include 'partials/outer.html' %}</body></html>"
            ),
            "en/welcome.txt": "Hi {% include 'partials/outer.txt' %}",
            "partials/outer.html": "<p>outer</p>",
            "partials/outer.txt": "outer\n{% include 'partials/inner.txt' %}",
            "partials/inner.txt": "one\ntwo\n{{ customer.nickname }}\n",
        },
    )
    renderer = EmailRenderer(tmp_path, check_interval=0)
    with pytest.raises(TemplateError) as caught:
        renderer.render("welcome", {"customer": {"first_name": "Ada"}}, "en")
    assert (caught.value.template, caught.value.line) == ("partials/inner.txt", 3)
    assert "nickname" in str(caught.value)


def test_an_edited_partial_reaches_the_next_email(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "en/welcome.html": (
                "{% block subject %}Hi{% endblock %}{% block preheader %}p{% endblock %}"
                "<html><body>{% include 'partials/sign.html' %}</body></html>"
            ),
            "en/welcome.txt": "{% include 'partials/sign.txt' %}",
            "partials/sign.html": "<p>The team</p>",
            "partials/sign.txt": "The team",
        },
    )
    renderer = EmailRenderer(tmp_path, check_interval=0)
    assert renderer.render("welcome", {}, "en").text == "The team\n"
    (tmp_path / "partials/sign.txt").write_text("The whole team", encoding="utf-8")
    (tmp_path / "partials/sign.html").write_text("<p>The whole team</p>", encoding="utf-8")
    email = renderer.render("welcome", {}, "en")
    assert email.text == "The whole team\n" and "The whole team" in email.html


def test_a_partial_using_only_its_own_loop_is_compiled_in_and_one_using_the_outer_is_not() -> None:
    own = CASES["a partial's own loop"]
    outer = CASES["loop outside the partial's own for"]
    for templates, inlined in ((own, True), (outer, False)):
        environment = EmailSandbox(jinja2.DictLoader(templates), inline_partials=True)
        compiled = environment.compile(templates["t.txt"], "t.txt", raw=True)
        assert ("get_template" not in compiled) is inlined


def test_macros_imported_with_context_are_defined_in_place() -> None:
    templates = CASES["macros imported with context"]
    environment = EmailSandbox(jinja2.DictLoader(templates), inline_partials=True)
    compiled = environment.compile(templates["t.html"], "t.html", raw=True)
    assert "get_template" not in compiled and "make_module" not in compiled
    refused = CASES["an imported macro calling another of its module"]
    environment = EmailSandbox(jinja2.DictLoader(refused), inline_partials=True)
    assert "get_template" in environment.compile(refused["t.txt"], "t.txt", raw=True)
