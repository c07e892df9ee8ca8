"""``GET`` and ``POST /opt-out/{token}``: the customer ends product suggestions in one click.

A ``GET`` only shows a page with a confirm button, and records nothing: mail scanners and
link previews open every link in an email before the customer does. The button POSTs the
form back; a mailbox provider's one-click unsubscribe (RFC 8058) POSTs
``List-Unsubscribe=One-Click`` to the same URL, with no cookies and no JavaScript, and gets
a 200. Either is recorded by the address hash the signed token carries, so the customer's
address is never in a request, a page or a log. A token Aftercare did not sign is a 400
that changes nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from aftercare.opt_out import (
    ONE_CLICK_BODY,
    BadOptOutTokenError,
    OptOutLinks,
    OptOutRequest,
)
from aftercare.storage.database import DatabaseUnavailableError
from aftercare.storage.opt_outs import VIA_ONE_CLICK, VIA_PAGE, record_opt_out

log = logging.getLogger(__name__)

# The confirm button's form field (the one-click POST sends ONE_CLICK_BODY instead).
CONFIRM_FIELD, CONFIRM_VALUE = "confirm", "opt-out"
_ONE_CLICK_KEY, _ONE_CLICK_VALUE = ONE_CLICK_BODY.split("=")
# Either body is a few dozen bytes; anything much bigger is not one of them.
_MAX_FIELDS, _MAX_FIELD_BYTES = 8, 1024

_HEADERS = {
    # A page per customer: not kept by a proxy, not indexed, not framed, and the token in
    # its URL is not passed on to anything it links to (it links to nothing).
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class OptOutPages:
    """What the opt-out routes need besides the database: the links' secret, whose store."""

    links: OptOutLinks
    store_name: str


def opt_out_routes(
    pages: OptOutPages, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> tuple[
    Callable[[Request], Awaitable[HTMLResponse]], Callable[[Request], Awaitable[HTMLResponse]]
]:
    """The ``GET`` and ``POST`` handlers of ``/opt-out/{token}``."""
    store = html.escape(pages.store_name)

    def record(request: OptOutRequest, via: str) -> bool:
        with sessions.begin() as session:
            return record_opt_out(session, request.address_hash, via, clock())

    async def show(request: Request) -> HTMLResponse:
        try:
            pages.links.read(request.path_params["token"])
        except BadOptOutTokenError:
            return _refused(store)
        return _page(200, _ask(store))

    async def confirm(request: Request) -> HTMLResponse:
        try:
            opt_out = pages.links.read(request.path_params["token"])
        except BadOptOutTokenError:
            return _refused(store)
        fields = await _form_fields(request)
        if fields.get(_ONE_CLICK_KEY) == _ONE_CLICK_VALUE:
            via = VIA_ONE_CLICK
        elif fields.get(CONFIRM_FIELD) == CONFIRM_VALUE:
            via = VIA_PAGE
        else:  # an empty or foreign body: ask, as the GET does, and record nothing
            log.info("opt-out POST without a confirmation: nothing recorded")
            return _page(400, _ask(store, again=True))
        try:
            new = await run_in_threadpool(record, opt_out, via)
        except (SQLAlchemyError, DatabaseUnavailableError):
            log.warning("opt-out not recorded: the database is unavailable")
            return _page(503, _unavailable())
        log.info("opt-out recorded (%s)%s", via, "" if new else ", already on the list")
        return _page(200, _done(store))

    return show, confirm


async def _form_fields(request: Request) -> dict[str, str]:
    """The POST's form fields (multipart or urlencoded, as RFC 8058 allows); none when the
    body is neither, or not a small form."""
    try:
        async with request.form(
            max_files=0, max_fields=_MAX_FIELDS, max_part_size=_MAX_FIELD_BYTES
        ) as form:
            return {key: value for key, value in form.items() if isinstance(value, str)}
    except (HTTPException, MultiPartException, ValueError, KeyError):
        return {}


def _page(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _refused(store: str) -> HTMLResponse:
    log.info("opt-out link refused: not signed by Aftercare (tampered or cut short)")
    return _page(
        400,
        _document(
            "This link doesn't work",
            "<p>This opt-out link is not complete or not valid, so nothing was changed. It may "
            "have been cut short when it was copied: open it again from the email, or reply "
            f"to any email from {store} and we'll stop the product suggestions for you.</p>",
        ),
    )


def _ask(store: str, *, again: bool = False) -> str:
    prompt = (
        "<p><strong>Nothing has changed yet:</strong> press the button to confirm.</p>"
        if again
        else ""
    )
    return _document(
        f"No more product suggestions from {store}?",
        f"<p>You'll get no more product suggestions from {store}. Your order emails still "
        "come: confirmations, shipping updates and refunds, as before.</p>"
        f"{prompt}"
        '<form method="post">'
        f'<input type="hidden" name="{CONFIRM_FIELD}" value="{CONFIRM_VALUE}">'
        '<button type="submit">Stop product suggestions</button>'
        "</form>",
    )


def _done(store: str) -> str:
    return _document(
        "Done: no more product suggestions",
        f"<p>You'll get no more product suggestions from {store}. Your order emails still "
        "come: confirmations, shipping updates and refunds, as before.</p>",
    )


def _unavailable() -> str:
    return _document(
        "Please try again in a minute",
        "<p>We could not save your choice just now, so nothing has changed yet. Please open "
        "the link from the email again in a minute.</p>",
    )


def _document(title: str, content: str) -> str:
    """A plain page: one heading, large text and a large button, legible without CSS."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{title}</title><style>"
        "body{font:1.125rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;"
        "max-width:34rem;margin:3rem auto;padding:0 1rem}"
        "button{font:inherit;padding:.7rem 1.4rem;color:#fff;background:#1a1a1a;"
        "border:2px solid #1a1a1a;border-radius:.3rem;cursor:pointer}"
        "button:focus-visible{outline:3px solid #1a5fb4;outline-offset:3px}"
        f"</style></head><body><main><h1>{title}</h1>{content}</main></body></html>"
    )
