"""Templates in every language from one set of files and gettext catalogues (decision 0002).

The catalogues here are written with Babel's own API, independently of the code under
test; the emails are rendered by the real renderer from a copy of the shipped templates.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from aftercare.authoring.samples import sample_store_facts
from aftercare.authoring.translation_catalogues import extract, gaps, update_locale, write_template
from aftercare.authoring.untranslated_text import untranslated_text
from aftercare.emails import EmailKind
from aftercare.rendering.renderer import EmailRenderer, EmailSandbox
from aftercare.rendering.translations import TemplateTranslations, catalogue_path, lookup_chain
from tests.test_rendering import TEMPLATES, render


def _catalogue(
    folder: Path,
    locale: str,
    messages: dict[str | tuple[str, str], str | tuple[str, ...]],
    fuzzy: tuple[str, ...] = (),
) -> Path:
    catalogue = Catalog(locale=locale.replace("-", "_"), fuzzy=False)
    for msgid, msgstr in messages.items():
        flags = ["fuzzy"] if msgid in fuzzy else []
        catalogue.add(msgid, msgstr, flags=flags)
    path = catalogue_path(folder, locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalogue)
    return path


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, copy, ignore=shutil.ignore_patterns("locales"))
    return copy


def test_a_customer_reads_the_sentences_of_their_language(templates: Path) -> None:
    _catalogue(
        templates,
        "ru",
        {"Quantity: %(quantity)s": "Количество: %(quantity)s"},
    )
    renderer = EmailRenderer(templates, check_interval=0)
    assert "ru" in renderer.available_locales()
    russian = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru")
    english = render(EmailKind.ORDER_CONFIRMATION, renderer)
    assert "Количество: 1" in russian.html
    assert 'lang="ru' in russian.html
    assert "Quantity: 1" in english.html and "Количество" not in english.html


def test_an_edited_catalogue_goes_live_without_a_restart(templates: Path) -> None:
    renderer = EmailRenderer(templates, check_interval=0)
    before = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru")
    assert "Quantity: 1" in before.html  # no Russian yet: the English of the templates
    _catalogue(templates, "ru", {"Quantity: %(quantity)s": "Кол-во: %(quantity)s"})
    after = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru")
    assert "Кол-во: 1" in after.html


def test_a_translation_is_text_never_markup(templates: Path) -> None:
    _catalogue(
        templates,
        "ru",
        {"Quantity: %(quantity)s": '<b onclick="x()">Количество</b>: %(quantity)s'},
    )
    renderer = EmailRenderer(templates, check_interval=0)
    email = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru")
    assert "<b onclick" not in email.html
    assert "&lt;b onclick=" in email.html
    problems = gaps(templates, TemplateTranslations.load(templates).catalogues)
    assert any("markup" in p.problem and p.msgid.startswith("Quantity") for p in problems)


def test_fuzzy_translations_wait_for_a_translator(templates: Path) -> None:
    _catalogue(
        templates,
        "ru",
        {"Quantity: %(quantity)s": "Количество: %(quantity)s"},
        fuzzy=("Quantity: %(quantity)s",),
    )
    renderer = EmailRenderer(templates, check_interval=0)
    email = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru")
    assert "Quantity: 1" in email.html
    problems = gaps(templates, TemplateTranslations.load(templates).catalogues)
    assert any(p.problem.startswith("fuzzy") for p in problems)


def test_regional_variants_use_their_language_but_never_another_script(templates: Path) -> None:
    _catalogue(templates, "ru", {"Quantity: %(quantity)s": "Количество: %(quantity)s"})
    _catalogue(templates, "zh_CN", {"Quantity: %(quantity)s": "数量：%(quantity)s"})
    renderer = EmailRenderer(templates, check_interval=0)
    assert "Количество: 1" in render(EmailKind.ORDER_CONFIRMATION, renderer, locale="ru-UA").html
    assert "数量：1" in render(EmailKind.ORDER_CONFIRMATION, renderer, locale="zh-CN").html
    loaded = TemplateTranslations.load(templates)
    for simplified in ("zh", "zh-Hans", "zh-Hans-SG", "zh_CN"):
        assert loaded.for_locale(simplified).gettext("Quantity: %(quantity)s").startswith("数量")
    # Traditional-Chinese readers get Simplified only where the store chose it (locale choice).
    for traditional in ("zh-TW", "zh-Hant-HK", "zh_Hant"):
        assert loaded.for_locale(traditional).gettext("Quantity: %(quantity)s") == (
            "Quantity: %(quantity)s"
        )
    assert "zh_Hans" not in lookup_chain("zh-TW")


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "1 товар"), (3, "3 товара"), (5, "5 товаров"), (11, "11 товаров"), (21, "21 товар")],
)
def test_russian_plurals_follow_the_catalogue_rule(
    tmp_path: Path, count: int, expected: str
) -> None:
    _catalogue(
        tmp_path,
        "ru",
        {("%(num)s item", "%(num)s items"): ("%(num)s товар", "%(num)s товара", "%(num)s товаров")},
    )
    environment = EmailSandbox(
        jinja2.DictLoader(
            {"n.txt": "{% trans num=n %}{{ num }} item{% pluralize %}{{ num }} items{% endtrans %}"}
        )
    )
    environment.translations = TemplateTranslations.load(tmp_path)
    text = environment.get_template("n.txt").render(locale="ru_RU", n=count)
    assert text == expected


def test_an_unreadable_catalogue_is_reported_and_the_email_still_goes(templates: Path) -> None:
    path = catalogue_path(templates, "th")
    path.parent.mkdir(parents=True)
    path.write_text('msgid "Quantity: %(quantity)s"\nmsgsrt "จำนวน"\n', encoding="utf-8")
    loaded = TemplateTranslations.load(templates)
    assert [p.locale for p in loaded.problems] == ["th"]
    assert "messages.po" in loaded.problems[0].message
    renderer = EmailRenderer(templates, check_interval=0)
    assert "Quantity: 1" in render(EmailKind.ORDER_CONFIRMATION, renderer, locale="th").html


def test_extract_then_update_makes_a_catalogue_translators_can_fill(templates: Path) -> None:
    pot, count = write_template(templates)
    with pot.open("rb") as file:
        extracted = read_po(file)
    ids = {m.id for m in extracted if m.id}
    assert "Discount: %(discount)s" in ids
    assert len({(m.id, m.context) for m in extracted if m.id}) == count
    locations = extracted.get("Discount: %(discount)s").locations
    assert [path for path, _ in locations] == ["partials/items.html"]

    created = update_locale(templates, "ru")
    assert created.created and created.untranslated == count
    with created.path.open("rb") as file:
        russian = read_po(file)
    assert russian.num_plurals == 3
    # The translator fills one sentence; then the English changes.
    russian.get("Discount: %(discount)s").string = "Скидка: %(discount)s"
    with created.path.open("wb") as file:
        write_po(file, russian)
    items = templates / "partials" / "items.html"
    items.write_text(
        items.read_text(encoding="utf-8").replace(
            "{% trans %}Discount: {{ discount }}{% endtrans %}",
            "{% trans %}Discount {{ discount }}{% endtrans %}",
        ),
        encoding="utf-8",
    )
    again = update_locale(templates, "ru")
    assert not again.created and again.fuzzy == 1
    with again.path.open("rb") as file:
        merged = read_po(file)
    changed = merged.get("Discount %(discount)s")
    assert changed.fuzzy and changed.string == "Скидка: %(discount)s"
    problems = gaps(templates, TemplateTranslations.load(templates).catalogues)
    assert any(p.msgid == "Discount %(discount)s" and "fuzzy" in p.problem for p in problems)


def test_a_broken_placeholder_is_caught_before_a_customer_sees_it(templates: Path) -> None:
    _catalogue(templates, "ru", {"Discount: %(discount)s": "Скидка: %(amount)s"})
    problems = gaps(templates, TemplateTranslations.load(templates).catalogues)
    assert any(p.msgid == "Discount: %(discount)s" and "placeholder" in p.problem for p in problems)


def test_every_sentence_of_the_shipped_templates_is_extractable() -> None:
    ids = [m.id for m in extract(TEMPLATES) if m.id]
    assert ids, "the templates mark their sentences for translation"


def test_english_written_outside_trans_is_found_with_its_file_and_line(templates: Path) -> None:
    shipped = templates / "en" / "order_shipped.html"
    source = shipped.read_text(encoding="utf-8")
    marker = "{% block body %}"
    assert marker in source
    shipped.write_text(
        source.replace(
            marker,
            marker
            + "\n<p>Our parrots say hello</p>\n<p>{% trans %}Our owls say hello{% endtrans %}</p>"
            + '\n<img src="https://x.example/o.png" alt="A sleepy owl">',
            1,
        ),
        encoding="utf-8",
    )
    line = source[: source.index(marker)].count("\n") + 2
    found = untranslated_text(templates, sample_store_facts())
    parrots = [f for f in found if "parrots" in f.words]
    assert [(f.template, f.line) for f in parrots] == [("en/order_shipped.html", line)]
    assert not [f for f in found if "owls" in f.words]
    assert [f for f in found if "sleepy owl" in f.words]
    # The store's own words (its name, products, the customer's) are values, not English.
    assert not [f for f in found if "Fern" in f.words or "Anna" in f.words]


@pytest.mark.parametrize(
    ("heading", "columns"),
    [("What you ordered", 16), ("您订购的商品", 12), ("สินค้าที่สั่งซื้อ", 9), ("Что вы заказали", 15)],
)
def test_a_plain_text_heading_is_underlined_as_wide_as_it_looks(heading: str, columns: int) -> None:
    environment = EmailSandbox(jinja2.DictLoader({"h.txt": '{{ heading|underline("=") }}'}))
    assert environment.get_template("h.txt").render(heading=heading) == "=" * columns
