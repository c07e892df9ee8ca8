"""The drain: claimed inbox events to outbox emails to the transport."""
