"""The template check across languages: a kind written in several locale folders must
have the same parts in each (issue 18, point 6)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aftercare.authoring.check import check_templates
from aftercare.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "email_templates"


def test_a_locale_folder_missing_a_block_another_has_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, copy)
    (copy / "de").mkdir()
    for suffix in ("html", "txt"):
        shutil.copy(
            copy / "en" / f"order_shipped.{suffix}", copy / "de" / f"order_shipped.{suffix}"
        )
    german = copy / "de" / "order_shipped.html"
    source = german.read_text(encoding="utf-8")
    without = re.sub(r"\{% block preheader %\}.*?\{% endblock %\}", "", source, count=1, flags=re.S)
    assert without != source
    german.write_text(without, encoding="utf-8")
    report = check_templates(copy)
    found = [f for f in report.findings if f.rule == "locale-blocks"]
    assert [(f.template, "preheader" in f.message) for f in found] == [
        ("de/order_shipped.html", True)
    ]
    assert "en/order_shipped.html" in found[0].message
    assert not report.ok


def test_every_sample_is_checked_in_every_translated_language() -> None:
    from aftercare.authoring.samples import sample_emails
    from aftercare.emails import EmailKind
    from aftercare.rendering.renderer import EmailRenderer

    locales = EmailRenderer(TEMPLATES).available_locales()
    assert {"en", "ru", "th", "zh_Hans_CN"} <= locales
    report = check_templates(TEMPLATES)
    assert report.ok, [str(f) for f in report.errors]
    shipped = [s for s in sample_emails() if s.kind is EmailKind.ORDER_SHIPPED]
    assert report.templates["en/order_shipped.html"].renders == len(shipped) * len(locales)


def test_a_translation_that_breaks_the_layout_is_reported_under_its_language(
    tmp_path: Path,
) -> None:
    """A Russian sentence long enough to push an email past Gmail's clipping is found when
    the Russian samples are rendered, and the finding says which language did it."""
    from babel.messages.pofile import read_po, write_po

    copy = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, copy)
    path = copy / "locales" / "ru" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as file:
        catalogue = read_po(file)
    catalogue.get("Thank you for your order").string = "Спасибо за заказ! " * 6000
    with path.open("wb") as file:
        write_po(file, catalogue)
    report = check_templates(copy)
    sizes = [f for f in report.errors if f.rule == "html-size"]
    assert sizes and all((f.sample or "").startswith("ru: ") for f in sizes), sizes
