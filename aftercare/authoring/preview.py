"""A local preview of every email: each kind and sample, at desktop and phone width.

``aftercare templates preview`` writes a folder of static pages (no server, nothing to
install): ``index.html`` shows each email twice, in a 600 px and a 375 px frame, with its
subject, preheader and plain-text part. Marketers open it in a browser after an edit;
``scripts/screenshot_emails.py`` photographs the same pages with headless Chromium.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from aftercare.authoring.samples import sample_emails, sample_store_facts
from aftercare.errors import TemplateError
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import StoreFacts

DESKTOP_WIDTH = 600
PHONE_WIDTH = 375


@dataclass(frozen=True)
class PreviewPage:
    """One rendered sample email in the preview folder."""

    locale: str
    kind: str
    sample: str
    file: Path
    subject: str
    error: str | None = None


def write_preview(
    templates_dir: Path,
    out_dir: Path,
    store: StoreFacts | None = None,
    locales: list[str] | None = None,
    customer_first_name: str | None = "Anna",
) -> list[PreviewPage]:
    """Render every sample of every kind in every locale into ``out_dir``; returns them."""
    store = store or sample_store_facts()
    renderer = EmailRenderer(templates_dir, check_interval=0)
    available = renderer.available_locales()
    out_dir.mkdir(parents=True, exist_ok=True)
    pages: list[PreviewPage] = []
    for locale in locales or sorted(available):
        for sample in sample_emails(locale=locale, first_name=customer_first_name):
            context = sample.context(store, available)
            slug = _slug(f"{locale}-{sample.kind.value}-{sample.name}")
            file = out_dir / f"{slug}.html"
            try:
                email = renderer.render(sample.kind, context, context["locale"])
            except TemplateError as exc:
                file.write_text(f"<pre>{html.escape(str(exc))}</pre>", encoding="utf-8")
                pages.append(
                    PreviewPage(locale, sample.kind.value, sample.name, file, "", str(exc))
                )
                continue
            file.write_text(email.html, encoding="utf-8")
            (out_dir / f"{slug}.txt").write_text(email.text, encoding="utf-8")
            pages.append(PreviewPage(locale, sample.kind.value, sample.name, file, email.subject))
            _write_frame_page(
                out_dir / f"{slug}.preview.html",
                email.subject,
                email.preheader,
                email.text,
                file.name,
            )
    (out_dir / "index.html").write_text(_index(pages), encoding="utf-8")
    return pages


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")


def _write_frame_page(path: Path, subject: str, preheader: str, text: str, email_file: str) -> None:
    path.write_text(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(subject)}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 24px; background: #e9e9e9; }}
  .frames {{ display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }}
  iframe {{ border: 1px solid #bbb; background: #fff; height: 1400px; }}
  pre {{ background: #fff; padding: 16px; white-space: pre-wrap; max-width: 70ch; }}
</style></head>
<body>
<p><a href="index.html">All emails</a></p>
<h1>{html.escape(subject)}</h1>
<p><strong>Preheader:</strong> {html.escape(preheader)}</p>
<div class="frames">
  <div><p>Desktop, {DESKTOP_WIDTH} px</p>
  <iframe src="{email_file}" width="{DESKTOP_WIDTH + 40}" title="desktop"></iframe></div>
  <div><p>Phone, {PHONE_WIDTH} px</p>
  <iframe src="{email_file}" width="{PHONE_WIDTH}" title="phone"></iframe></div>
</div>
<h2>Plain-text part</h2>
<pre>{html.escape(text)}</pre>
</body></html>
""",
        encoding="utf-8",
    )


def _index(pages: list[PreviewPage]) -> str:
    rows = []
    for page in pages:
        label = f"{page.locale} · {page.kind} · {page.sample}"
        if page.error:
            rows.append(
                f'<li><a href="{page.file.name}">{html.escape(label)}</a>'
                f" — <strong>error:</strong> {html.escape(page.error)}</li>"
            )
        else:
            preview = page.file.name.removesuffix(".html") + ".preview.html"
            rows.append(
                f'<li><a href="{preview}">{html.escape(label)}</a>'
                f" — {html.escape(page.subject)}</li>"
            )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Aftercare email preview</title>"
        "<style>body { font-family: system-ui, sans-serif; margin: 24px; }"
        " li { margin: 4px 0; }</style></head><body>"
        f"<h1>Email preview</h1><p>{len(pages)} emails, each at {DESKTOP_WIDTH} px and"
        f" {PHONE_WIDTH} px.</p><ul>{''.join(rows)}</ul></body></html>"
    )
