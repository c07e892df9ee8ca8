"""Headless Chromium for what a person sees: the visible text of a rendered email.

Debian's ``chromium`` (``./dev test`` installs it when missing). Each page is opened from a
file with a small script added before ``</body>``; ``--dump-dom`` prints the page after
its scripts ran, and the script leaves its measurement on the ``<html>`` element. Text
hidden by CSS (the preheader) is not in ``innerText``, as it is not on the screen.
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

# The flags this machine's closed network needs (no background fetches, no QUIC), and no
# pictures: they come from the store's CDN, which a test cannot reach.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--blink-settings=imagesEnabled=false",
)

_MEASURE = """<script>
const shown = e => e ? e.innerText.replace(/\\s+/g, " ").trim().length : 0;
const part = document.querySelector(%r);
document.documentElement.setAttribute(
  "data-measured", String(shown(part)) + "/" + String(shown(document.body)));
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            "headless Chromium is needed to measure what a reader sees: `apt-get install "
            "chromium` (./dev test installs it when it can)"
        )
    return found


def visible_characters(html: str, selector: str) -> tuple[int, int]:
    """(characters of ``selector``'s visible text, characters of the body's), as Chromium
    lays the page out; whitespace runs count as one."""
    page = html.replace("</body>", _MEASURE % selector + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="aftercare-chromium-") as folder:
        path = Path(folder) / "email.html"
        path.write_text(page, encoding="utf-8")
        dumped = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={folder}/profile", "--dump-dom", path.as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    found = re.search(r'data-measured="(\d+)/(\d+)"', dumped)
    if found is None:
        raise AssertionError(f"Chromium did not run the measuring script: {dumped[:300]!r}")
    return int(found.group(1)), int(found.group(2))


def evaluate_in_page(html: str, script: str) -> object:
    """What ``script`` finds in ``html`` as Chromium lays it out: the script (the body of a
    function run after the page) returns a JSON-serialisable value, which comes back here.

    The value travels as an attribute of ``<html>`` in the dumped DOM, like
    ``visible_characters``' measurement.
    """
    runner = (
        "<script>document.documentElement.setAttribute('data-evaluated', "
        f"JSON.stringify((() => {{ {script} }})()));</script>"
    )
    page = html.replace("</body>", runner + "</body>", 1)
    with tempfile.TemporaryDirectory(prefix="aftercare-chromium-") as folder:
        path = Path(folder) / "page.html"
        path.write_text(page, encoding="utf-8")
        dumped = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={folder}/profile", "--dump-dom", path.as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    found = re.search(r'data-evaluated="([^"]*)"', dumped)
    if found is None:
        raise AssertionError(f"Chromium did not run the script: {dumped[:300]!r}")
    return json.loads(html_module.unescape(found.group(1)))
