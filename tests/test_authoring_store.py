"""The check and the preview try every optional part of a template: with no store given they
use a sample store whose social links and rating page are set, so the footer's links and the
rating block are rendered, checked and seen, not skipped."""

from __future__ import annotations

from pathlib import Path

from aftercare.authoring.check import check_templates
from aftercare.authoring.preview import write_preview
from aftercare.authoring.samples import sample_store_facts
from aftercare.settings import PROJECT_ROOT, StoreFacts

TEMPLATES = PROJECT_ROOT / "email_templates"


def test_the_sample_store_sets_what_a_default_store_leaves_out() -> None:
    sample, default = sample_store_facts(), StoreFacts()
    assert default.social_links == {} and default.rating_url is None
    assert sample.social_links and sample.rating_url is not None


def test_the_preview_shows_the_footer_social_links_and_the_rating_links(tmp_path: Path) -> None:
    pages = write_preview(TEMPLATES, tmp_path, locales=["en"])
    store = sample_store_facts()
    by_kind = {(p.kind, p.sample): p.file.read_text(encoding="utf-8") for p in pages}
    welcome = by_kind[("welcome", "new customer")]
    refund = by_kind[("order_refunded", "domestic")]  # the rating asks after a refund
    for label, url in store.social_links.items():
        assert label in welcome and str(url) in welcome
    rating_page = str(store.rating_url)
    assert rating_page in refund and "rating=good" in refund


def test_the_check_renders_the_social_links_without_a_finding() -> None:
    report = check_templates(TEMPLATES)
    assert report.ok, [str(f) for f in report.findings]
