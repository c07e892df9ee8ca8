"""Product and stock webhooks, applied by the drain to the catalogue it offers from.

A stored delivery of a product or stock topic (Shopify ``products/*``,
``inventory_levels/update``; WooCommerce ``product.*``) sends no email: its adapter's
``parse`` records it as ignored, "a catalogue change", and the drain asks
``catalogue_change_of`` first, as it asks ``privacy_request_of``. The change is written by
``storage.catalogue_records.apply_catalogue_change`` in the transaction that marks the
delivery processed; the revision it raises makes every drain reload the changed products
before its next group of emails, so a stock change shows in the next email.
"""

from __future__ import annotations

from collections.abc import Mapping

from aftercare.catalogue_changes import CatalogueChange
from aftercare.stores import Delivery, StoreAdapter
from aftercare.stores.catalogue_topics import CatalogueTopics


def catalogue_change_of(
    adapters: Mapping[str, StoreAdapter], source: str, delivery: Delivery
) -> CatalogueChange | None:
    """The catalogue change a stored delivery makes, if its store sends them and it is one.

    Raises ``MalformedPayloadError`` when it is a product or stock topic whose body is not
    what the topic promises (kept as invalid, like any malformed delivery).
    """
    adapter = adapters.get(source)
    if adapter is None or not isinstance(adapter, CatalogueTopics):
        return None
    return adapter.catalogue_change(delivery)
