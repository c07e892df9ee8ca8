"""Every email kind × locale × sample order, as SpamAssassin scores it (issue 18, point 7).

Debian's ``spamassassin`` with local rules only (``-L``: no network tests, which a test
machine cannot reach), all emails in one mbox so the rules load once. ``./dev test``
installs it where it can; without it this test says so instead of passing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from aftercare.authoring.samples import sample_emails, sample_store_facts
from aftercare.rendering.mime import build_mime, new_message_id
from aftercare.rendering.renderer import EmailRenderer
from tests.test_rendering import TEMPLATES

MAX_SCORE = 1.0
MAX_BYTES = 90 * 1024
_STATUS = re.compile(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)[^\n]*(?:\n[ \t][^\n]*)*", re.M)
_TESTS = re.compile(rb"tests=([^\n]*(?:\n[ \t][^\n]*)*)")


def _messages() -> list[tuple[str, bytes]]:
    renderer = EmailRenderer(TEMPLATES)
    store = sample_store_facts()
    available = renderer.available_locales()
    found = []
    for locale in sorted(available):
        for sample in sample_emails(locale=locale):
            context = sample.context(store, available)
            email = renderer.render(sample.kind, context, context["locale"])
            raw = build_mime(
                email,
                sender=f"{store.name} <{store.from_address}>",
                recipient="Anna Keller <anna.keller@example.com>",
                reply_to=str(store.reply_to),
                message_id=new_message_id(f"{locale}:{sample.kind}:{sample.name}", "example.com"),
                date=datetime(2024, 6, 5, 9, 0, tzinfo=UTC),
            )
            found.append((f"{locale} {sample.kind.value} ({sample.name})", raw))
    return found


def _mbox(messages: list[tuple[str, bytes]]) -> bytes:
    out = []
    for _, raw in messages:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        escaped = [b">" + line if line.startswith(b"From ") else line for line in lines]
        out.append(b"From aftercare@localhost Wed Jun  5 09:00:00 2024\n" + b"\n".join(escaped))
    return b"\n\n".join(out) + b"\n"


def test_every_email_in_every_language_scores_low_with_spamassassin() -> None:
    if shutil.which("spamassassin") is None:
        pytest.fail("SpamAssassin is needed: `apt-get install spamassassin` (./dev test does)")
    messages = _messages()
    assert {name.split()[0] for name, _ in messages} >= {"en", "ru", "th", "zh_Hans_CN"}
    checked = subprocess.run(
        ["spamassassin", "-L", "--mbox"],
        input=_mbox(messages),
        capture_output=True,
        timeout=900,
        check=True,
    ).stdout
    statuses = _STATUS.findall(checked)
    assert len(statuses) == len(messages), checked[:500]
    reports = [m.group(0) for m in _STATUS.finditer(checked)]
    high = [
        f"{name}: {score.decode()} ({b' '.join(_TESTS.findall(report)).decode()})"
        for (name, _), score, report in zip(messages, statuses, reports, strict=True)
        if float(score) > MAX_SCORE
    ]
    assert not high, "\n".join(high)


def test_every_email_in_every_language_stays_under_gmails_clipping() -> None:
    large = [(name, len(raw)) for name, raw in _messages() if len(raw) > MAX_BYTES]
    assert not large, large


def test_the_scores_are_read_from_what_spamassassin_wrote() -> None:
    """The parser on SpamAssassin's own header format, folded as it folds it."""
    report = (
        b"X-Spam-Status: No, score=0.7 required=5.0 tests=HTML_FONT_LOW_CONTRAST,\n"
        b"\tHTML_MESSAGE autolearn=no version=4.0.0\n"
    )
    assert _STATUS.findall(report) == [b"0.7"]
    assert b"HTML_FONT_LOW_CONTRAST" in _TESTS.findall(report)[0]
