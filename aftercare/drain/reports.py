"""The counts a drain reports; the database rows, not these, are the record."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PrepareReport:
    processed: int = 0
    emails_written: int = 0
    already_in_outbox: int = 0
    retried: int = 0
    dead: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0


@dataclass
class DrainReport:
    batches: int = 0
    events: int = 0
    interrupted_sends: int = 0
    prepare: PrepareReport = field(default_factory=PrepareReport)
    send: SendReport = field(default_factory=SendReport)


# A served drain can run for hours; its report keeps the newest errors, not all of them
# (each is also on its inbox row, which is the record).
MAX_REPORTED_ERRORS = 50


def add_counts(total: PrepareReport | SendReport, part: PrepareReport | SendReport) -> None:
    for name, value in vars(part).items():
        current = getattr(total, name)
        combined = current + value
        setattr(total, name, combined[-MAX_REPORTED_ERRORS:] if name == "errors" else combined)
