"""The store adapters the receiver serves, built from settings (one route each)."""

from __future__ import annotations

from aftercare.settings import Settings
from aftercare.stores import StoreAdapter


def build_adapters(settings: Settings) -> dict[str, StoreAdapter]:
    """Every adapter, keyed by its URL segment (``/webhooks/<key>``).

    All three are always routed: one without a secret configured answers 401 with the name
    of the setting to fill in, which tells a store owner more than a 404 would.
    """
    from aftercare.stores.generic import GenericAdapter
    from aftercare.stores.shopify import ShopifyAdapter
    from aftercare.stores.woocommerce import WooCommerceAdapter

    adapters: list[StoreAdapter] = [
        ShopifyAdapter(settings.shopify, settings.store),
        WooCommerceAdapter(settings.woocommerce, settings.store),
        GenericAdapter(settings.generic),
    ]
    return {adapter.source: adapter for adapter in adapters}
