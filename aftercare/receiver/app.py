"""The webhook receiver's Starlette app: ``GET /healthz``, ``POST /webhooks/{store}``, the
marketing opt-out page, ``GET`` and ``POST /opt-out/{token}``, and the customers' answers
(ratings, FAQ votes, delay choices), ``GET`` and ``POST /a/{token}``.

``build_receiver`` gathers what the routes need from settings (the database, an inbox writer
of its own, every store adapter, the opt-out links' secret); ``build_app`` routes them.
Nothing else is routed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aftercare.action_links import ACTION_PATH, action_links
from aftercare.drain.backlog import Backlog, read_backlog
from aftercare.opt_out import OPT_OUT_PATH, LinkSecretError, opt_out_links
from aftercare.receiver.action_page import ActionPages, action_routes
from aftercare.receiver.endpoint import Receiver, WebhookEndpoint
from aftercare.receiver.inbox_writer import InboxWriter
from aftercare.receiver.opt_out_page import OptOutPages, opt_out_routes
from aftercare.settings import Settings
from aftercare.storage.database import engine_for, session_factory
from aftercare.stores.registry import build_adapters

log = logging.getLogger(__name__)


def build_receiver(settings: Settings, nudge: Callable[[], None]) -> Receiver:
    """The receiver ``aftercare serve`` runs: the configured database, every store adapter.

    ``nudge`` is called after each new delivery is stored, to start the drain soon. The
    inbox writer's process starts here; it lives as long as the server.
    """
    opt_out = _opt_out_pages(settings)
    engine = engine_for(settings.database_url)
    return Receiver(
        sessions=session_factory(engine),
        writer=InboxWriter(engine),
        adapters=build_adapters(settings),
        nudge=nudge,
        max_body_bytes=settings.webhook_max_body_bytes,
        claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
        behind_after=timedelta(seconds=settings.sending_behind_after_seconds),
        opt_out=opt_out,
        actions=_action_pages(settings),
    )


def _opt_out_pages(settings: Settings) -> OptOutPages | None:
    """The opt-out pages, or None when no link secret is configured on a database server:
    then webhooks are still taken and order emails still sent, and the drains send no
    product recommendations (none may go out without a working opt-out link)."""
    try:
        return OptOutPages(opt_out_links(settings), settings.store.name)
    except LinkSecretError as exc:
        log.error("opt-out pages off, and with them cross-sell: %s", exc)
        return None


def _action_pages(settings: Settings) -> ActionPages | None:
    """The action pages, when action links are on (``AFTERCARE_ACTION_LINKS``) and signed
    with a secret; else None, and the emails keep the store's own links."""
    try:
        links = action_links(settings)
    except LinkSecretError as exc:
        log.error("action pages off: %s", exc)
        return None
    return None if links is None else ActionPages(links, settings.store)


def build_app(receiver: Receiver) -> Starlette:
    routes = [
        Route("/healthz", _health_check(receiver), methods=["GET"]),
        Route("/webhooks/{store}", WebhookEndpoint(receiver), methods=["POST"]),
    ]
    if receiver.opt_out is not None:
        show, confirm = opt_out_routes(receiver.opt_out, receiver.sessions, receiver.clock)
        routes += [
            Route(f"{OPT_OUT_PATH}{{token}}", show, methods=["GET"]),
            Route(f"{OPT_OUT_PATH}{{token}}", confirm, methods=["POST"]),
        ]
    if receiver.actions is not None:
        show, answer = action_routes(receiver.actions, receiver.sessions, receiver.clock)
        routes += [
            Route(f"{ACTION_PATH}{{token}}", show, methods=["GET"]),
            Route(f"{ACTION_PATH}{{token}}", answer, methods=["POST"]),
        ]
    return Starlette(routes=routes, lifespan=_settled_heap)


def _health_check(receiver: Receiver) -> Callable[[Request], Awaitable[JSONResponse]]:
    """``GET /healthz``: 200 while the inbox writer runs and the database answers, else 503.

    It also says how long the oldest due event and email have waited. Receiving can be fine
    while sending is stalled (a drain that crashed, a lost nudge): ``sending`` turns
    ``behind`` once either has waited longer than ``behind_after``, so monitoring sees it.
    The answer stays 200 then: taking the receiver out of a load balancer would lose the
    webhooks that are still being stored.
    """

    def backlog() -> Backlog:
        return read_backlog(receiver.sessions, receiver.claim_timeout, receiver.clock())

    async def healthz(_: Request) -> JSONResponse:
        if not receiver.writer.alive:
            return _answer(503, status="unavailable", database="inbox writer stopped")
        try:
            waiting = await run_in_threadpool(backlog)
        except SQLAlchemyError:
            return _answer(503, status="unavailable", database="unreachable")
        event_wait, email_wait = waiting.waited_seconds(receiver.clock())
        limit = receiver.behind_after.total_seconds()
        behind = any(w is not None and w > limit for w in (event_wait, email_wait))
        return _answer(
            200,
            status="ok",
            database="ok",
            stores=sorted(receiver.adapters),
            sending="behind" if behind else "ok",
            oldest_due_event_seconds=None if event_wait is None else round(event_wait, 1),
            oldest_due_email_seconds=None if email_wait is None else round(email_wait, 1),
        )

    return healthz


def _answer(http_status: int, **body: object) -> JSONResponse:
    return JSONResponse(body, status_code=http_status)


@contextlib.asynccontextmanager
async def _settled_heap(_: Starlette) -> AsyncIterator[None]:
    """Move everything built before the first request out of the garbage collector's sight.

    The server process holds a few hundred thousand objects after its imports (Prefect,
    SQLAlchemy, pydantic), and each full collection walked them all: a 40 ms pause of the
    event loop every few seconds under load, and with it every request in flight, which is
    the receiver's p99. Frozen objects are never collected, and these live as long as the
    process anyway; a full collection then only walks what requests created since. (Under
    ``aftercare serve`` on the embedded default the Prefect runner shares the process: what
    it holds at that moment is frozen too, a one-off few megabytes at most.)
    """
    gc.collect()  # what is garbage already is freed, not frozen
    gc.freeze()
    yield
