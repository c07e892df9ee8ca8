"""The FAQ benchmarks run and print their tables (small sizes; the figures are in
BENCHMARKS.md)."""

from __future__ import annotations

import re

from bench import faq_eval, faq_match


def test_the_match_benchmark_prints_precision_and_recall_per_language(capsys) -> None:  # noqa: ANN001
    assert faq_match.main() == 0
    out = capsys.readouterr().out
    for language in ("en", "zh-CN", "ru", "th", "all"):
        row = re.search(rf"^{re.escape(language)}\s+(\d+)\s+([\d.]+) / ([\d.]+)", out, re.M)
        assert row is not None, out
        assert int(row.group(1)) >= 60
    ours = re.search(
        r"^all\s+\d+\s+[\d.]+ / [\d.]+\s+([\d.]+) / ([\d.]+)\s+([\d.]+) / ([\d.]+)", out, re.M
    )
    assert ours is not None
    assert float(ours.group(2)) > float(ours.group(4))  # recall above the keyword baseline


def test_the_evaluation_compares_learning_with_priors_and_random() -> None:
    lines = faq_eval.evaluate(orders=400, scale=2.0)
    table = {
        line.rsplit(None, 2)[0].strip(): float(line.rsplit(None, 2)[1].rstrip("%"))
        for line in lines
        if line.endswith(tuple("0123456789")) and "%" in line
    }
    assert set(table) == {
        "learned (as aftercare faq learn)",
        "learned, matched blind to the email",
        "priors only",
        "learned from the true topics",
        "random",
    }
    assert all(0 <= value <= 100 for value in table.values())
    assert table["random"] < table["priors only"]


def test_the_learning_speed_run_reports_against_its_target() -> None:
    lines = faq_eval.learning_speed(2_000)
    assert lines[-1] == "target: 2,000 tickets under 60 s: met"
    assert "matched one at a time" in lines[2]
