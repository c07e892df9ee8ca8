"""What a drain works with, built once: settings, database, templates, transport, stores.

Prefect flows call the drain's steps in batches (``flows/drain_inbox.py``); tests call them
directly with a ``Pipeline`` of their own (a scripted transport, a fixed clock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from aftercare.action_links import ActionLinks, action_links
from aftercare.drain.cross_sell_source import CrossSellSource, consent_refusals
from aftercare.enrichment.faq.selection import FaqSelector, Votes
from aftercare.enrichment.faq.snippets import SnippetLibrary, load_snippets
from aftercare.events import OrderEvent
from aftercare.opt_out import LinkSecretError, opt_out_links
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import Settings
from aftercare.storage import inbox
from aftercare.storage.customer_actions import faq_votes
from aftercare.storage.database import engine_for, session_factory
from aftercare.storage.faq_rates import load_rates
from aftercare.stores import StoreAdapter
from aftercare.stores.registry import build_adapters
from aftercare.transports import Transport
from aftercare.transports.registry import build_transport

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pipeline:
    """Everything processing needs, built once per drain."""

    settings: Settings
    sessions: sessionmaker[Session]
    renderer: EmailRenderer
    transport: Transport
    adapters: Mapping[str, StoreAdapter] = field(default_factory=dict)
    clock: Callable[[], datetime] = utc_now
    # The store's FAQ snippets, ranked; ``None``: emails carry no FAQ answers.
    faq: FaqSelector | None = None
    # The catalogue and model cross-sell cards come from; ``None``: emails offer nothing.
    cross_sell: CrossSellSource | None = None
    # Signs the emails' questions as links to Aftercare's pages; ``None``: the store's.
    actions: ActionLinks | None = None


def build_pipeline(settings: Settings) -> Pipeline:
    """The pipeline for ``settings``: database, templates and transport, each built once."""
    sessions = session_factory(engine_for(settings.database_url))
    return Pipeline(
        settings=settings,
        sessions=sessions,
        renderer=renderer_for(settings.templates_dir),
        transport=build_transport(settings),
        adapters=build_adapters(settings),
        faq=faq_selector_for(
            settings.faq_dir, settings.faq_per_email, settings.store.default_locale, sessions
        ),
        cross_sell=cross_sell_source_for(settings),
        actions=action_links_for(settings),
    )


def action_links_for(settings: Settings) -> ActionLinks | None:
    """The action links of ``settings`` (``AFTERCARE_ACTION_LINKS``), or None: off, or no
    link secret on a database server (then the store's links, and the log says why)."""
    try:
        return action_links(settings)
    except LinkSecretError as exc:
        log.error("action links off: %s", exc)
        return None


def cross_sell_source_for(settings: Settings) -> CrossSellSource | None:
    """Where the drain's cross-sell cards come from; None when the store shows none, or
    cannot: every email with recommendations carries a signed opt-out link, so without a
    link secret (``AFTERCARE_LINK_SECRET``, required with a database server) the emails go
    out without cards, and the log says why."""
    if settings.cross_sell.cards == 0:
        return None
    try:
        links = opt_out_links(settings)
    except LinkSecretError as exc:
        log.error("cross-sell off: %s", exc)
        return None
    return CrossSellSource(
        rules=settings.cross_sell,
        opt_out_link=links.url,
        refusal=consent_refusals(settings.marketing_consent_policy),
    )


@cache
def renderer_for(templates_dir: Path) -> EmailRenderer:
    """One renderer per template folder per process: compiled templates are reused."""
    return EmailRenderer(templates_dir)


def faq_selector_for(
    faq_dir: Path,
    per_email: int,
    default_locale: str,
    sessions: sessionmaker[Session] | None = None,
) -> FaqSelector | None:
    """The snippets of ``faq_dir`` ranked with the rates ``aftercare faq learn`` stored
    (read once per pipeline: a re-learn reaches the next drain); ``None`` when the store has
    no snippets (no folder) or wants none (``per_email`` 0). Broken snippets raise
    ``InvalidSnippetsError`` here, before any email is rendered."""
    if per_email == 0 or not faq_dir.is_dir():
        return None
    rates: dict = {}
    votes: dict[tuple[str, str], Votes] = {}
    if sessions is not None:
        try:
            with sessions() as session:
                rates = load_rates(session)
                # The customers' "did this answer your question?" clicks (issue 12).
                votes = {k: Votes(*tally) for k, tally in faq_votes(session).items()}
        except DBAPIError:
            log.warning("no learned FAQ rates (run `aftercare db upgrade`); ranking by priority")
    return FaqSelector(
        faq_library_for(faq_dir),
        rates,
        per_email=per_email,
        default_locale=default_locale,
        votes=votes,
    )


@cache
def faq_library_for(faq_dir: Path) -> SnippetLibrary:
    """Snippets are read and rendered once per process (a drain reads them per run)."""
    return load_snippets(faq_dir)


def receive_event(pipeline: Pipeline, event: OrderEvent) -> inbox.Enqueued:
    """Store an event in the inbox (once per source event id)."""
    with pipeline.sessions.begin() as session:
        result = inbox.enqueue_event(session, event, pipeline.clock())
    log.info(
        "event received",
        extra={"source": event.source, "kind": event.kind.value, "duplicate": result.duplicate},
    )
    return result
