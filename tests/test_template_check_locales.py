"""The template check across languages: a kind written in several locale folders must
have the same parts in each (issue 18, point 6)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aftercare.authoring.check import check_templates
from aftercare.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "email_templates"


def test_a_locale_folder_missing_a_block_another_has_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "email_templates"
    shutil.copytree(TEMPLATES, copy)
    (copy / "de").mkdir()
    for suffix in ("html", "txt"):
        shutil.copy(
            copy / "en" / f"order_shipped.{suffix}", copy / "de" / f"order_shipped.{suffix}"
        )
    german = copy / "de" / "order_shipped.html"
    source = german.read_text(encoding="utf-8")
    without = re.sub(r"\{% block preheader %\}.*?\{% endblock %\}", "", source, count=1, flags=re.S)
    assert without != source
    german.write_text(without, encoding="utf-8")
    report = check_templates(copy)
    found = [f for f in report.findings if f.rule == "locale-blocks"]
    assert [(f.template, "preheader" in f.message) for f in found] == [
        ("de/order_shipped.html", True)
    ]
    assert "en/order_shipped.html" in found[0].message
    assert not report.ok
