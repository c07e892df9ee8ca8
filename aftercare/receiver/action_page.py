"""``GET`` and ``POST /a/{token}``: the customer answers an email in one click.

Mail security scanners (Outlook Safe Links, Gmail, corporate gateways) open every link in an
email before the customer does. So a ``GET`` records only what is harmless and can be
changed again — a rating, an FAQ answer's vote, "I'm happy to wait" — and shows a small page
in the email's language and the store's colour with the other answers as buttons (each a
``POST`` to the same URL; a rating also takes a comment). A choice with consequences (cancel
and refund, reship) is never taken from a ``GET``: its page asks, and only the confirming
``POST`` records it; a later ``GET`` of the "wait" link leaves a confirmed choice alone. A
``HEAD`` records nothing. A token Aftercare did not sign is a 400 page, an expired one a 410
page (an email Aftercare has no record of, too), and neither records anything.

The page's language: the one the stored email was written in (its explanation's
``locale`` when it has one, else the ``lang`` of its HTML part), if the pages speak it, else
the store's default, else English (``action_page_text.py`` holds every word). The order is
the one the email's idempotency key names (``{source}:order:{id}:…``). No log line names a
customer, an address or a comment.
"""

from __future__ import annotations

import email
import email.policy
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse

from aftercare.action_links import (
    VALUES,
    ActionLinks,
    ActionRequest,
    BadActionTokenError,
    ExpiredActionTokenError,
)
from aftercare.receiver.action_page_text import page_language, words
from aftercare.settings import StoreFacts
from aftercare.storage.customer_actions import (
    MAX_COMMENT_CHARS,
    CustomerAction,
    action_of,
    record_action,
)
from aftercare.storage.database import DatabaseUnavailableError
from aftercare.storage.schema import OutboxEmailRow

log = logging.getLogger(__name__)

# The form fields the pages post: the answer, a rating's comment, the confirmation.
VALUE_FIELD, COMMENT_FIELD, CONFIRM_FIELD, CONFIRM_VALUE = "value", "comment", "confirm", "yes"
# A comment of MAX_COMMENT_CHARS characters, each up to 4 bytes of UTF-8 percent-encoded.
_MAX_BODY_BYTES = 16 * 1024
_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang=\"([A-Za-z0-9_-]{1,35})\"", re.IGNORECASE)
# ``{source}:order:{order id}:{what}…``: every order email's key (emails/kinds/*.py).
_ORDER_KEY = re.compile(r"([a-z0-9_-]{1,40}):order:(.{1,200}?):[a-z_]+(?::|$)")

_HEADERS = {
    # As the opt-out page: a page per customer, not kept, indexed, framed or referred on.
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class ActionPages:
    """What the action routes need besides the database: the links, whose store."""

    links: ActionLinks
    store: StoreFacts


@dataclass(frozen=True)
class _Email:
    """What the page needs of the email the link came from."""

    key: str
    kind: str
    language: str
    order: tuple[str, str] | None


def action_routes(
    pages: ActionPages, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> tuple[
    Callable[[Request], Awaitable[HTMLResponse]], Callable[[Request], Awaitable[HTMLResponse]]
]:
    """The ``GET`` and ``POST`` handlers of ``/a/{token}``."""
    look = _Look.of(pages.store)
    store_language = page_language(pages.store.default_locale)

    def email_of(key: str) -> _Email | None:
        with sessions() as session:
            found = session.execute(
                select(OutboxEmailRow.kind, OutboxEmailRow.explanation, OutboxEmailRow.mime).where(
                    OutboxEmailRow.idempotency_key == key
                )
            ).one_or_none()
        if found is None:
            return None
        kind, explanation, mime = found
        language = page_language(
            (explanation or {}).get("locale"), _html_lang(mime), pages.store.default_locale
        )
        return _Email(key, kind, language, _order_of(key))

    def current(request: ActionRequest) -> CustomerAction | None:
        with sessions() as session:
            return action_of(session, request.email_key, request.action, request.subject)

    def record(
        request: ActionRequest,
        mail: _Email,
        value: str,
        *,
        comment: str | None = None,
        confirmed: bool = False,
        over_confirmed: bool = True,
    ) -> CustomerAction | None:
        with sessions.begin() as session:
            return record_action(
                session,
                email_key=mail.key,
                email_kind=mail.kind,
                order=mail.order,
                action=request.action,
                subject=request.subject,
                value=value,
                now=clock(),
                comment=comment,
                confirmed=confirmed,
                over_confirmed=over_confirmed,
            )

    async def opened(request: Request) -> tuple[ActionRequest, _Email] | HTMLResponse:
        """The token's request and its email, or the page saying why there is none."""
        try:
            action = pages.links.read(request.path_params["token"], clock())
        except BadActionTokenError:
            log.info("action link refused: not signed by Aftercare (forged, altered or cut)")
            return look.page(400, store_language, "bad.title", _p(store_language, "bad.body", look))
        except ExpiredActionTokenError as expired:
            mail = await run_in_threadpool(email_of, expired.request.email_key)
            language = mail.language if mail else store_language
            log.info("action link refused: expired (%s)", expired.request.action)
            body = _p(language, "expired.body", look, days=str(pages.links.lifetime.days))
            return look.page(410, language, "expired.title", body)
        mail = await run_in_threadpool(email_of, action.email_key)
        if mail is None:
            log.info("action link refused: no email of that key is stored")
            body = _p(store_language, "unknown.body", look)
            return look.page(410, store_language, "bad.title", body)
        return action, mail

    async def show(request: Request) -> HTMLResponse:
        opening = await _guarded(opened(request), look, store_language)
        if isinstance(opening, HTMLResponse):
            return opening
        action, mail = opening
        try:
            if action.consequential:
                # Asked, never taken from a GET: a scanner's visit must not cancel an order.
                earlier = await run_in_threadpool(current, action)
                done = earlier is not None and earlier.value == action.value
                return look.answer(mail.language, action, action.value, confirmed=done)
            if request.method == "HEAD":
                earlier = await run_in_threadpool(current, action)
                return look.answer(mail.language, action, action.value, recorded=earlier)
            recorded = await run_in_threadpool(
                lambda: record(action, mail, action.value, over_confirmed=False)
            )
        except (SQLAlchemyError, DatabaseUnavailableError):
            return look.unavailable(mail.language)
        if recorded is None:  # a confirmed refund or reship stands: offer to wait instead
            earlier = await run_in_threadpool(current, action)
            return look.already_chosen(mail.language, earlier.value if earlier else "refund")
        log.info(
            "customer action recorded: %s %s after a %s email",
            action.action,
            action.value,
            mail.kind,
        )
        return look.answer(mail.language, action, recorded.value, recorded=recorded)

    async def answer(request: Request) -> HTMLResponse:
        opening = await _guarded(opened(request), look, store_language)
        if isinstance(opening, HTMLResponse):
            return opening
        action, mail = opening
        fields = await _form_fields(request)
        value = fields.get(VALUE_FIELD, action.value)
        # A delay choice is the one its link named (the email offered it); a rating or a
        # vote may be changed to any of its answers on the page.
        allowed = (action.value,) if action.action == "delay_choice" else VALUES[action.action]
        if value not in allowed:
            log.info("customer action POST with an answer not offered: nothing recorded")
            return look.answer(mail.language, action, action.value, status=400, refused=True)
        if action.consequential and fields.get(CONFIRM_FIELD) != CONFIRM_VALUE:
            log.info("customer action POST without its confirmation: nothing recorded")
            return look.answer(mail.language, action, value, status=400)
        comment = fields.get(COMMENT_FIELD) if action.action == "rating" else None
        try:
            recorded = await run_in_threadpool(
                lambda: record(action, mail, value, comment=comment, confirmed=action.consequential)
            )
        except (SQLAlchemyError, DatabaseUnavailableError):
            return look.unavailable(mail.language)
        assert recorded is not None  # over_confirmed: always written
        log.info(
            "customer action recorded: %s %s after a %s email%s",
            action.action,
            value,
            mail.kind,
            " (confirmed)" if action.consequential else "",
        )
        return look.answer(
            mail.language,
            action,
            recorded.value,
            recorded=recorded,
            confirmed=action.consequential,
            commented=bool(comment and comment.strip()),
        )

    return show, answer


async def _guarded(
    opening: Awaitable[tuple[ActionRequest, _Email] | HTMLResponse], look: _Look, language: str
) -> tuple[ActionRequest, _Email] | HTMLResponse:
    try:
        return await opening
    except (SQLAlchemyError, DatabaseUnavailableError):
        return look.unavailable(language)


async def _form_fields(request: Request) -> dict[str, str]:
    """The POST's urlencoded form (what the pages' forms send); none when the body is
    something else or larger than any of them."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_BODY_BYTES:
                return {}
    except ClientDisconnect:
        return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def _html_lang(mime: bytes | None) -> str | None:
    """The ``lang`` of the email's HTML part: the language the customer read it in."""
    if not mime:
        return None  # emptied after the retention period, or by an erasure
    message = email.message_from_bytes(mime, policy=email.policy.default)
    part = message.get_body(preferencelist=("html",)) if message.is_multipart() else message
    if part is None:
        return None
    content = part.get_content()
    found = _HTML_LANG.search(content.encode() if isinstance(content, str) else content)
    return found.group(1).decode() if found else None


def _order_of(key: str) -> tuple[str, str] | None:
    found = _ORDER_KEY.match(key)
    return (found.group(1), found.group(2)) if found else None


def _p(language: str, name: str, look: _Look, **values: str) -> str:
    return f"<p>{words(language, name, store=look.store, **values)}</p>"


# --- the look ----------------------------------------------------------------------------


def _luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


_TEXT, _PAPER, _BLACK, _WHITE = "#1a1a1a", "#ffffff", "#000000", "#ffffff"
# The system's font, then ones with Thai and Simplified Chinese glyphs (Android and
# Linux, macOS and iOS, Windows) for a system font that has none.
_FONTS = (
    "system-ui,'Noto Sans Thai','Leelawadee UI','Noto Sans SC','PingFang SC',"
    "'Microsoft YaHei',sans-serif"
)
_AA = 4.5  # WCAG 2.1 success criterion 1.4.3, normal text


@dataclass(frozen=True)
class _Look:
    """The store's name and colours, chosen so every text passes WCAG AA (4.5:1): the
    brand colour as the main button's background with white or black text, whichever
    reads better (one of them always reaches 4.5:1), and as text only where it reads on
    white; else the text stays near-black."""

    store: str  # escaped
    brand: str
    on_brand: str
    accent: str

    @classmethod
    def of(cls, store: StoreFacts) -> _Look:
        brand = store.brand_colour.lower()
        on_brand = _WHITE if contrast(brand, _WHITE) >= contrast(brand, _BLACK) else _BLACK
        accent = brand if contrast(brand, _PAPER) >= _AA else _TEXT
        return cls(html.escape(store.name), brand, on_brand, accent)

    def answer(
        self,
        language: str,
        action: ActionRequest,
        value: str,
        *,
        status: int = 200,
        recorded: CustomerAction | None = None,
        confirmed: bool = False,
        commented: bool = False,
        refused: bool = False,
    ) -> HTMLResponse:
        """The page of one action and its answer ``value``."""
        say = _Say(language, self.store)
        notice = f"<p><strong>{say('not_a_choice')}</strong></p>" if refused else ""
        if action.action == "rating":
            shown = html.escape(say(f"rating.{value}"))
            title = say("rated", value=f"<em>{shown}</em>")
            others = [(v, say(f"rating.button.{v}")) for v in VALUES["rating"] if v != value]
            thanks = f'<p role="status">{say("comment.thanks")}</p>' if commented else ""
            body = notice + thanks + _choices(say("change"), others) + _comment_form(say, value)
            return self.page(status, language, title, body, raw_title=True)
        if action.action == "faq_helpful":
            title = say(f"faq.{value}")
            more = f"<p>{say('faq.no.more')}</p>" if value == "no" else ""
            others = [(v, say(f"faq.button.{v}")) for v in VALUES["faq_helpful"] if v != value]
            return self.page(
                status,
                language,
                title,
                notice + more + _choices(say("change"), others),
                raw_title=True,
            )
        if value == "wait":
            return self.page(
                status,
                language,
                say("wait.done"),
                notice + f"<p>{say('wait.body')}</p>",
                raw_title=True,
            )
        choice = say(f"choice.{value}")
        if confirmed:
            body = f"<p>{say('done.body', choice=choice)}</p>"
            return self.page(status, language, say(f"done.{value}"), body, raw_title=True)
        again = notice or ""
        body = (
            again
            + f"<p>{say('ask.body', choice=choice)}</p>"
            + '<form method="post">'
            + f'<input type="hidden" name="{VALUE_FIELD}" value="{value}">'
            + f'<input type="hidden" name="{CONFIRM_FIELD}" value="{CONFIRM_VALUE}">'
            + f'<button type="submit" class="primary">{say(f"button.{value}")}</button>'
            + "</form>"
        )
        return self.page(status, language, say(f"ask.{value}"), body, raw_title=True)

    def already_chosen(self, language: str, chosen: str) -> HTMLResponse:
        say = _Say(language, self.store)
        body = (
            f"<p>{say('chosen.body')}</p>"
            '<form method="post">'
            f'<input type="hidden" name="{VALUE_FIELD}" value="wait">'
            f'<button type="submit" class="primary">{say("button.wait")}</button>'
            "</form>"
        )
        title = say("chosen.title", choice=say(f"choice.{chosen}"))
        return self.page(200, language, title, body, raw_title=True)

    def unavailable(self, language: str) -> HTMLResponse:
        log.warning("customer action not recorded: the database is unavailable")
        say = _Say(language, self.store)
        return self.page(
            503,
            language,
            say("unavailable.title"),
            f"<p>{say('unavailable.body')}</p>",
            raw_title=True,
        )

    def page(
        self, status: int, language: str, title: str, content: str, *, raw_title: bool = False
    ) -> HTMLResponse:
        """One page: the store's name, one heading, large text and large buttons."""
        heading = title if raw_title else words(language, title, store=self.store)
        plain_title = html.escape(re.sub(r"<[^>]+>", "", html.unescape(heading)))
        document = (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex">'
            f"<title>{plain_title} · {self.store}</title><style>"
            f"body{{font:1.125rem/1.5 {_FONTS};color:{_TEXT};background:{_PAPER};"
            "max-width:34rem;margin:2rem auto;padding:0 1rem}"
            f".store{{font-weight:700;color:{self.accent};border-bottom:4px solid {self.brand};"
            "padding-bottom:.5rem;margin:0 0 1.5rem}"
            "h1{font-size:1.5rem;line-height:1.3}"
            "fieldset{border:0;padding:0;margin:1.5rem 0}legend{font-weight:700;padding:0}"
            "button{font:inherit;padding:.6rem 1.2rem;margin:.5rem .5rem 0 0;cursor:pointer;"
            f"border:2px solid {self.brand};border-radius:.3rem;background:{_PAPER};"
            f"color:{self.accent}}}"
            f"button.primary{{background:{self.brand};color:{self.on_brand}}}"
            "button:focus-visible,textarea:focus-visible{outline:3px solid #1a5fb4;"
            "outline-offset:3px}"
            "label{display:block;margin:1.5rem 0 .3rem}"
            f"textarea{{font:inherit;width:100%;box-sizing:border-box;color:{_TEXT};"
            f"background:{_PAPER};border:2px solid #595959;border-radius:.3rem}}"
            f'</style></head><body><header><p class="store">{self.store}</p></header>'
            f"<main><h1>{heading}</h1>{content}</main></body></html>"
        )
        return HTMLResponse(document, status_code=status, headers=_HEADERS)


class _Say:
    """``words`` of one language with the store's name filled in."""

    def __init__(self, language: str, store: str) -> None:
        self.language, self.store = language, store

    def __call__(self, name: str, **values: Any) -> str:
        return words(self.language, name, store=self.store, **values)


def _choices(legend: str, others: list[tuple[str, str]]) -> str:
    """The other answers, each a button posting its value to the same URL."""
    buttons = "".join(
        f'<button type="submit" name="{VALUE_FIELD}" value="{value}">{label}</button>'
        for value, label in others
    )
    return f'<form method="post"><fieldset><legend>{legend}</legend>{buttons}</fieldset></form>'


def _comment_form(say: _Say, value: str) -> str:
    """The optional comment; an earlier one is not shown again (the page is the link's,
    and a link may be forwarded)."""
    return (
        '<form method="post">'
        f'<input type="hidden" name="{VALUE_FIELD}" value="{value}">'
        f'<label for="comment">{say("comment.label")}</label>'
        f'<textarea id="comment" name="{COMMENT_FIELD}" rows="4" '
        f'maxlength="{MAX_COMMENT_CHARS}"></textarea>'
        f'<button type="submit" class="primary">{say("comment.button")}</button>'
        "</form>"
    )
