"""Which question does a ticket ask? Precision and recall per language, with a baseline.

    .venv/bin/python bench/faq_match.py

On ``tests/fixtures/faq_tickets/labelled.csv``: tickets written natively in English,
Chinese, Russian and Thai (not translated from each other), each labelled with the FAQ
topic it asks about, or none. The matcher's thresholds were tuned on the even-numbered
tickets of each language; the table shows the odd ones (held out) and all.

- Aftercare: ``TicketMatcher`` (keywords found as substrings or word prefixes, plus
  character n-gram TF-IDF similarity; no word segmentation, nothing downloaded).
- baseline: keyword lookup alone, the way a helpdesk's tagging rules work: the topic whose
  keywords appear most often in the ticket, none without a hit.

Precision: of the tickets given a topic, the share given the right one. Recall: of the
tickets that ask a question, the share given the right one.
"""

from __future__ import annotations

import csv
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from aftercare.drain.pipeline import faq_library_for  # noqa: E402
from aftercare.enrichment.faq.matching import TicketMatcher  # noqa: E402
from aftercare.enrichment.faq.snippets import SnippetLibrary  # noqa: E402

LABELLED = ROOT / "tests" / "fixtures" / "faq_tickets" / "labelled.csv"
LANGUAGES = ("en", "zh-CN", "ru", "th")


def read_labelled() -> list[tuple[str, str, str]]:
    """(language, topic or "", text) for every labelled ticket."""
    with LABELLED.open(encoding="utf-8", newline="") as file:
        return [
            (row["language"], row["topic"], f"{row['subject']}\n{row['body']}")
            for row in csv.DictReader(file)
        ]


def keyword_baseline(library: SnippetLibrary) -> Callable[[str], str]:
    keywords: list[tuple[str, str]] = [
        (unicodedata.normalize("NFKC", word).casefold(), snippet.topic)
        for snippet in library.snippets
        for words in snippet.keywords.values()
        for word in words
    ]

    def match(text: str) -> str:
        folded = unicodedata.normalize("NFKC", text).casefold()
        hits = Counter(topic for word, topic in keywords if word in folded)
        return hits.most_common(1)[0][0] if hits else ""

    return match


def scores(pairs: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """(precision, recall) of (truth, guess) pairs; "" is none."""
    given = [(t, g) for t, g in pairs if g]
    asking = [(t, g) for t, g in pairs if t]
    precision = sum(t == g for t, g in given) / len(given) if given else 0.0
    recall = sum(t == g for t, g in asking) / len(asking) if asking else 0.0
    return precision, recall


def main() -> int:
    library = faq_library_for(ROOT / "faq_snippets")
    tickets = read_labelled()
    matcher = TicketMatcher.from_library(library)
    found = matcher.match_many(text for _, _, text in tickets)
    ours = [m.topic if m else "" for m in found]
    baseline = keyword_baseline(library)
    theirs = [baseline(text) for _, _, text in tickets]
    print(
        f"{len(tickets)} labelled tickets; precision / recall, held out = odd tickets of each"
        " language (the matcher was tuned on the even ones)\n"
    )
    header = f"{'language':<8} {'tickets':>7}  {'Aftercare held out':>18}  {'Aftercare all':>13}"
    print(header + f"  {'keyword baseline, all':>21}")
    for language in (*LANGUAGES, "all"):
        rows = [i for i, (lang, _, _) in enumerate(tickets) if language in ("all", lang)]
        position = Counter()
        held = []
        for i in rows:
            lang = tickets[i][0]
            if position[lang] % 2 == 1:
                held.append(i)
            position[lang] += 1
        truth = [tickets[i][1] for i in range(len(tickets))]
        p_held, r_held = scores([(truth[i], ours[i]) for i in held])
        p_all, r_all = scores([(truth[i], ours[i]) for i in rows])
        p_base, r_base = scores([(truth[i], theirs[i]) for i in rows])
        print(
            f"{language:<8} {len(rows):>7}  {p_held:>8.2f} / {r_held:.2f}  "
            f"{p_all:>6.2f} / {r_all:.2f}  {p_base:>12.2f} / {r_base:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
