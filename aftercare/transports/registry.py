"""The transport the settings name, built once for many sends."""

from __future__ import annotations

from aftercare.settings import Settings, TransportName
from aftercare.transports import Transport


def build_transport(settings: Settings) -> Transport:
    """The transport ``settings.transport`` names: the outbox folder or SES."""
    match settings.transport:
        case TransportName.OUTBOX:
            from aftercare.transports.outbox_folder import OutboxFolderTransport

            return OutboxFolderTransport(settings.outbox_dir)
        case TransportName.SES:
            # Imported here so the embedded default never pays for importing boto3.
            from aftercare.transports.ses import SesTransport

            return SesTransport(settings.ses)
    raise ValueError(f"unknown transport {settings.transport!r}")  # pragma: no cover
