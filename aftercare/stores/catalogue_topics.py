"""Stores that send product and stock webhooks say so here.

A catalogue change is not an order event (it sends no email and changes no order), so it
is not part of ``StoreAdapter.parse``, which records such a delivery as ignored, "a
catalogue change"; an adapter whose store sends them also implements ``CatalogueTopics``,
and the drain asks it before parsing a stored delivery, as it asks ``PrivacyTopics``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aftercare.catalogue_changes import CatalogueChange
from aftercare.stores import Delivery


@runtime_checkable
class CatalogueTopics(Protocol):
    def catalogue_change(self, delivery: Delivery) -> CatalogueChange | None:
        """The change a verified delivery makes to the catalogue, or None when it is not a
        product or stock topic.

        Raises ``MalformedPayloadError`` when it is one but its body is not what the topic
        promises (the message names the field).
        """
        ...
