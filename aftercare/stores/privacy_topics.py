"""Stores that send privacy requests (Shopify's mandatory compliance webhooks) say so here.

A privacy request is not an order event (it sends no email and changes no order), so it is
not part of ``StoreAdapter.parse``; an adapter whose store sends them also implements
``PrivacyTopics``, and the drain asks it before parsing a stored delivery.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aftercare.events import PrivacyRequest
from aftercare.stores import Delivery


@runtime_checkable
class PrivacyTopics(Protocol):
    def privacy_request(self, delivery: Delivery) -> PrivacyRequest | None:
        """The request a verified delivery makes, or None when it is an ordinary topic.

        Raises ``MalformedPayloadError`` when the delivery is a privacy topic but its body
        does not say whose data it is about.
        """
        ...
