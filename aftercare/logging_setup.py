"""Structured (JSON) logs for the command line and workers.

Log records carry ids and counts in ``extra`` fields, never a customer's email or street
address; ``PersonalDataFilter`` is a second line of defence that refuses to let an email
address through even if a future log call forgets.
"""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def scrub_personal_data(text: str) -> str:
    """``text`` with every email address replaced by ``<email>``."""
    return _EMAIL.sub("<email>", text)


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            # Tracebacks quote exception messages; render and scrub them once, here.
            record.exc_text = scrub_personal_data(
                logging.Formatter().formatException(record.exc_info)
            )
        if isinstance(record.msg, str) and _EMAIL.search(record.msg):
            record.msg = _EMAIL.sub("<email>", record.msg)
        if record.args:
            record.args = (
                tuple(_EMAIL.sub("<email>", a) if isinstance(a, str) else a for a in record.args)
                if isinstance(record.args, tuple)
                else record.args
            )
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str) and _EMAIL.search(value):
                setattr(record, key, _EMAIL.sub("<email>", value))
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger("aftercare")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
