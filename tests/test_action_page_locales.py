"""The action pages in Russian, Simplified Chinese and Thai (issue 18's email languages).

Each language has every message English has, with the same placeholders; the sentences the
page fills from other messages of the same language (a rating word, a choice) read whole;
``zh-CN``, ``zh-SG`` and a bare ``zh`` get the Simplified page and ``zh-TW`` does not (a
script is never crossed, as in ``rendering.translations.lookup_chain``). Over real HTTP,
a rating link and the delay-choice links answer in the email's language with its
``<html lang>``, and those pages pass the accessibility check in headless Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from string import Formatter

import httpx
import pytest
from sqlalchemy import Engine

from aftercare.action_links import VALUES, ActionLinks
from aftercare.receiver.action_page_text import FALLBACK, PAGE_LANGUAGES, TEXT, page_language
from aftercare.settings import StoreFacts
from aftercare.storage.database import engine_for
from aftercare.storage.schema_migrations import upgrade
from tests.browser import evaluate_in_page
from tests.test_action_page import (
    DELAYED,
    NOW,
    REFUNDED,
    SECRET,
    STORE,
    Clock,
    link,
    rows,
    serve,
    store_email,
)
from tests.test_action_page_accessibility import _CHECK, DEFAULT, LIGHT, _served

NEW = ("ru", "zh-CN", "th")
# The language each is written in, as the email records it: its explanation's locale (a
# formatting locale) and its HTML part's ``lang``.
RECORDED = {"ru": ("ru_UA", "ru"), "zh-CN": ("zh_Hans_CN", "zh-CN"), "th": ("th_TH", "th")}
SCRIPT = {"ru": "[А-яЁё]", "zh-CN": "[\u4e00-\u9fff]", "th": "[\u0e00-\u0e7f]"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def links() -> ActionLinks:
    # Made the day the emails were, an hour before the clicks (as test_action_page's).
    return ActionLinks(SECRET, "http://unused.example", clock=(NOW - timedelta(hours=1)).timestamp)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


def _filled(language: str, name: str, **values: str) -> str:
    return TEXT[language][name].format(store="Fern & Field", **values)


# --- the words ---------------------------------------------------------------------------


def test_the_new_languages_are_spoken() -> None:
    assert set(NEW) <= set(PAGE_LANGUAGES)


@pytest.mark.parametrize("language", NEW)
def test_every_english_message_is_translated_with_the_same_placeholders(language: str) -> None:
    english, other = TEXT[FALLBACK], TEXT[language]
    assert set(other) == set(english)
    for name, template in english.items():
        assert _placeholders(other[name]) == _placeholders(template), name
        assert other[name] != template, name  # not English left behind
        assert re.search(SCRIPT[language], other[name]), name


@pytest.mark.parametrize("language", NEW)
def test_the_sentences_filled_from_other_messages_read_whole(language: str) -> None:
    for rating in VALUES["rating"]:
        word = TEXT[language][f"rating.{rating}"]
        assert word in _filled(language, "rated", value=word)
    for choice in ("refund", "reship", "ship_ready"):
        phrase = TEXT[language][f"choice.{choice}"]
        for name in ("ask.body", "done.body", "chosen.title"):
            sentence = _filled(language, name, choice=phrase)
            assert "{" not in sentence and phrase in sentence, (name, choice)


@pytest.mark.parametrize(
    ("name", "choice", "reads"),
    [
        (
            "ask.body",
            "refund",
            "Пока ничего не изменилось: нажав кнопку, вы попросите Fern & Field отменить "
            "заказ и вернуть вам деньги.",
        ),
        (
            "done.body",
            "reship",
            "Fern & Field уже знает, что нужно отправить заказ более быстрой доставкой, и "
            "ответит вам по электронной почте.",
        ),
        (
            "chosen.title",
            "ship_ready",
            "Вы уже попросили Fern & Field отправить сейчас то, что готово, а остальное — "
            "как только поступит.",
        ),
    ],
)
def test_russian_choices_are_infinitives_in_every_sentence(
    name: str, choice: str, reads: str
) -> None:
    assert _filled("ru", name, choice=TEXT["ru"][f"choice.{choice}"]) == reads


def test_each_language_keeps_its_conventions() -> None:
    ru, zh, th = TEXT["ru"].values(), TEXT["zh-CN"].values(), TEXT["th"].values()
    # Russian: «ёлочки», never straight quotes; «вы» lowercase inside a sentence.
    assert not any('"' in text for text in ru)
    assert not any(re.search(r"(?<![.!?])\s(?:Вы|Вас|Вам|Вами|Ваш\w*)\b", text) for text in ru)
    # Chinese: 您, full-width punctuation only.
    assert not any("你" in text for text in zh)
    assert not any(re.search(r"[,.!?:;()]", text) for text in zh)
    # Thai: คุณ, and ค่ะ / คะ where a small shop would say them.
    assert sum("ค่ะ" in text or "คะ" in text for text in th) >= 10
    # The words the emails' own buttons use.
    assert TEXT["ru"]["button.refund"] == "Отменить заказ и вернуть деньги"
    assert TEXT["ru"]["button.wait"] == "Подождать"
    assert TEXT["ru"]["button.reship"] == "Ускорить доставку"
    assert TEXT["zh-CN"]["button.refund"] == "取消订单并退款"
    assert TEXT["zh-CN"]["button.wait"] == "继续等待"
    assert TEXT["zh-CN"]["button.reship"] == "加急配送"
    assert TEXT["th"]["button.refund"] == "ยกเลิกคำสั่งซื้อและขอคืนเงิน"


@pytest.mark.parametrize(
    ("candidates", "language"),
    [
        (("zh-CN",), "zh-CN"),
        (("zh_Hans_CN",), "zh-CN"),
        (("zh_Hans_SG",), "zh-CN"),
        (("zh-Hans",), "zh-CN"),
        (("zh",), "zh-CN"),  # a bare zh reads its likely script: Simplified
        (("zh-TW",), "en"),  # Traditional: never the Simplified page by itself
        (("zh_Hant_HK",), "en"),
        (("zh-TW", "th"), "th"),  # … so the next candidate (the store's default) speaks
        (("ru_UA",), "ru"),
        (("ru-RU",), "ru"),
        (("th_TH",), "th"),
        (("de-AT",), "de"),
        (("fr_CA",), "fr"),
        (("ja", None, "xx-YY"), "en"),
    ],
)
def test_which_page_language_a_locale_reads(
    candidates: tuple[str | None, ...], language: str
) -> None:
    assert page_language(*candidates) == language


# --- over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", NEW)
@pytest.mark.parametrize("recorded_by", ["explanation", "html"])
def test_a_rating_link_answers_in_the_emails_language(
    engine: Engine, links: ActionLinks, clock: Clock, language: str, recorded_by: str
) -> None:
    locale, lang = RECORDED[language]
    if recorded_by == "explanation":
        store_email(engine, REFUNDED, "order_refunded", lang="en", locale=locale)
    else:
        store_email(engine, REFUNDED, "order_refunded", lang=lang)
    writer, running = serve(engine, links, clock)
    try:
        with running as base:
            answer = httpx.get(link(base, links, REFUNDED, "rating", "okay"))
    finally:
        writer.close()
    assert answer.status_code == 200
    assert f'<html lang="{language}">' in answer.text
    word = TEXT[language]["rating.okay"]
    assert f"<h1>{_filled(language, 'rated', value=f'<em>{word}</em>')}</h1>" in answer.text
    for other in ("good", "bad"):
        assert f">{TEXT[language][f'rating.button.{other}']}</button>" in answer.text
    assert TEXT[language]["comment.label"].format(store="Fern &amp; Field") in answer.text
    assert [row.value for row in rows(engine)] == ["okay"]


@pytest.mark.parametrize("language", NEW)
def test_the_delay_choice_links_answer_in_the_emails_language(
    engine: Engine, links: ActionLinks, clock: Clock, language: str
) -> None:
    store_email(engine, DELAYED, "order_delayed", lang=RECORDED[language][1])
    words = TEXT[language]
    writer, running = serve(engine, links, clock)
    try:
        with running as base:
            refund = link(base, links, DELAYED, "delay_choice", "refund")
            asked = httpx.get(refund)
            done = httpx.post(refund, data={"value": "refund", "confirm": "yes"})
            wait = httpx.get(link(base, links, DELAYED, "delay_choice", "wait"))
    finally:
        writer.close()
    for page in (asked, done, wait):
        assert page.status_code == 200 and f'<html lang="{language}">' in page.text
    choice = words["choice.refund"]
    assert f"<h1>{words['ask.refund']}</h1>" in asked.text
    assert words["ask.body"].format(store="Fern &amp; Field", choice=choice) in asked.text
    assert f">{words['button.refund']}</button>" in asked.text
    assert f"<h1>{words['done.refund']}</h1>" in done.text
    assert words["done.body"].format(store="Fern &amp; Field", choice=choice) in done.text
    # The confirmed refund stands: "wait" offers to wait instead, in the same language.
    assert words["chosen.title"].format(store="Fern &amp; Field", choice=choice) in wait.text
    assert f">{words['button.wait']}</button>" in wait.text
    assert rows(engine)[0].value == "refund" and rows(engine)[0].confirmed_at is not None


def test_a_traditional_chinese_email_does_not_get_the_simplified_page(
    engine: Engine, links: ActionLinks, clock: Clock
) -> None:
    """An email written as zh-TW (no store offers it yet) gets the store's language; one
    the store wrote in Simplified to a Taiwanese reader records zh-CN and gets Chinese."""
    store_email(engine, REFUNDED, "order_refunded", lang="zh-TW")
    store_email(engine, DELAYED, "order_delayed", lang="zh-CN", locale="zh_CN")
    writer, running = serve(engine, links, clock, STORE.model_copy(update={"default_locale": "ru"}))
    try:
        with running as base:
            traditional = httpx.get(link(base, links, REFUNDED, "rating", "good"))
            simplified = httpx.get(link(base, links, DELAYED, "delay_choice", "reship"))
    finally:
        writer.close()
    assert '<html lang="ru">' in traditional.text and "«<em>хорошо</em>»" in traditional.text
    assert '<html lang="zh-CN">' in simplified.text and "加急配送</button>" in simplified.text


def test_the_page_has_fonts_for_thai_and_chinese(
    engine: Engine, links: ActionLinks, clock: Clock
) -> None:
    store_email(engine, REFUNDED, "order_refunded", lang="th")
    writer, running = serve(engine, links, clock)
    try:
        with running as base:
            page = httpx.get(link(base, links, REFUNDED, "rating", "good")).text
    finally:
        writer.close()
    stack = re.search(r"body\{font:[^;]*?/1\.5 ([^;]+);", page)
    assert stack is not None
    fonts = stack.group(1).split(",")
    assert fonts[0] == "system-ui" and fonts[-1] == "sans-serif"
    for font in ("Noto Sans Thai", "Leelawadee UI", "Noto Sans SC", "PingFang SC"):
        assert f"'{font}'" in fonts, font


# --- accessibility in headless Chromium --------------------------------------------------

_KEYS = {
    language: (
        f"shopify:order:58{n}:refund:98{n}:refunded",
        f"shopify:order:58{n}:delayed:2025-03-14",
    )
    for n, language in enumerate(NEW)
}


@pytest.fixture
def a11y_engine(tmp_path: Path) -> Iterator[Engine]:
    database = tmp_path / "aftercare.db"
    engine = engine_for(f"sqlite:///{database}")
    upgrade(engine)
    for language, (refunded, delayed) in _KEYS.items():
        store_email(engine, refunded, "order_refunded", lang=RECORDED[language][1])
        store_email(engine, delayed, "order_delayed", lang=RECORDED[language][1])
    yield engine
    engine.dispose()


@pytest.mark.parametrize("store", [DEFAULT, LIGHT], ids=["brand colour", "light brand colour"])
def test_the_new_languages_pages_pass_the_accessibility_check(
    a11y_engine: Engine, store: StoreFacts
) -> None:
    signer = ActionLinks(SECRET, "http://x.example", clock=(NOW - timedelta(hours=1)).timestamp)

    def path(key: str, action: str, value: str, subject: str = "") -> str:
        return f"/a/{signer.token(key, action, value, subject)}"  # type: ignore[arg-type]

    variants: list[tuple[str, str, str, str]] = []
    for language, (refunded, delayed) in _KEYS.items():
        variants += [
            (language, "rating", "GET", path(refunded, "rating", "bad")),
            (language, "faq no", "GET", path(refunded, "faq_helpful", "no", "returns-how")),
            (language, "ship ready", "GET", path(delayed, "delay_choice", "ship_ready")),
            (language, "delay done", "POST", path(delayed, "delay_choice", "ship_ready")),
            (language, "chosen", "GET", path(delayed, "delay_choice", "wait")),
        ]
    served = list(_served(a11y_engine, store, [(m, p) for _, _, m, p in variants]))
    for (language, variant, _, _), page in zip(variants, served, strict=True):
        found = evaluate_in_page(page, _CHECK)
        assert isinstance(found, dict)
        where = (language, variant)
        assert found["lang"] == language, where
        assert found["headings"] == 1, where
        assert found["unlabelled"] == [], where
        assert all(found["buttons"]), (where, found["buttons"])
        low = [(what, ratio) for what, ratio in found["contrasts"] if ratio < 4.5]
        assert low == [], (where, low)
        if variant == "rating":
            assert found["controls"] == 1
            assert found["buttons"] == [
                TEXT[language]["rating.button.good"],
                TEXT[language]["rating.button.okay"],
                TEXT[language]["comment.button"],
            ]
        if variant == "ship ready":
            assert found["buttons"] == [TEXT[language]["button.ship_ready"]]
        if variant == "chosen":
            assert found["buttons"] == [TEXT[language]["button.wait"]]
