"""Answering privacy requests: report what is stored about a customer, or erase it.

Shopify's compliance webhooks (``customers/data_request``, ``customers/redact``,
``shop/redact``) arrive like any delivery and are answered here by the drain, in the
transaction that marks them processed; ``aftercare customer forget`` and ``customer report``
call the same functions. Which stored deliveries concern the customer is decided on the
normalized events (their order ids and customer), so it holds for every store; a cheap byte
search skips the deliveries that cannot mention them before any is parsed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from aftercare.events import PrivacyRequest, PrivacyRequestKind
from aftercare.privacy import mask_email
from aftercare.storage import erasure
from aftercare.storage.erasure import Erasure, StoredDelivery, StoredSubject
from aftercare.stores import Delivery, StoreAdapter
from aftercare.stores.privacy_topics import PrivacyTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrivacyAnswer:
    request: PrivacyRequest
    erased: Erasure | None = None
    report: dict[str, Any] | None = None
    report_path: Path | None = None


def privacy_request_of(
    adapters: Mapping[str, StoreAdapter], source: str, delivery: Delivery
) -> PrivacyRequest | None:
    """The privacy request a stored delivery makes, if its store sends them and it is one."""
    adapter = adapters.get(source)
    if adapter is None or not isinstance(adapter, PrivacyTopics):
        return None
    return adapter.privacy_request(delivery)


def answer(
    session: Session,
    adapters: Mapping[str, StoreAdapter],
    request: PrivacyRequest,
    *,
    now: datetime,
    reports_dir: Path | None = None,
    own_inbox_id: int | None = None,
) -> PrivacyAnswer:
    """Erase (a redact) or report (a data request); a customer not stored is no error.

    ``own_inbox_id``: the delivery that made the request, emptied with the rest (a redact
    names the customer's email); a data request's report is written to ``reports_dir``.
    """
    connection = session.connection()
    subject, inbox_ids, email_ids = _covered(connection, adapters, request)
    if request.kind is PrivacyRequestKind.DATA_REQUEST:
        report = report_of(request, erasure.stored_data(connection, subject, email_ids))
        path = _write_report(reports_dir, request, report, now) if reports_dir else None
        log.info(
            "privacy data request answered",
            extra={"customer": mask_email(request.email or ""), "orders": len(report["orders"])},
        )
        return PrivacyAnswer(request, report=report, report_path=path)
    if own_inbox_id is not None:
        inbox_ids = inbox_ids | {own_inbox_id}
    erased = erasure.erase(session, subject, inbox_ids=inbox_ids, email_ids=email_ids, now=now)
    log.info(
        "personal data erased",
        extra={
            "kind": request.kind.value,
            "customer": mask_email(request.email or ""),
            **erased.as_record(),
        },
    )
    return PrivacyAnswer(request, erased=erased)


def report_of(request: PrivacyRequest, stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "request": {
            "source": request.source,
            "shop_domain": request.shop_domain,
            "data_request_id": request.request_id,
            "customer_id": request.customer_id,
            "email": request.email,
        },
        **stored,
    }


def _write_report(
    reports_dir: Path, request: PrivacyRequest, report: dict[str, Any], now: datetime
) -> Path:
    """``<reports_dir>/<source>-<request id or time>.json``: the operator hands it over."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    name = request.request_id or now.strftime("%Y%m%dT%H%M%S")
    path = reports_dir / f"{request.source}-{name}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _covered(
    connection: Connection, adapters: Mapping[str, StoreAdapter], request: PrivacyRequest
) -> tuple[StoredSubject, set[int], list[int]]:
    """The customer and order rows, the deliveries and the emails a request covers."""
    if request.kind is PrivacyRequestKind.SHOP_REDACT:
        subject = erasure.find_shop(connection, request.source)
        inbox_ids = {d.inbox_id for d in erasure.stored_deliveries(connection, request.source)}
    else:
        subject = erasure.find_customer(
            connection,
            source=request.source if request.source != "*" else None,
            customer_id=request.customer_id,
            email=request.email,
            order_ids=request.order_ids,
        )
        source = request.source if request.source != "*" else None
        inbox_ids = {
            d.inbox_id
            for d in erasure.stored_deliveries(connection, source)
            if _concerns(adapters, subject, d)
        }
    return subject, inbox_ids, erasure.emails_of(connection, subject.emails, inbox_ids)


def _concerns(
    adapters: Mapping[str, StoreAdapter], subject: StoredSubject, delivery: StoredDelivery
) -> bool:
    """Whether a stored delivery is about the subject's customers or orders."""
    if delivery.raw_body is None:
        return _event_concerns(subject, delivery.source, delivery.payload)
    lowered = delivery.raw_body.lower()
    if any(email.encode() in lowered for email in subject.emails):
        return True
    ids = {o for _, o in subject.order_keys} | {c for _, c in subject.customer_external_ids}
    if not any(i.encode() in delivery.raw_body for i in ids):
        return False  # names none of them: no need to parse it
    adapter = adapters.get(delivery.source)
    if adapter is None:
        return True  # mentions one of their ids and cannot be read: erase rather than keep
    try:
        parsed = adapter.parse(
            Delivery(
                headers=delivery.raw_headers or {},
                body=delivery.raw_body,
                received_at=delivery.received_at,
            )
        )
    except Exception:  # noqa: BLE001 - an unreadable body naming their ids is theirs
        return True
    return any(
        _event_concerns(subject, delivery.source, e.model_dump(mode="json")) for e in parsed.events
    )


def _event_concerns(subject: StoredSubject, source: str, event: dict[str, Any]) -> bool:
    """A normalized event (as JSON) about one of the subject's orders or customers."""
    if (source, str(event.get("order_id"))) in subject.order_keys:
        return True
    customer = event.get("customer") or {}
    if not isinstance(customer, dict):
        return False
    email = str(customer.get("email") or "").lower()
    return email in subject.emails or (
        (source, str(customer.get("external_id"))) in subject.customer_external_ids
    )


def forget_request(email: str) -> PrivacyRequest:
    """An operator's erasure of one address, in every store (``aftercare customer forget``)."""
    return PrivacyRequest(kind=PrivacyRequestKind.CUSTOMER_REDACT, source="*", email=email)


def report_request(email: str) -> PrivacyRequest:
    return PrivacyRequest(kind=PrivacyRequestKind.DATA_REQUEST, source="*", email=email)


__all__ = ["PrivacyAnswer", "answer", "forget_request", "privacy_request_of"]
