"""Transports hand a finished MIME message to whatever delivers it.

One file per transport (``outbox_folder``, ``ses``), each implementing ``Transport``;
``registry.build_transport`` builds the one the settings name, and nothing before the
transport knows which one that is. A transport is told only what it needs: the envelope and
the bytes, never the order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

# A bare addr-spec as SMTP's envelope takes it: no display name, no spaces, no brackets.
_BARE_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


@dataclass(frozen=True)
class OutgoingMessage:
    """One email ready to go: the envelope, the bytes, and the key that names it.

    ``recipient`` and ``mime`` are left out of ``repr`` so that logging a message never writes
    a customer's address (or the body that contains it) to the logs.
    """

    idempotency_key: str
    kind: str
    sender: str  # bare address of the envelope sender, e.g. "hello@fernandfield.example"
    recipient: str = field(repr=False)  # bare address
    message_id: str
    mime: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            raise ValueError("idempotency_key is empty: every email needs the key that names it")
        if not _BARE_ADDRESS.fullmatch(self.sender):
            raise ValueError(f"sender {self.sender!r} must be a bare address like a@shop.example")
        if not _BARE_ADDRESS.fullmatch(self.recipient):
            # The address itself stays out of the message: it is a customer's.
            raise ValueError("recipient must be a bare address like someone@example.com")


class Transport(Protocol):
    """What the send step needs from a transport.

    ``send`` returns the transport's id for the delivered message. It raises
    ``TransientSendError`` when trying again later can help (throttling, timeouts, 5xx,
    connection errors) and ``PermanentSendError`` when it cannot (the provider rejected the
    sender, the address or the content), with a message that tells the store owner what to fix.

    ``already_sent`` answers whether this message was handed over before, for recovering after
    a crash between handing over and recording it: True or False when the transport can tell,
    None when it cannot (SES keeps no lookup by our key). A transport whose answer is never
    None says so with ``confirms_sends = True``; the send step then records its sends in
    groups instead of one transaction per email (optional, default False).

    ``send_many`` (optional) takes several messages at once and returns, in order, each
    one's transport id or the ``SendError`` it met, for a transport that can share work
    across them (the outbox folder waits for the disk once per group).
    """

    name: str

    def send(self, message: OutgoingMessage) -> str: ...

    def already_sent(self, message: OutgoingMessage) -> bool | None: ...
