"""The embedded default transport: each email becomes one ``.eml`` file in a folder.

A new user sees real emails (open them in any mail client) without an AWS account. The file
name is derived from the idempotency key, so the folder itself records what was sent: a second
send of the same logical email finds the file and writes nothing.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from aftercare.errors import PermanentSendError, SendError, TransientSendError
from aftercare.transports import OutgoingMessage

logger = logging.getLogger(__name__)

_KIND = re.compile(r"[a-z0-9_]+")

# os.link is refused by some file systems (FAT, some network shares); the fallback is
# os.replace, still atomic, but it cannot tell that another worker won the race.
_LINK_UNSUPPORTED = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS}


def eml_file_name(message: OutgoingMessage) -> str:
    """``<kind>-<16 hex of sha256(idempotency key)>.eml``, e.g. ``welcome-9f86d081884c7d65.eml``.

    Stable per key, never time-based, so ``already_sent`` can find the file; the kind keeps the
    folder readable, the hash keeps customer and order ids out of file names.
    """
    if not _KIND.fullmatch(message.kind):
        raise ValueError(f"email kind {message.kind!r} cannot be part of a file name")
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:16]
    return f"{message.kind}-{digest}.eml"


class OutboxFolderTransport:
    """Writes each email as ``<outbox_dir>/<kind>-<hash>.eml``; the file name is the message id."""

    name = "outbox"
    # ``already_sent`` always knows (the file exists or not), so sends may be recorded in
    # groups: after a crash the folder tells which emails went out.
    confirms_sends = True

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: OutgoingMessage) -> str:
        outcome = self.send_many([message])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[str | SendError]:
        """Write many emails with one wait for the disk; each one's file name or error.

        Each email's bytes go to a hidden temporary file in the folder first, so a crash
        never leaves half an email under the real name. Once every temporary file is on disk
        (one ``syncfs`` for the batch where Linux offers it: a flush per file costs more than
        writing the email), ``os.link`` publishes each under its name, failing rather than
        overwriting when a concurrent worker published the same email first; a final flush
        of the folder makes the names durable before the sends are recorded.
        """
        outcomes: list[str | SendError | None] = [None] * len(messages)
        written: list[tuple[int, Path, str]] = []
        try:
            for index, message in enumerate(messages):
                file_name = eml_file_name(message)
                if (self.directory / file_name).exists():
                    logger.info(
                        "outbox: %s already holds this email, not writing it again", file_name
                    )
                    outcomes[index] = file_name
                    continue
                try:
                    if not written:
                        self.directory.mkdir(parents=True, exist_ok=True)
                    written.append(
                        (index, self.directory / file_name, self._write_temporary(message.mime))
                    )
                except OSError as error:
                    outcomes[index] = self._error(error)
            if written:
                try:
                    _flush(self.directory, [temporary for _, _, temporary in written])
                except OSError as error:
                    for index, _, _ in written:
                        outcomes[index] = self._error(error)
                    return [o for o in outcomes if o is not None]  # every one is set
                for index, target, temporary in written:
                    try:
                        self._publish(temporary, target)
                    except OSError as error:
                        outcomes[index] = self._error(error)
                    else:
                        outcomes[index] = target.name
                        logger.info("outbox: wrote %s", target.name)
                _flush_folder(self.directory)
        finally:
            for _, _, temporary in written:
                Path(temporary).unlink(missing_ok=True)
        return [o if o is not None else TransientSendError("not written") for o in outcomes]

    def already_sent(self, message: OutgoingMessage) -> bool | None:
        return (self.directory / eml_file_name(message)).exists()

    def _error(self, error: OSError) -> SendError:
        if isinstance(error, PermissionError | NotADirectoryError | FileExistsError):
            return PermanentSendError(
                f"cannot write emails to the outbox folder {self.directory}: {error.strerror}; "
                "make it a writable folder or set AFTERCARE_OUTBOX_DIR to one"
            )
        return TransientSendError(
            f"writing to the outbox folder {self.directory} failed: {error.strerror}"
        )

    def _write_temporary(self, data: bytes) -> str:
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".eml.tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return temporary

    def _publish(self, temporary: str, target: Path) -> None:
        try:
            os.link(temporary, target)
        except FileExistsError:
            logger.info("outbox: %s was written concurrently, keeping that one", target.name)
        except OSError as error:
            if error.errno not in _LINK_UNSUPPORTED:
                raise
            os.replace(temporary, target)


def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)``: flush one file system at once (Python 3.11 has no binding)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _syncfs()


def _flush(directory: Path, paths: list[str]) -> None:
    """Make the files' contents durable: one ``syncfs`` for a batch, else one fsync each."""
    if _SYNCFS is not None and len(paths) > 1:
        handle = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(handle) == 0:
                return
        finally:
            os.close(handle)
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _flush_folder(directory: Path) -> None:
    """Make new names in the folder durable (where the OS can flush a directory)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot flush a directory; the file contents are safe
    finally:
        os.close(handle)
