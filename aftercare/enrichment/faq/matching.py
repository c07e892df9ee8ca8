"""Which FAQ question a support ticket asks, in any language, with nothing downloaded.

``aftercare faq learn`` reads a store's past tickets to learn how often customers ask each
question after each email; this module says which question a ticket asks, or that it asks
none of them (a ticket about a collaboration offer must not count as "where is my order?").

Two signals, both language-agnostic and computed from the snippets alone:

- the snippet's ``keywords``, found as substrings, so Chinese and Thai need no word
  segmentation; in languages written with spaces a keyword must start a word, and a
  Russian keyword matches its other case and verb endings (``посылка`` also finds
  ``посылку``, ``вернуть`` finds ``вернули``) by matching its stem as a word prefix;
- character n-gram TF-IDF similarity between the ticket and each topic's documents (one
  per language: that language's keywords, and where the store has snippets in it, their
  questions and answers), which catches the words nobody listed and the forms a stem
  misses. The n-grams' weights are fitted on those documents only, so an n-gram every
  topic shares (``order``, ``您的``) counts for little.

The two are combined into one score from 0 to 1 per topic (``MatcherTuning`` says how);
the best topic wins when it reaches the threshold. Snippets of one topic are alternatives
of one answer, so a ticket matches a topic, named by its representative snippet.
Everything is deterministic: the same snippets and tickets give the same matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from aftercare.enrichment.faq.snippets import Snippet, SnippetLibrary
from aftercare.errors import AftercareError


class NoFaqTopicsError(AftercareError):
    """Tickets cannot be matched: the store has no FAQ snippets yet."""


@dataclass(frozen=True)
class TicketMatch:
    """The FAQ question a ticket asks: its topic, how sure (0 to 1), and the keywords seen."""

    snippet_id: str
    topic: str
    question: str
    score: float
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class MatcherTuning:
    """How the two signals make one score, and where "no FAQ question" begins.

    A topic's keyword signal is ``hits / (hits + keyword_half)``, ``hits`` adding up the
    distinct keywords found, each weighted by how few topics' texts contain it; its
    similarity signal is the best cosine over its documents less the ticket's mean over
    all topics, full at ``similarity_full``. They combine as a noisy-or, ``1 - (1 -
    keyword_weight × keyword signal) × (1 - similarity_weight × similarity signal)``: one
    specific keyword in a short ticket ("需要交关税吗？") reaches the threshold alone, and
    so does a ticket that names no keyword but reads like the answer.

    Tuned by grid search on a development split (every other ticket of each language) of
    the labelled tickets in ``tests/fixtures/faq_tickets``, keeping only settings under
    which short single-keyword tickets still match and unrelated ones in a six-topic
    library do not; the other half of the tickets measured the result.
    """

    keyword_weight: float = 0.5
    similarity_weight: float = 0.9
    keyword_half: float = 0.5
    similarity_full: float = 0.6
    threshold: float = 0.35
    # When the email before the ticket is known, only a few questions are likely (those its
    # snippets answered): among them the best is trusted on weak evidence
    # (``match_many(candidates=)``). Chosen with bench/faq_eval.py on the demo store's
    # training tickets (histories of 1,500 and 3,000 orders) and checked on another seed:
    # from 0.15 up, learning from the matcher's topics lagged the priors on some histories.
    context_threshold: float = 0.1
    # Character n-grams within words; up to 4 characters the fast path applies.
    ngram_range: tuple[int, int] = (2, 4)
    # The first characters of a ticket carry its question; quoted mail threads and
    # signatures after them only add noise and time.
    max_chars: int = 2000


DEFAULT_TUNING = MatcherTuning()

# Tickets are matched in batches: the similarity matrix of one batch stays a few MB.
_BATCH = 4096


class TicketMatcher:
    """Matches tickets to the FAQ topics of one snippet library; build it once."""

    def __init__(
        self,
        topics: Sequence[str],
        representatives: Sequence[Snippet],
        keywords: _KeywordIndex,
        vectorizer: TfidfVectorizer,
        documents: sparse.csr_matrix,
        document_starts: np.ndarray,
        tuning: MatcherTuning,
    ) -> None:
        self._topics = tuple(topics)
        self._topic_index = {topic: index for index, topic in enumerate(self._topics)}
        self._representatives = tuple(representatives)
        self._keywords = keywords
        self._vectorizer = vectorizer
        self._ngrams = _NgramTfidf.of(vectorizer)
        self._documents_t = documents.T.tocsr()
        self._document_starts = document_starts
        self._tuning = tuning

    @classmethod
    def from_library(
        cls,
        library: SnippetLibrary,
        *,
        locale: str = "en",
        tuning: MatcherTuning = DEFAULT_TUNING,
    ) -> TicketMatcher:
        """A matcher for every topic of ``library``; matches name ``locale``'s question."""
        by_topic: dict[str, list[Snippet]] = {}
        for snippet in library.snippets:
            by_topic.setdefault(snippet.topic, []).append(snippet)
        if not by_topic:
            raise NoFaqTopicsError(
                f"there are no FAQ snippets in {library.folder}, so no ticket can be matched"
                " to a question: add <locale>/<id>.md files (faq_snippets/README.md)"
            )
        topics = sorted(by_topic)
        representatives = [_representative(by_topic[t], locale) for t in topics]
        documents = [_topic_documents(by_topic[t]) for t in topics]
        texts = [text for texts_of_topic in documents for text in texts_of_topic]
        starts = np.cumsum([0, *(len(d) for d in documents[:-1])])
        keywords = _KeywordIndex.build([by_topic[t] for t in topics]).weighted_by(
            [" \n".join(d) for d in documents]
        )
        vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuning.ngram_range,
            sublinear_tf=True,
            lowercase=False,  # normalise_ticket already case-folded
            dtype=np.float32,
        )
        weighted_documents = vectorizer.fit_transform(texts)
        return cls(
            topics, representatives, keywords, vectorizer, weighted_documents, starts, tuning
        )

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    def match(self, text: str) -> TicketMatch | None:
        """The FAQ question ``text`` (a ticket's subject and body) asks, or ``None``."""
        return self.match_many([text])[0]

    def match_many(
        self,
        texts: Iterable[str],
        candidates: Sequence[Collection[str] | None] | None = None,
    ) -> list[TicketMatch | None]:
        """``match`` for many tickets at once, vectorised: learning reads tens of thousands.

        ``candidates[i]``, when given, are the topics ticket ``i`` most likely asks (the
        questions the email before it answered): the best of them wins from
        ``context_threshold`` on; below that, or when none is given, any topic from
        ``threshold`` on, as ``match`` does.
        """
        normalised = [self._prepared(t) for t in texts]
        found: list[TicketMatch | None] = []
        for start in range(0, len(normalised), _BATCH):
            batch = normalised[start : start + _BATCH]
            likely = candidates[start : start + _BATCH] if candidates is not None else None
            found.extend(self._match_batch(batch, likely))
        return found

    def _prepared(self, text: str) -> str:
        return normalise_ticket(text)[: self._tuning.max_chars].rstrip()

    def _match_batch(
        self, normalised: list[str], likely: Sequence[Collection[str] | None] | None = None
    ) -> list[TicketMatch | None]:
        scores, hits = self._scores(normalised)
        best = scores.argmax(axis=1)
        found: list[TicketMatch | None] = []
        for row, topic_index in enumerate(best):
            score = float(scores[row, topic_index])
            wanted = likely[row] if likely is not None else None
            if wanted:
                columns = [self._topic_index[t] for t in wanted if t in self._topic_index]
                if columns:
                    context_best = columns[int(np.argmax(scores[row, columns]))]
                    if float(scores[row, context_best]) >= self._tuning.context_threshold:
                        topic_index, score = context_best, float(scores[row, context_best])
            if score < self._tuning.threshold and not (
                wanted
                and self._topics[topic_index] in wanted
                and score >= self._tuning.context_threshold
            ):
                found.append(None)
                continue
            snippet = self._representatives[topic_index]
            found.append(
                TicketMatch(
                    snippet_id=snippet.id,
                    topic=self._topics[topic_index],
                    question=snippet.question,
                    score=round(score, 4),
                    keywords=self._keywords.of_topic(hits[row], int(topic_index)),
                )
            )
        return found

    def _scores(self, normalised: list[str]) -> tuple[np.ndarray, list[frozenset[int]]]:
        hits, keyword_hits, similarity = self._signals(normalised)
        return self._combine(keyword_hits, similarity), hits

    def _signals(
        self, normalised: list[str]
    ) -> tuple[list[frozenset[int]], np.ndarray, np.ndarray]:
        """The keywords found, their weight per topic, and the similarity per topic."""
        if not normalised:
            empty = np.zeros((0, len(self._topics)), dtype=np.float32)
            return [], empty, empty
        tickets = (
            self._ngrams.transform(normalised)
            if self._ngrams is not None
            else self._vectorizer.transform(normalised)
        )
        by_document = (tickets @ self._documents_t).toarray()
        similarity = np.maximum.reduceat(by_document, self._document_starts, axis=1)
        hits = [self._keywords.hits(text) for text in normalised]
        return hits, self._keywords.weights(hits, len(self._topics)), similarity

    def _combine(self, keyword_hits: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """Either signal alone can carry a topic; together they count for more (noisy-or).

        The similarity counts above the ticket's mean similarity to all topics: how alike
        unrelated texts look depends on the library (with six topics, common n-grams weigh
        far more than with forty), and a ticket asking one question stands out from the
        rest, where one asking none resembles every topic a little.
        """
        tuning = self._tuning
        keyword_signal = keyword_hits / (keyword_hits + tuning.keyword_half)
        above_mean = np.maximum(similarity - similarity.mean(axis=1, keepdims=True), 0.0)
        similarity_signal = np.minimum(above_mean / tuning.similarity_full, 1.0)
        return 1.0 - (1.0 - tuning.keyword_weight * keyword_signal) * (
            1.0 - tuning.similarity_weight * similarity_signal
        )


def _representative(snippets: list[Snippet], locale: str) -> Snippet:
    """The snippet that names a topic: in ``locale`` if it has one, unconditional first."""
    in_locale = [s for s in snippets if s.locale == locale] or sorted(
        snippets, key=lambda s: s.locale
    )
    return min(in_locale, key=lambda s: (bool(s.when), -s.priority, s.id))


def _topic_documents(snippets: list[Snippet]) -> list[str]:
    """One text per language for a topic: its keywords, questions and answers in it."""
    parts: dict[str, list[str]] = {}
    for snippet in snippets:
        for language, words in snippet.keywords.items():
            parts.setdefault(language, []).extend(words)
        parts.setdefault(snippet.locale, []).extend([snippet.question, snippet.answer_text])
    return [normalise_ticket(" \n".join(dict.fromkeys(parts[lang]))) for lang in sorted(parts)]


class _NgramTfidf:
    """``TfidfVectorizer.transform`` for the ``char_wb`` analyzer, as array operations.

    scikit-learn builds every n-gram of every ticket as a Python string, which is most of
    the time of matching 100,000 tickets. Here each ticket's characters become small
    integers (their place in the vocabulary's alphabet; 0 for a character no n-gram
    has, and for the breaks between words and tickets), each window of 2 to 4 of them one
    64-bit key, and the keys are looked up in the sorted keys of the vocabulary: the same
    counts, weights and norms as scikit-learn's, for a fraction of the time. The fitted
    vectorizer stays the reference (``tests/test_faq_matching.py`` compares the two).
    """

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        alphabet: np.ndarray,
        keys: np.ndarray,
        columns: np.ndarray,
    ) -> None:
        self._alphabet = alphabet
        self._keys = keys
        self._columns = columns
        self._idf = vectorizer.idf_.astype(np.float32)
        self._sizes = range(vectorizer.ngram_range[0], vectorizer.ngram_range[1] + 1)

    @classmethod
    def of(cls, vectorizer: TfidfVectorizer) -> _NgramTfidf | None:
        """The fast path for ``vectorizer``, or ``None`` when its n-grams do not fit a key."""
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        characters = sorted({c for gram in vocabulary for c in gram})
        if len(characters) >= 1 << 16 or vectorizer.ngram_range[1] > 4:
            return None
        alphabet = np.zeros(max(map(ord, characters), default=0) + 1, dtype=np.uint64)
        for index, character in enumerate(characters, start=1):
            alphabet[ord(character)] = index
        grams = list(vocabulary)
        keys = np.array(
            [sum(int(alphabet[ord(c)]) << (16 * i) for i, c in enumerate(g)) for g in grams],
            dtype=np.uint64,
        )
        order = np.argsort(keys)
        columns = np.array([vocabulary[g] for g in grams], dtype=np.int64)[order]
        return cls(vectorizer, alphabet, keys[order], columns)

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        """The TF-IDF rows of normalised ``texts`` (single spaces, no control characters)."""
        # Each word padded with spaces as char_wb pads it, and a break (0) after it.
        padded = [" " + t.replace(" ", _PADDED_SPACE) + _WORD_BREAK if t else "\0" for t in texts]
        codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
        known = codes < len(self._alphabet)
        letters = np.where(known, self._alphabet[np.where(known, codes, 0)], np.uint64(0))
        # Windows holding a break or a character no n-gram has are not in the vocabulary.
        size = self._sizes[0]
        count = max(len(letters) - size + 1, 0)
        breaks = np.concatenate([[0], np.cumsum(letters == 0)])
        starts = np.flatnonzero(breaks[size : size + count] == breaks[:count])
        keys = letters[starts].copy()
        for offset in range(1, size):
            keys |= letters[starts + offset] << np.uint64(16 * offset)
        ticket_of = np.repeat(np.arange(len(texts), dtype=np.int64), [len(p) for p in padded])
        width = len(self._idf)
        found: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        while True:
            places = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            hit = self._keys[places] == keys
            # One number per occurrence: its ticket's row and its n-gram's column.
            found.append(ticket_of[starts[hit]] * width + self._columns[places[hit]])
            if size == self._sizes[-1]:
                break
            # An n-gram one longer is in the vocabulary only if this one is (char_wb takes
            # every length of every word), so only the windows that hit grow by one.
            starts, keys = starts[hit], keys[hit]
            grown = starts + size < len(letters)
            starts, keys = starts[grown], keys[grown]
            following = letters[starts + size]
            keys = keys | following << np.uint64(16 * size)
            starts, keys = starts[following != 0], keys[following != 0]
            size += 1
        # Sorted, equal numbers are one n-gram of one ticket: their run is its count. The
        # rows come out in order, so this is the CSR matrix without scipy's conversion.
        cells = np.sort(np.concatenate(found))
        firsts = np.flatnonzero(np.diff(cells, prepend=-1))
        tf = np.diff(np.append(firsts, len(cells))).astype(np.float32)
        rows, columns = np.divmod(cells[firsts], width)
        counts = sparse.csr_matrix(
            (tf, columns, np.searchsorted(rows, np.arange(len(texts) + 1))),
            shape=(len(texts), width),
        )
        # What TfidfTransformer does: 1 + log(tf) (sublinear_tf), times idf, l2 norm.
        counts.data = (np.log(counts.data) + 1.0) * self._idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts, dtype=np.float32)


_PADDED_SPACE = " \0 "
_WORD_BREAK = " \0"


# Text normalisation ---------------------------------------------------------------------

_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_URL = re.compile(r"(?:https?://|www\.)\S+")
# Anchored at the start of the address's first part, so a long run of Chinese or Thai
# without spaces is not searched again from each of its characters.
_EMAIL = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
# Order and tracking numbers, amounts, dates, and digits of any script (Thai ๑๒๓): any
# run of Latin letters, digits and hyphens that holds a digit (FF-10234,
# 1Z999AA10123456784; 24.99 once the dot is punctuation).
_NUMBER = re.compile(r"(?<![a-z0-9_-])[a-z0-9_-]*\d[a-z0-9_-]*")
# Punctuation and symbols of the scripts the tickets come in. Letters and combining marks
# stay: Thai vowel and tone marks are marks, not letters, and a class like [^\w] would
# split Thai words apart.
_PUNCTUATION = re.compile(
    "["
    "!-/:-@\\[-`{-~"  # ASCII punctuation and symbols
    "\u00a1-\u00bf\u00d7\u00f7"  # Latin-1 punctuation and signs
    "\u2000-\u206f\u20a0-\u20cf\u2100-\u214f\u2190-\u2bff"  # general, currency, arrows…
    "\u3000-\u303f\ufe30-\ufe4f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # CJK
    "\u0e4f\u0e5a\u0e5b"  # Thai punctuation
    "\U0001f000-\U0001faff\ufe0f"  # emoji
    "\x00-\x08\x0e-\x1f\x7f-\x9f"  # control characters (not the line breaks and tabs)
    "]"
)


def normalise_ticket(text: str) -> str:
    """A ticket (or snippet) text as the matcher compares it.

    NFKC turns full-width letters and digits into ordinary ones (Chinese keyboards type
    ``ＡＢＣ１２３``); case folding makes ``Straße`` and ``STRASSE`` one; ``ё`` is written
    ``е`` in most Russian text. Quoted lines, addresses, URLs, order and tracking numbers,
    and digits say nothing about the question and are taken out, so a ticket with an
    order number matches like one without.
    """
    if ">" in text:
        text = _QUOTED_LINE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    # Each pattern runs only where it can match: most tickets have no address or URL.
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    return " ".join(_PUNCTUATION.sub(" ", text).split())


# Keywords -------------------------------------------------------------------------------

# Letters of the scripts written with spaces between words, where a keyword must start a
# word (``tax`` is not in ``syntax``). Chinese, Japanese and Thai have no spaces: there a
# keyword matches anywhere.
_SPACED_LETTER = "a-z\u00df-\u024f\u0370-\u03ff\u0400-\u052f"
_IS_SPACED = re.compile(f"[{_SPACED_LETTER}]")
_IS_CYRILLIC = re.compile("[\u0400-\u052f]")
# Russian inflectional endings (after Snowball's Russian stemmer): nouns, adjectives and
# verbs. A Cyrillic keyword matches any word starting with what is left after the longest
# of them, when at least four letters are left.
_RUSSIAN_ENDINGS = tuple(
    sorted(
        {
            *("а", "я", "о", "е", "ы", "и", "у", "ю", "ь", "й"),
            *("ая", "яя", "ое", "ее", "ые", "ие", "ый", "ий", "ой", "ей", "ую", "юю", "ою"),
            *("ею", "ом", "ем", "ам", "ям", "ах", "ях", "ов", "ев", "ью", "ия", "ья", "ию"),
            *("ого", "его", "ому", "ему", "ыми", "ими", "ами", "ями", "ых", "их", "ым", "им"),
            *("ть", "ти", "ешь", "ет", "ете", "ют", "ут", "ит", "ат", "ят", "ил", "ила"),
            *("ило", "или", "ал", "ала", "али", "ял", "ять", "ать", "ить", "еть", "уть", "ыть"),
        },
        key=len,
        reverse=True,
    )
)
_MIN_STEM = 4


def russian_stem(word: str) -> str:
    """``word`` without its inflectional ending: ``посылка`` → ``посылк``.

    The reflexive ``-ся``/``-сь`` goes first (``вернуться`` → ``вернуть`` → ``верн``).
    """
    for reflexive in ("ся", "сь"):
        if word.endswith(reflexive) and len(word) - len(reflexive) >= _MIN_STEM:
            word = word[: -len(reflexive)]
            break
    for ending in _RUSSIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            return word[: -len(ending)]
    return word


# A keyword is compiled to a sequence of these atoms, and all keywords into one trie.
_WORD_START = "word start"  # after the first letter: no letter of a spaced script before it
_WORD_GOES_ON = "word goes on"  # the rest of the word, whatever its ending
_WORD_ENDS = "word ends"
_SPACE = "space"
_MAYBE_SPACE = "maybe space"  # between the words of a keyword in an unspaced script
_ATOM_PATTERNS = {
    _WORD_START: f"(?<![{_SPACED_LETTER}].)",
    _WORD_GOES_ON: r"\S*",
    _WORD_ENDS: f"(?![{_SPACED_LETTER}])",
    _SPACE: " ",
    _MAYBE_SPACE: " ?",
}
# Atoms that are not characters come after the characters at a branch, so the longest
# keyword is tried first: ``refunded`` before ``refund``, ``tracking number`` before
# ``tracking``.
_ATOM_ORDER = {_WORD_START: 0, _SPACE: 1, _MAYBE_SPACE: 1, _WORD_ENDS: 2, _WORD_GOES_ON: 3}


def _keyword_atoms(keyword: str) -> tuple[str, ...]:
    """``keyword`` (normalised) as the atoms that find it in a normalised ticket.

    In a spaced script a keyword starts a word; a short word (``cod``, ``vat``) must be
    the whole word, a longer one may go on (``refund`` finds ``refunded``), and a Russian
    word matches from its stem. Chinese and Thai keywords match anywhere.
    """
    atoms: list[str] = []
    spaced = bool(_IS_SPACED.search(keyword))
    for position, word in enumerate(keyword.split(" ")):
        if position:
            atoms.append(_SPACE if spaced else _MAYBE_SPACE)
        if not _IS_SPACED.search(word):
            atoms.extend(word)
            continue
        stem = russian_stem(word) if _IS_CYRILLIC.search(word) else word
        atoms.append(stem[0])
        if position == 0 and _IS_SPACED.match(stem):
            atoms.append(_WORD_START)
        atoms.extend(stem[1:])
        atoms.append(_WORD_GOES_ON if len(stem) >= _MIN_STEM else _WORD_ENDS)
    return tuple(atoms)


def _trie_pattern(keywords: Sequence[tuple[str, ...]], indexes: Sequence[int]) -> str:
    """One regular expression finding all ``keywords``; group ``k<index>`` names which.

    A trie, not an alternation of keywords: Python's ``re`` tries alternatives one by one,
    so a thousand keywords side by side cost a thousand comparisons at every position of
    every ticket. As a trie each position costs one comparison per distinct next character.
    """
    root: dict[str, dict] = {}
    for atoms, index in zip(keywords, indexes, strict=True):
        node = root
        for atom in atoms:
            node = node.setdefault(atom, {})
        node.setdefault("", {"index": index})

    def render(node: dict[str, dict]) -> str:
        branches = []
        for atom in sorted(node, key=lambda a: (_ATOM_ORDER.get(a, -1) if a else 9, a)):
            if atom == "":
                branches.append(f"(?P<k{node[atom]['index']}>)")
            else:
                piece = _ATOM_PATTERNS.get(atom) or re.escape(atom)
                branches.append(piece + render(node[atom]))
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return render(root)


@dataclass(frozen=True)
class _Keyword:
    text: str  # as the snippet wrote it
    topics: tuple[int, ...]


class _KeywordIndex:
    """Every keyword of every topic, found by one trie expression per script.

    A ticket is scanned by each expression; one whose first characters do not occur in
    the ticket costs a quick scan (``re`` skips to the characters a match can start with).
    After each match the search goes on from the next character, so keywords inside one
    another are all found (``import tax`` and ``tax``).
    """

    def __init__(self, keywords: list[_Keyword], patterns: list[re.Pattern[str]]) -> None:
        self._keywords = keywords
        self._patterns = patterns
        self._weights = [1.0 / len(k.topics) for k in keywords]

    def weighted_by(self, documents: Sequence[str]) -> _KeywordIndex:
        """This index, each keyword counting 1 / the number of topics whose text has it.

        A keyword found in many topics' documents says little about which one a ticket
        asks (``refund`` is in most answers about returns; ``посылка`` in half the Russian
        keyword lists), one found in its own topic's alone says a lot (``关税``): the
        keywords' own inverse document frequency over the topics.
        """
        found_in = [0] * len(self._keywords)
        for document in documents:
            for index in self.hits(document):
                found_in[index] += 1
        weighted = _KeywordIndex(self._keywords, self._patterns)
        weighted._weights = [
            1.0 / max(count, len(k.topics))
            for count, k in zip(found_in, self._keywords, strict=True)
        ]
        return weighted

    @classmethod
    def build(cls, topics: list[list[Snippet]]) -> _KeywordIndex:
        by_atoms: dict[tuple[str, ...], tuple[str, set[int]]] = {}
        for topic_index, snippets in enumerate(topics):
            for snippet in snippets:
                for words in snippet.keywords.values():
                    for word in words:
                        atoms = _keyword_atoms(normalise_ticket(word))
                        if atoms:
                            by_atoms.setdefault(atoms, (word, set()))[1].add(topic_index)
        keywords = [_Keyword(w, tuple(sorted(t))) for w, t in by_atoms.values()]
        by_script: dict[str, list[int]] = {}
        all_atoms = list(by_atoms)
        for index, atoms in enumerate(all_atoms):
            by_script.setdefault(_script_of(atoms[0]), []).append(index)
        patterns = [
            re.compile(_trie_pattern([all_atoms[i] for i in indexes], indexes))
            for _, indexes in sorted(by_script.items())
        ]
        return cls(keywords, patterns)

    def hits(self, text: str) -> frozenset[int]:
        found: set[int] = set()
        for pattern in self._patterns:
            match = pattern.search(text)
            while match is not None:
                found.add(int(match.lastgroup[1:]))  # type: ignore[index]
                match = pattern.search(text, match.start() + 1)
        return frozenset(found)

    def weights(self, hits: list[frozenset[int]], topic_count: int) -> np.ndarray:
        found = np.zeros((len(hits), topic_count), dtype=np.float32)
        for row, indexes in enumerate(hits):
            for index in indexes:
                for topic in self._keywords[index].topics:
                    found[row, topic] += self._weights[index]
        return found

    def of_topic(self, hits: frozenset[int], topic: int) -> tuple[str, ...]:
        return tuple(
            sorted(self._keywords[i].text for i in hits if topic in self._keywords[i].topics)
        )


def _script_of(character: str) -> str:
    """A rough script name of ``character``, enough to keep each trie's first level short."""
    name = unicodedata.name(character, "")
    return name.split(" ")[0] if name else "OTHER"
