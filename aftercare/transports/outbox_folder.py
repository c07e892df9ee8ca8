"""The embedded default transport: each email becomes one ``.eml`` file in a folder.

A new user sees real emails (open them in any mail client) without an AWS account. The file
name is derived from the idempotency key, so the folder itself records what was sent: a second
send of the same logical email finds the file and writes nothing.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from aftercare.errors import PermanentSendError, TransientSendError
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
        file_name = eml_file_name(message)
        target = self.directory / file_name
        if target.exists():
            logger.info("outbox: %s already holds this email, not writing it again", file_name)
            return file_name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write_once(target, message.mime)
        except (PermissionError, NotADirectoryError, FileExistsError) as error:
            raise PermanentSendError(
                f"cannot write emails to the outbox folder {self.directory}: {error.strerror}; "
                "make it a writable folder or set AFTERCARE_OUTBOX_DIR to one"
            ) from error
        except OSError as error:
            raise TransientSendError(
                f"writing to the outbox folder {self.directory} failed: {error.strerror}"
            ) from error
        logger.info("outbox: wrote %s", file_name)
        return file_name

    def already_sent(self, message: OutgoingMessage) -> bool | None:
        return (self.directory / eml_file_name(message)).exists()

    def _write_once(self, target: Path, data: bytes) -> None:
        """Write ``data`` to ``target`` atomically, and only if ``target`` does not exist yet.

        The bytes go to a hidden temporary file in the same folder first, so a crash never
        leaves half an email under the real name; ``os.link`` then publishes it, failing
        rather than overwriting when a concurrent worker published the same email first.
        """
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".eml.tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, target)
            except FileExistsError:
                logger.info("outbox: %s was written concurrently, keeping that one", target.name)
            except OSError as error:
                if error.errno not in _LINK_UNSUPPORTED:
                    raise
                os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
