"""The catalogue and the cross-sell model a drain offers from, kept current cheaply.

Rendering an email must not query the database, yet a stock change that arrived by webhook
must show in the next email. So a drain keeps both in memory and, once per group of
emails, asks two cheap questions: has the catalogue's revision moved (then it reloads only
the products changed since), and — at most once a minute — is there a newer model, or
orders stored since the one it holds (then it folds them in). What the group's customers
bought recently and who of them opted out are read in one query each per group.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from aftercare.catalogue import Product
from aftercare.emails.cross_sell_block import CrossSellInputs
from aftercare.enrichment.cross_sell.associations import AssociationModel, build_associations
from aftercare.enrichment.cross_sell.recommendations import CrossSellRules, Shelf
from aftercare.events import Customer
from aftercare.opt_out import address_hash, may_show_cross_sell
from aftercare.settings import MarketingConsentPolicy
from aftercare.storage.catalogue_records import catalogue_revision, load_products
from aftercare.storage.cross_sell_models import (
    load_newest_model,
    newest_model_id,
    order_baskets,
    recent_products,
)
from aftercare.storage.opt_outs import opted_out
from aftercare.storage.order_records import customer_key

log = logging.getLogger(__name__)

# How often a drain looks for a newer model or orders stored since its own.
MODEL_CHECK_EVERY = timedelta(seconds=60)


@dataclass
class CrossSellSource:
    """One per pipeline; ``inputs_for`` is called once per group of emails."""

    rules: CrossSellRules
    # Why a customer gets no recommendations (opted out, no consent); given by the drain.
    refusal: Callable[[Connection, Collection[Customer]], Callable[[Customer], str | None]] = (
        lambda _connection, _customers: lambda _customer: None
    )
    opt_out_link: Callable[[str], str] | None = None
    catalogue: dict[str, Product] = field(default_factory=dict)
    revision: int | None = None
    model: AssociationModel = field(default_factory=AssociationModel)
    model_id: int | None = None
    orders_through: int = 0
    checked_model_at: datetime | None = None
    # The catalogue arranged for the model; arranged again when either changes.
    shelf: Shelf | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inputs_for(
        self, connection: Connection, customers: Collection[tuple[str, Customer]], now: datetime
    ) -> CrossSellInputs | None:
        """What the group's emails offer from, or None when the store shows no cross-sell
        (or the database has no cross-sell tables yet: ``aftercare db upgrade``)."""
        if self.rules.cards == 0:
            return None
        try:
            # In a savepoint: on PostgreSQL a failed query would abort the group's reads.
            with connection.begin_nested(), self._lock:
                self._refresh_catalogue(connection)
                self._refresh_model(connection, now)
                if self.shelf is None:
                    self.shelf = Shelf.arrange(self.model, self.catalogue, self.rules.min_stock)
                catalogue, model, shelf = self.catalogue, self.model, self.shelf
                keys = {(source, customer_key(c)) for source, c in customers}
                since = now - timedelta(days=self.rules.recent_days)
                recent = recent_products(connection, keys, since) if self.rules.recent_days else {}
                refused = self.refusal(connection, [c for _, c in customers])
        except DBAPIError as exc:
            log.warning(
                "no cross-sell: the database lacks its tables (run `aftercare db upgrade`)",
                extra={"error_type": type(exc.orig).__name__},
            )
            log.debug("cross-sell read failed", exc_info=True)
            return None
        return CrossSellInputs(
            model=model,
            catalogue=catalogue,
            rules=self.rules,
            recently_bought=recent,
            refused=refused,
            customer_key=customer_key,
            opt_out_link=self.opt_out_link,
            shelf=shelf,
        )

    def _refresh_catalogue(self, connection: Connection) -> None:
        revision = catalogue_revision(connection)
        if revision == self.revision:
            return
        changed = load_products(connection, since_revision=self.revision)
        catalogue = dict(self.catalogue) if self.revision is not None else {}
        catalogue.update((p.product_id, p) for p in changed)
        self.catalogue, self.revision, self.shelf = catalogue, revision, None

    def _refresh_model(self, connection: Connection, now: datetime) -> None:
        if self.checked_model_at is not None and now - self.checked_model_at < MODEL_CHECK_EVERY:
            return
        self.checked_model_at = now
        newest = newest_model_id(connection)
        if newest is not None and newest != self.model_id:
            stored = load_newest_model(connection)
            if stored is not None:
                self.model, self.model_id = stored.model, stored.model_id
                self.orders_through = stored.orders_through
                self.shelf = None
        if self.model_id is None and self.orders_through == 0:
            # No model built yet (a new install, the demo): learn one from what is stored.
            history = list(order_baskets(connection))
            self.model = build_associations(
                (customer, products) for _, customer, products in history
            )
            self.orders_through = history[-1][0] if history else 0
            return
        fresh = list(order_baskets(connection, after_order=self.orders_through))
        if fresh:
            self.model = self.model.with_baskets(products for _, _, products in fresh)
            self.orders_through = fresh[-1][0]
            self.shelf = None


def consent_refusals(
    policy: MarketingConsentPolicy,
) -> Callable[[Connection, Collection[Customer]], Callable[[Customer], str | None]]:
    """Who of a group's customers gets no recommendations: the opt-out list is read once
    for the group; the store's consent and ``policy`` decide the rest (``opt_out.py``)."""

    def for_group(
        connection: Connection, customers: Collection[Customer]
    ) -> Callable[[Customer], str | None]:
        hashes = {str(c.email): address_hash(str(c.email)) for c in customers}
        out = opted_out(connection, set(hashes.values()))

        def refused(customer: Customer) -> str | None:
            address = str(customer.email)
            clicked = (hashes.get(address) or address_hash(address)) in out
            if may_show_cross_sell(customer.marketing_consent, clicked, policy):
                return None
            if clicked:
                return "the customer opted out of product suggestions"
            if customer.marketing_consent == "unsubscribed":
                return "the store says the customer unsubscribed from marketing"
            return "no marketing consent (the store asks for explicit consent)"

        return refused

    return for_group
