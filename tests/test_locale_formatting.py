"""Dates and money as each product locale writes them, in rendered emails (issue 18, point 2).

The expectations are CLDR's conventions written out by hand (Russian "г.", Chinese 年月日,
the Thai Buddhist era = Common Era + 543), not outputs of the code under test.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from aftercare.emails import EmailKind
from aftercare.rendering.locale_format import format_day, format_day_range
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import StoreFacts
from tests.test_rendering import TEMPLATES, render
from tests.test_template_translations import _catalogue


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """The shipped templates with a small catalogue per product language, so each renders
    as that language (the shipped catalogues may not all exist yet)."""
    copy = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, copy, ignore=shutil.ignore_patterns("locales"))
    for locale, word in (("ru", "Скидка"), ("th", "ส่วนลด"), ("zh_CN", "折扣")):
        _catalogue(copy, locale, {"Discount": word})
    return copy


def test_thai_dates_in_the_buddhist_era_where_the_store_chooses(templates: Path) -> None:
    renderer = EmailRenderer(templates, check_interval=0)
    buddhist = StoreFacts(buddhist_era_for_thai=True)
    chosen = render(EmailKind.ORDER_CONFIRMATION, renderer, store=buddhist, locale="th")
    default = render(EmailKind.ORDER_CONFIRMATION, renderer, locale="th")
    years = {int(y) for y in re.findall(r"(?<!\d)(20\d\d|25\d\d)(?!\d)", chosen.text)}
    assert years and all(y > 2500 for y in years), years
    assert "พ.ศ." in chosen.html and "ค.ศ." not in chosen.html
    default_years = {int(y) for y in re.findall(r"(?<!\d)(20\d\d|25\d\d)(?!\d)", default.text)}
    assert default_years and all(y < 2100 for y in default_years)
    assert {y + 543 for y in default_years} == years
    # The choice is Thai readers' alone.
    russian = render(EmailKind.ORDER_CONFIRMATION, renderer, store=buddhist, locale="ru")
    assert not re.search(r"(?<!\d)25\d\d(?!\d)", russian.text)


def test_the_buddhist_era_spans_a_new_year() -> None:
    assert format_day(date(2026, 12, 4), "th", "buddhist") == "วันศุกร์ที่ 4 ธันวาคม พ.ศ. 2569"
    both = format_day_range(date(2026, 12, 30), date(2027, 1, 4), "th", "buddhist")
    assert "2569" in both and "2570" in both and "2026" not in both and "2027" not in both
    assert format_day(date(2026, 12, 4), "th") == "วันศุกร์ที่ 4 ธันวาคม ค.ศ. 2026"


@pytest.mark.parametrize(
    ("locale", "date_mark", "money"),
    [
        ("ru", re.compile(r"\d{4}\s?г\."), re.compile(r"\d,\d\d\u00a0€")),
        ("zh-CN", re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"), re.compile(r"€\d+\.\d\d")),
        ("th", re.compile(r"ค\.ศ\. \d{4}"), re.compile(r"€\d+\.\d\d")),
    ],
)
def test_each_language_writes_dates_and_money_its_own_way(
    templates: Path, locale: str, date_mark: re.Pattern[str], money: re.Pattern[str]
) -> None:
    email = render(EmailKind.ORDER_CONFIRMATION, EmailRenderer(templates), locale=locale)
    assert date_mark.search(email.text), email.text
    assert money.search(email.text), email.text


def test_the_stores_own_sentences_come_in_the_emails_language(templates: Path) -> None:
    store = StoreFacts(
        texts={
            "ru": {"ships_from": "нашей мастерской в Лейпциге"},
            "zh-CN": {"support_reply_time": "工作日24小时内"},
        }
    )
    renderer = EmailRenderer(templates)
    russian = render(EmailKind.ORDER_CONFIRMATION, renderer, store=store, locale="ru-UA")
    assert "нашей мастерской в Лейпциге" in russian.text
    assert "our workshop in Leipzig" not in russian.text
    chinese = render(EmailKind.ORDER_CONFIRMATION, renderer, store=store, locale="zh-CN")
    assert "工作日24小时内" in chinese.text
    # A sentence the store did not translate stays its default one.
    assert "our workshop in Leipzig, Germany" in chinese.text
    english = render(EmailKind.ORDER_CONFIRMATION, renderer, store=store)
    assert "our workshop in Leipzig, Germany" in english.text
