"""The webhook receiver: verify, store, acknowledge — and only then process.

A package of its own because it runs apart from everything else: on the request path, in the
``aftercare serve`` process, against a store's deadline (Shopify waits 5 s). It only stores
what arrives; the drain turns stored deliveries into emails. ``app`` routes the requests,
``endpoint`` answers a webhook, ``inbox_writer`` commits deliveries in groups.
"""

from aftercare.receiver.app import build_app, build_receiver
from aftercare.receiver.endpoint import Receiver, delivery_row
from aftercare.receiver.inbox_writer import InboxWriter

__all__ = ["InboxWriter", "Receiver", "build_app", "build_receiver", "delivery_row"]
