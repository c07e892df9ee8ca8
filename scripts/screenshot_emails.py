"""Photograph every email kind at 600 px and 375 px with headless Chromium.

    .venv/bin/python scripts/screenshot_emails.py [--out screenshots] [--all-samples]

Writes ``<locale>-<kind>-<sample>-desktop.png`` (a 700 px window: the 600 px column on
the page background, as a desktop client shows it) and ``…-375.png`` (a phone: the
media queries make the column full width) into ``--out``, for every language the
templates are translated into (en, ru, th, zh-CN: customers with names in their own
script), and for an Arabic (right-to-left) and a Japanese run, which use a copy of the
English templates filed under ``ar/`` and ``ja/`` with the store's and the customer's
names in that script, to show that the layout takes both without change. Look at the
pictures; ``tests/test_locale_layout.py`` measures the same emails for overflow.

Needs Debian's ``chromium`` and fonts for the scripts (``fonts-thai-tlwg``,
``fonts-wqy-zenhei``; ``fonts-noto-core`` for Arabic): ``./dev test`` installs the first
two. The sample pictures live on hosts that do not exist, so each ``https://…/x.jpg`` is
swapped for a local placeholder image in the copy that is photographed; the emails
themselves are not changed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aftercare.authoring.preview import DESKTOP_WIDTH, PHONE_WIDTH, write_preview  # noqa: E402
from aftercare.settings import StoreFacts  # noqa: E402

TEMPLATES = ROOT / "email_templates"
DESKTOP_WINDOW = DESKTOP_WIDTH + 100  # wider than the 620 px media query
# Tall enough for the longest email; the rest is the page's background colour.
HEIGHTS = {DESKTOP_WINDOW: 2600, PHONE_WIDTH: 3600}
LABELS = {DESKTOP_WINDOW: "desktop", PHONE_WIDTH: str(PHONE_WIDTH)}
_IMAGE_URL = re.compile(r'src="https://[^"]+\.(?:jpg|png)"')
# One representative sample per kind, unless --all-samples.
REPRESENTATIVE = {
    "welcome": "new customer",
    "order_confirmation": "international",
    "order_shipped": "partial shipment",
    "order_delayed": "multi-item",
    "order_refunded": "partial refund",
    "order_delivered": "last of two parcels",
}
# The translated languages, each with a customer named in its own script.
CUSTOMERS = {"ru": "Татьяна", "th": "ชนิดา", "zh_CN": "思远"}
SCRIPTS = {
    "ar": ("متجر الفرن والحقل", "ليلى", "ورشتنا في لايبزيغ، ألمانيا"),
    "ja": ("ファーン・アンド・フィールド", "さくら", "ドイツ・ライプツィヒの工房"),
}


def placeholder_png(
    path: Path, size: int = 160, rgb: tuple[int, int, int] = (200, 214, 205)
) -> None:
    """A plain square PNG, written by hand so the script needs no imaging library."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    )


def screenshot(chromium: str, page: Path, width: int, out: Path) -> None:
    """One picture of ``page`` in a frame ``width`` pixels wide (media queries see it).

    The email goes into an iframe of exactly ``width``: Chromium may refuse a window
    narrower than about 500 px, but an iframe's media queries see the iframe's width.
    """
    frame = page.with_suffix(f".frame{width}.html")
    frame.write_text(
        '<!DOCTYPE html><html><body style="margin:0;background:#fff">'
        f'<iframe src="{page.name}" width="{width}" height="{HEIGHTS[width]}"'
        ' style="border:0;display:block"></iframe></body></html>',
        encoding="utf-8",
    )
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={max(width, 500)},{HEIGHTS[width]}",
            f"--screenshot={out}",
            frame.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--all-samples", action="store_true")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        templates = work_dir / "templates"
        shutil.copytree(TEMPLATES, templates)
        for locale in SCRIPTS:
            shutil.copytree(templates / "en", templates / locale)
        (work_dir / "pages").mkdir()
        placeholder_png(work_dir / "pages" / "picture.png")
        runs = [("en", StoreFacts(), "Anna")]
        runs += [(locale, StoreFacts(), name) for locale, name in CUSTOMERS.items()]
        runs += [
            (locale, StoreFacts(name=store, ships_from=ships_from), first_name)
            for locale, (store, first_name, ships_from) in SCRIPTS.items()
        ]
        written = 0
        for locale, store, first_name in runs:
            pages = write_preview(templates, work_dir / "pages", store, [locale], first_name)
            for page in pages:
                if page.error:
                    print(f"error: {page.file.name}: {page.error}", file=sys.stderr)
                    continue
                if not args.all_samples and REPRESENTATIVE.get(page.kind) != page.sample:
                    continue
                html = page.file.read_text(encoding="utf-8")
                page.file.write_text(_IMAGE_URL.sub('src="picture.png"', html), encoding="utf-8")
                for width in (DESKTOP_WINDOW, PHONE_WIDTH):
                    out = args.out / f"{page.file.stem}-{LABELS[width]}.png"
                    screenshot(chromium, page.file, width, out)
                    written += 1
        print(f"{written} screenshots in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
