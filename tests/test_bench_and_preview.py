"""The benchmark script and the preview page keep working as the templates change."""

from __future__ import annotations

from pathlib import Path

import lxml.html

from aftercare.authoring.preview import write_preview
from aftercare.authoring.samples import sample_emails
from aftercare.emails import EmailKind
from aftercare.rendering.renderer import EmailRenderer
from aftercare.settings import PROJECT_ROOT
from bench import render as bench

TEMPLATES = PROJECT_ROOT / "email_templates"


def test_the_benchmark_times_all_three_paths_on_the_same_emails() -> None:
    workload = bench.sample_workload()
    one_per_kind = [next(e for e in workload if e[0] is kind) for kind in EmailKind]
    results = bench.measure(bench.paths(), one_per_kind, seconds=0.0, repeat=1)

    floor, inlined_page, ours, choosing, cards, linked, signing, naive = results
    assert [r.path[:3] for r in results] == ["(a)", "   ", "(b)", "   ", "   ", "   ", "   ", "(c)"]
    assert "action links" in linked.path and linked.seconds_per_email > 0
    assert "signing" in signing.path and signing.seconds_per_email > 0
    assert choosing.seconds_per_email < ours.seconds_per_email
    assert cards.seconds_per_email < ours.seconds_per_email
    assert inlined_page.seconds_per_email < naive.seconds_per_email
    # Per-email premailer is two orders of magnitude slower; a 5x margin cannot flake.
    assert naive.seconds_per_email > 5 * ours.seconds_per_email
    table = bench.report(results)
    assert all(r.path in table for r in results) and "emails/s" in table
    assert len(bench.verdict(results)) == 4 and floor.seconds_per_email > 0


def test_the_naive_path_produces_the_same_email_as_ours() -> None:
    kind, context, locale = bench.sample_workload()[2]
    renders = bench.paths()
    ours = renders["(b) Aftercare: FAQ + cross-sell chosen + subject + HTML inlined + text"](
        kind, context, locale
    )
    subject, html, text = renders["(c) naive: Jinja + premailer per email + html2text"](
        kind, context, locale
    )
    assert lxml.html.document_fromstring(html).text_content().split() == (
        lxml.html.document_fromstring(ours.html).text_content().split()  # type: ignore[attr-defined]
    )
    assert ours.subject in subject.replace("&amp;", "&")  # type: ignore[attr-defined]


def test_the_preview_shows_every_sample_at_both_widths(tmp_path: Path) -> None:
    pages = write_preview(TEMPLATES, tmp_path)
    locales = EmailRenderer(TEMPLATES).available_locales()  # every language's samples
    expected = sum(len(sample_emails(locale=locale)) for locale in locales)
    assert len(pages) == expected and not [p for p in pages if p.error]
    index = (tmp_path / "index.html").read_text()
    for page in pages:
        frame_page = page.file.name.removesuffix(".html") + ".preview.html"
        assert frame_page in index
        frames = lxml.html.fromstring((tmp_path / frame_page).read_text()).iter("iframe")
        assert {f.get("width") for f in frames} == {"640", "375"}
