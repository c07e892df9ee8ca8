"""Customers' answers written on the order, in the store's own admin, through its API.

The webhook (``action_forwarding.py``) reaches a helpdesk or a back office the store runs;
many small stores have neither, and look at the order page. So where store API credentials
are set, every recorded answer also becomes one short line on its order: a private order
note in WooCommerce (REST ``POST /wp-json/wc/v3/orders/{id}/notes``), a line appended to
the order's note in Shopify (Admin GraphQL ``orderUpdate``). The rules are the webhook's:
a choice with consequences only once the customer confirmed it, a changed answer is
noted again, failures retried with backoff and at most ``MAX_ATTEMPTS`` times. The two
keep their own columns, so a failing webhook never holds a note back, nor the reverse.

A line says what the customer chose, in which email and when, in the store owner's words,
never the customer's address (the order has it). A retry first looks whether the earlier
try landed (a timeout after the store took it), so a note is never added twice.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from aftercare.drain.action_forwarding import NEEDS_CONFIRMATION, backoff
from aftercare.drain.pipeline import Pipeline
from aftercare.errors import AftercareError
from aftercare.logging_setup import scrub_personal_data
from aftercare.settings import Settings
from aftercare.storage.schema import CustomerActionRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 100
TIMEOUT_SECONDS = 10.0
# Of the customer's comment, the note keeps a sentence or two: the rest is in
# ``aftercare actions list`` and the webhook.
COMMENT_CHARS = 200


class OrderNoteError(AftercareError):
    """The store's API did not take an order note; the message says what to check."""


class StoreApiKeyRefusedError(OrderNoteError):
    """The store refused the API credentials, or they lack a permission (HTTP 401, 403)."""


class OrderNotFoundError(OrderNoteError):
    """The store has no such order (deleted, or the credentials are another store's)."""


class StoreApiError(OrderNoteError):
    """Anything else: the store unreachable, an HTTP 5xx or 429, an error in the answer."""


class OrderNoteStore(Protocol):
    """One store's way of adding a line to an order's notes."""

    source: str

    def add_note(self, order_id: str, line: str, *, retry: bool) -> None:
        """Add ``line`` to order ``order_id`` (the store's own id), or raise an
        ``OrderNoteError``. ``retry``: an earlier try failed, and may have landed."""


@dataclass(frozen=True)
class NoteReport:
    noted: int = 0
    failed: int = 0


# --- the line ----------------------------------------------------------------------------

_EMAILS = {
    "order_confirmation": "order confirmation email",
    "order_shipped": "shipping email",
    "order_delayed": "delay email",
    "order_delivered": "delivery email",
    "order_refunded": "refund email",
    "welcome": "welcome email",
}
# The delay email's options as the customer read them (email_templates/en/order_delayed.*).
_DELAY_CHOICES = {
    "wait": "I'm happy to wait",
    "refund": "Cancel and refund my order",
    "reship": "Send it by a faster service",
    "ship_ready": "Send what is ready now, the rest when it arrives",
}


def note_line(row: CustomerActionRow) -> str:
    """The note for one answer: "Aftercare: customer chose 'Cancel and refund my order' in
    the delay email (confirmed 2026-12-04 10:12 UTC)." The same text for every try of one
    answer, which is how a retry recognises a note that landed."""
    email = _EMAILS.get(row.email_kind, row.email_kind.replace("_", " ") + " email")
    if row.action == "rating":
        said = f"customer rated the order '{row.value}' in the {email}"
        if row.comment:
            comment = " ".join(scrub_personal_data(row.comment).split())
            if len(comment) > COMMENT_CHARS:
                comment = comment[: COMMENT_CHARS - 1].rstrip() + "…"
            said += f', commenting "{comment}"'
    elif row.action == "faq_helpful":
        helpful = "helpful" if row.value == "yes" else "not helpful"
        said = f"customer found the FAQ answer '{row.subject}' {helpful} in the {email}"
    elif row.action == "delay_choice":
        choice = _DELAY_CHOICES.get(row.value, row.value)
        said = f"customer chose '{choice}' in the {email}"
    else:
        said = f"customer answered {row.action} '{row.value}' in the {email}"
    if row.confirmed_at is not None:
        when = f"confirmed {row.confirmed_at:%Y-%m-%d %H:%M} UTC"
    else:
        when = f"{row.last_clicked_at:%Y-%m-%d %H:%M} UTC"
    return f"Aftercare: {said} ({when})."


# --- the stores --------------------------------------------------------------------------


@dataclass(frozen=True)
class WooCommerceNotes:
    """A private order note (``customer_note: false``: the customer gets no email of it),
    https://woocommerce.github.io/woocommerce-rest-api-docs/#create-an-order-note, with
    HTTP Basic auth by the REST API key: WooCommerce takes it over https only (over plain
    http it wants OAuth 1.0a signatures, which this does not make)."""

    api_url: str
    key: str
    secret: str
    client: httpx.Client
    source: str = "woocommerce"

    def add_note(self, order_id: str, line: str, *, retry: bool) -> None:
        url = f"{self.api_url.rstrip('/')}/wp-json/wc/v3/orders/{order_id}/notes"
        auth = httpx.BasicAuth(self.key, self.secret)
        if retry:
            notes = self._answer(
                order_id, self._call("GET", url, auth, params={"type": "internal"})
            )
            if any(_same_note(note.get("note"), line) for note in notes or []):
                return
        self._answer(
            order_id, self._call("POST", url, auth, json={"note": line, "customer_note": False})
        )

    def _call(self, method: str, url: str, auth: httpx.Auth, **request: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, auth=auth, **request)
        except httpx.HTTPError as exc:
            raise StoreApiError(
                f"WooCommerce at {self.api_url} did not answer ({_named(exc)}); tried again later"
            ) from exc

    def _answer(self, order_id: str, response: httpx.Response) -> Any:
        status = response.status_code
        said = _woocommerce_says(response)
        if status in (401, 403):
            raise StoreApiKeyRefusedError(
                f"WooCommerce refused the API key (HTTP {status}{said}): check"
                " AFTERCARE_WOOCOMMERCE__API_KEY and AFTERCARE_WOOCOMMERCE__API_SECRET"
                " (WooCommerce → Settings → Advanced → REST API) and that the key has"
                " Read/Write permission"
                + (
                    ", and use the store's https address"
                    if self.api_url.startswith("http:")
                    else ""
                )
            )
        if status == 404:
            raise OrderNotFoundError(
                f"WooCommerce has no order {order_id} (HTTP 404{said}): was it deleted, or"
                f" is AFTERCARE_WOOCOMMERCE__API_URL ({self.api_url}) another store? A"
                " missing /wp-json/ needs pretty permalinks (Settings → Permalinks)"
            )
        if not 200 <= status < 300:
            raise StoreApiError(f"WooCommerce answered HTTP {status}{said}; tried again later")
        try:
            return response.json()
        except ValueError:
            raise StoreApiError(
                f"WooCommerce answered HTTP {status} but not with JSON: is"
                f" AFTERCARE_WOOCOMMERCE__API_URL ({self.api_url}) the store's address?"
            ) from None


_ORDER_NOTE_QUERY = "query AftercareOrderNote($id: ID!) { order(id: $id) { note } }"
_ORDER_NOTE_UPDATE = (
    "mutation AftercareOrderNote($input: OrderInput!) {"
    " orderUpdate(input: $input) { order { id } userErrors { field message } } }"
)


@dataclass(frozen=True)
class ShopifyNotes:
    """A line appended to the order's note (the one "Notes" box of the order page) through
    the Admin GraphQL API. ``orderUpdate`` replaces the note, so the note is read first and
    the line added below it; a line already there (an earlier try that landed) is not added
    again. https://shopify.dev/docs/api/admin-graphql/latest/mutations/orderUpdate"""

    endpoint: str
    token: str
    client: httpx.Client
    source: str = "shopify"

    def add_note(self, order_id: str, line: str, *, retry: bool) -> None:
        order_gid = order_id if order_id.startswith("gid://") else f"gid://shopify/Order/{order_id}"
        found = self._graphql(_ORDER_NOTE_QUERY, {"id": order_gid})
        if found.get("order") is None:
            raise OrderNotFoundError(
                f"Shopify has no order {order_id}: was it deleted, or is"
                " AFTERCARE_SHOPIFY__SHOP another shop?"
            )
        note = found["order"].get("note") or ""
        if line in note.splitlines():
            return
        updated = self._graphql(
            _ORDER_NOTE_UPDATE,
            {"input": {"id": order_gid, "note": f"{note}\n{line}" if note else line}},
        )
        problems = (updated.get("orderUpdate") or {}).get("userErrors") or []
        if problems:
            said = "; ".join(
                f"{'.'.join(p.get('field') or [])}: {p.get('message')}".lstrip(": ")
                for p in problems
            )
            raise StoreApiError(f"Shopify did not update order {order_id}'s note ({said})")

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {"X-Shopify-Access-Token": self.token, "Content-Type": "application/json"}
        try:
            response = self.client.post(
                self.endpoint, json={"query": query, "variables": variables}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise StoreApiError(
                f"Shopify at {self.endpoint} did not answer ({_named(exc)}); tried again later"
            ) from exc
        status = response.status_code
        if status == 401:
            raise StoreApiKeyRefusedError(
                "Shopify refused the Admin API access token (HTTP 401): check"
                " AFTERCARE_SHOPIFY__ADMIN_TOKEN (the custom app's Admin API access token,"
                " shpat_…) and AFTERCARE_SHOPIFY__SHOP"
            )
        if status == 403:
            raise StoreApiKeyRefusedError(
                "Shopify refused the request (HTTP 403): give the app the read_orders and"
                " write_orders access scopes, and reinstall it"
            )
        if status == 404:
            raise StoreApiError(
                f"Shopify has no Admin API at {self.endpoint} (HTTP 404): check"
                " AFTERCARE_SHOPIFY__SHOP and AFTERCARE_SHOPIFY__API_VERSION"
            )
        if not 200 <= status < 300:
            raise StoreApiError(f"Shopify answered HTTP {status}; tried again later")
        try:
            answer = response.json()
        except ValueError:
            raise StoreApiError(f"Shopify answered HTTP {status} but not with JSON") from None
        errors = answer.get("errors") if isinstance(answer, dict) else "no JSON object"
        if errors:
            codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            said = _graphql_errors(errors)
            if "ACCESS_DENIED" in codes:
                raise StoreApiKeyRefusedError(
                    f"Shopify refused the request ({said}): give the app the read_orders and"
                    " write_orders access scopes, and reinstall it"
                )
            raise StoreApiError(f"Shopify's Admin API answered with errors ({said})")
        return answer.get("data") or {}


def noting_sources(settings: Settings) -> frozenset[str]:
    """The stores whose API credentials are set, by the ``order_source`` of their orders."""
    woo, shopify = settings.woocommerce, settings.shopify
    sources = set()
    if woo.api_url and woo.api_key and woo.api_secret:
        sources.add("woocommerce")
    if shopify.admin_token and (shopify.shop or shopify.admin_api_url):
        sources.add("shopify")
    return frozenset(sources)


def note_stores(settings: Settings, client: httpx.Client) -> dict[str, OrderNoteStore]:
    """One ``OrderNoteStore`` per store with credentials, by ``order_source``."""
    stores: dict[str, OrderNoteStore] = {}
    sources = noting_sources(settings)
    woo, shopify = settings.woocommerce, settings.shopify
    if "woocommerce" in sources:
        assert woo.api_key and woo.api_secret  # noting_sources checked
        stores["woocommerce"] = WooCommerceNotes(
            str(woo.api_url),
            woo.api_key.get_secret_value(),
            woo.api_secret.get_secret_value(),
            client,
        )
    if "shopify" in sources:
        assert shopify.admin_token
        shop = f"https://{_shop_handle(shopify.shop or '')}.myshopify.com"
        base = str(shopify.admin_api_url or shop).rstrip("/")
        endpoint = f"{base}/admin/api/{shopify.api_version}/graphql.json"
        stores["shopify"] = ShopifyNotes(endpoint, shopify.admin_token.get_secret_value(), client)
    return stores


# --- the step ----------------------------------------------------------------------------


def add_order_notes(
    sessions: sessionmaker[Session], stores: Mapping[str, OrderNoteStore], now: datetime
) -> NoteReport:
    """Note every due answer on its order; what was noted and what failed (retried later)."""
    if not stores:
        return NoteReport()
    noted = failed = 0
    with sessions.begin() as session:
        due = list(session.scalars(_due(now, stores.keys()).limit(BATCH)))
        for row in due:
            store = stores[row.order_source or ""]
            try:
                store.add_note(
                    row.order_external_id or "", note_line(row), retry=row.note_attempts > 0
                )
                error: OrderNoteError | None = None
            except OrderNoteError as exc:
                error = exc
            row.note_attempts += 1
            if error is None:
                row.noted_at, row.note_error, row.note_after = now, None, None
                noted += 1
                continue
            row.note_error = scrub_personal_data(str(error))[:500]
            row.note_after = now + backoff(row.note_attempts)
            failed += 1
            log.warning(
                "order note not added",
                extra={
                    "action_id": row.id,
                    "store": store.source,
                    "attempts": row.note_attempts,
                    "error_type": type(error).__name__,
                    "error": row.note_error,
                },
            )
    return NoteReport(noted, failed)


def add_due_order_notes(pipeline: Pipeline) -> NoteReport:
    """The drain's step: note what is due on its order, for the stores with credentials."""
    if not noting_sources(pipeline.settings):
        return NoteReport()
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        stores = note_stores(pipeline.settings, client)
        return add_order_notes(pipeline.sessions, stores, pipeline.clock())


def any_due(session: Session, now: datetime, sources: frozenset[str]) -> bool:
    """Is an answer waiting to be noted on its order? One cheap query, for the safety net."""
    if not sources:
        return False
    found = select(CustomerActionRow.id).where(*_due_conditions(now, sources)).limit(1)
    return session.scalar(found) is not None


def _due_conditions(now: datetime, sources: Any) -> tuple:
    unconfirmed = or_(
        *(
            (CustomerActionRow.action == action) & (CustomerActionRow.value == value)
            for action, value in NEEDS_CONFIRMATION
        )
    )
    return (
        CustomerActionRow.noted_at.is_(None),
        CustomerActionRow.note_attempts < MAX_ATTEMPTS,
        CustomerActionRow.order_source.in_(sorted(sources)),
        CustomerActionRow.order_external_id.is_not(None),
        or_(CustomerActionRow.note_after.is_(None), CustomerActionRow.note_after <= now),
        or_(~unconfirmed, CustomerActionRow.confirmed_at.is_not(None)),
    )


def _due(now: datetime, sources: Any):  # noqa: ANN202 - a Select
    # Two drains at once note different rows; a row another drain is forwarding as a
    # webhook just now is noted on the next pass.
    return (
        select(CustomerActionRow)
        .where(*_due_conditions(now, sources))
        .order_by(CustomerActionRow.id)
        .with_for_update(skip_locked=True)
    )


def _shop_handle(shop: str) -> str:
    """``fern-and-field``, ``fern-and-field.myshopify.com`` or its https URL: the handle."""
    shop = re.sub(r"^https?://", "", shop.strip()).rstrip("/")
    return shop.removesuffix(".myshopify.com")


def _same_note(stored: object, line: str) -> bool:
    # WordPress may hand a note back with its quotes as entities.
    return isinstance(stored, str) and html.unescape(stored).strip() == line


def _woocommerce_says(response: httpx.Response) -> str:
    """``: woocommerce_rest_… (the store's message)`` from WooCommerce's JSON error."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not body.get("code"):
        return ""
    message = str(body.get("message") or "")[:200]
    return f": {body['code']}" + (f", {message}" if message else "")


def _graphql_errors(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:200]
    return "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:300]


def _named(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
