"""Gopher repetition removal: drop documents made of repeated lines, paragraphs or n-grams.

RefinedWeb §3.2 applies the repetition filter of Gopher (Rae et al. 2021, App. A, Table A1) before
the quality filter: repeated content is a strong sign of boilerplate and crawl artefacts, and it
degrades models. The signals follow Gopher's definitions and their open reproductions:

* duplicate line / paragraph fraction: occurrences after the first of a line (paragraph) that
  appears more than once, over all lines (paragraphs); the character variants weigh them by length
  over the characters of all lines (paragraphs) -- as datatrove's ``GopherRepetitionFilter``.
  Lines and paragraphs are compared stripped, blank ones ignored.
* top n-gram character fraction (n = 2, 3, 4): the characters covered by the occurrences of the most
  frequent n-gram over the characters of all words. Where occurrences do not overlap this is
  ``len(ngram) * count / total`` as in dolma; overlapping occurrences ("a a a") are not counted
  twice, so the fraction stays <= 1. An n-gram seen once is not a repetition (fraction 0); among
  n-grams tied for most frequent, the longest in characters is taken, then the earliest.
* duplicate n-gram character fraction (n = 5 .. 10): characters of the words covered by any n-gram
  that occurs more than once, each word counted once even under overlapping occurrences (dolma).

Words are whitespace-separated and characters are word characters (whitespace excluded). The
n-gram statistics identify n-grams exactly (no hashing) by numbering (n-1)-gram/word pairs with
NumPy, so all n from 2 to 10 reuse one word list and cost O(N log N) each (n > 2 only over the
positions whose (n-1)-gram repeats).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa

from refinedweb import schema
from refinedweb.config import check
from refinedweb.filters.text import Document
from refinedweb.core.histogram import FRACTION
from refinedweb.core.stage import DocumentFilter, Rule

TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = tuple(range(5, 11))


@dataclass(frozen=True)
class RepetitionConfig:
    """Gopher repetition thresholds (Rae et al. 2021, Table A1); a document is dropped above any."""

    enabled: bool = True
    """Run the repetition filter at all."""
    dup_line_frac: float = 0.30
    """Max fraction of lines that duplicate an earlier line (Gopher Table A1: 0.30)."""
    dup_para_frac: float = 0.30
    """Max fraction of paragraphs that duplicate an earlier paragraph (Gopher Table A1: 0.30)."""
    dup_line_char_frac: float = 0.20
    """Max fraction of line characters in duplicate lines (Gopher Table A1: 0.20)."""
    dup_para_char_frac: float = 0.20
    """Max fraction of paragraph characters in duplicate paragraphs (Gopher Table A1: 0.20)."""
    top_2gram_char_frac: float = 0.20
    """Max character fraction of the most frequent word 2-gram (Gopher Table A1: 0.20)."""
    top_3gram_char_frac: float = 0.18
    """Max character fraction of the most frequent word 3-gram (Gopher Table A1: 0.18)."""
    top_4gram_char_frac: float = 0.16
    """Max character fraction of the most frequent word 4-gram (Gopher Table A1: 0.16)."""
    dup_5gram_char_frac: float = 0.15
    """Max character fraction covered by duplicated 5-grams (Gopher Table A1: 0.15)."""
    dup_6gram_char_frac: float = 0.14
    """Max character fraction covered by duplicated 6-grams (Gopher Table A1: 0.14)."""
    dup_7gram_char_frac: float = 0.13
    """Max character fraction covered by duplicated 7-grams (Gopher Table A1: 0.13)."""
    dup_8gram_char_frac: float = 0.12
    """Max character fraction covered by duplicated 8-grams (Gopher Table A1: 0.12)."""
    dup_9gram_char_frac: float = 0.11
    """Max character fraction covered by duplicated 9-grams (Gopher Table A1: 0.11)."""
    dup_10gram_char_frac: float = 0.10
    """Max character fraction covered by duplicated 10-grams (Gopher Table A1: 0.10)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "enabled":
                check(0.0 <= value <= 1.0, f.name, f"must be in [0, 1], got {value}")


def duplicate_fractions(units: Sequence[str]) -> tuple[float, float]:
    """(share of units repeating an earlier one, share of characters in those repeats)."""
    if not units:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_units = dup_chars = total_chars = 0
    for unit in units:
        total_chars += len(unit)
        if unit in seen:
            dup_units += 1
            dup_chars += len(unit)
        else:
            seen.add(unit)
    return dup_units / len(units), (dup_chars / total_chars if total_chars else 0.0)


def _repeated_ngrams(word_ids: np.ndarray, vocab: int, max_n: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """For n = 2..max_n: (n, starts, id of the n-gram at each start, count per id, first index per id).

    ``starts`` are only the positions whose (n-1)-gram occurs more than once: an n-gram starting
    anywhere else extends a unique (n-1)-gram, so it is unique too and neither the top n-gram nor
    any duplicate can start there. The n-gram at a start is the pair ((n-1)-gram id, next word id);
    numbering the distinct pairs gives exact ids below the number of starts, so the pair key
    ``prev * vocab + word`` fits in int64. Pruning the unique starts made the n-gram signals 1.6x
    faster on the texts of both bench inputs (CC-like and pages-A: most 5- to 10-grams of a page occur once).
    """
    total = len(word_ids)
    starts = np.arange(total)
    prev = word_ids
    for n in range(2, max_n + 1):
        fits = starts + (n - 1) < total
        starts, prev = starts[fits], prev[fits]  # [starts]
        if len(starts) == 0:
            return
        keys = prev * vocab + word_ids[starts + (n - 1)]  # [starts]
        _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)  # [starts]
        yield n, starts, inverse, counts, first
        repeats = counts[inverse] > 1
        starts, prev = starts[repeats], inverse[repeats]


def _covered_chars(starts: np.ndarray, n: int, lengths: np.ndarray) -> int:
    """Characters of the words covered by n-grams starting at ``starts``, each word counted once."""
    if len(starts) == 0:
        return 0
    size = len(lengths) + 1  # starts + n <= len(lengths): both counts have exactly this length
    delta = np.bincount(starts, minlength=size) - np.bincount(starts + n, minlength=size)  # np.add.at is 10x slower
    covered = np.cumsum(delta[:-1]) > 0
    return int(lengths[covered].sum())


def ngram_fractions(words: Sequence[str]) -> tuple[dict[int, float], dict[int, float]]:
    """Gopher's top n-gram (n=2..4) and duplicated n-gram (n=5..10) character fractions."""
    top = {n: 0.0 for n in TOP_NGRAM_SIZES}
    dup = {n: 0.0 for n in DUP_NGRAM_SIZES}
    if len(words) < 2:
        return top, dup
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.int64, count=len(words))
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = int(lengths.sum())
    cumulative = np.concatenate(([0], np.cumsum(lengths)))
    for n, starts, gram_ids, counts, first in _repeated_ngrams(ids, max(len(vocab), 1), DUP_NGRAM_SIZES[-1]):
        if n in top:
            best = int(counts.max())
            if best < 2:
                continue
            tied = np.flatnonzero(counts == best)
            at = starts[first[tied]]  # where each tied n-gram first occurs
            tied_chars = cumulative[at + n] - cumulative[at]
            longest = tied[tied_chars == tied_chars.max()]
            winner = longest[int(np.argmin(first[longest]))]  # then the earliest: deterministic
            top[n] = _covered_chars(starts[gram_ids == winner], n, lengths) / total
        else:
            dup[n] = _covered_chars(starts[counts[gram_ids] > 1], n, lengths) / total
    return top, dup


# Gopher Table A1's rules in its order (the first failing one is the drop reason); every signal is
# named after its config field and dropped above it.
RULES = (
    Rule(schema.DUP_LINE_FRAC, "dup_line_frac", ">", schema.GOPHER_DUP_LINES, FRACTION),
    Rule(schema.DUP_PARA_FRAC, "dup_para_frac", ">", schema.GOPHER_DUP_PARAS, FRACTION),
    Rule(schema.DUP_LINE_CHAR_FRAC, "dup_line_char_frac", ">", schema.GOPHER_DUP_LINE_CHARS, FRACTION),
    Rule(schema.DUP_PARA_CHAR_FRAC, "dup_para_char_frac", ">", schema.GOPHER_DUP_PARA_CHARS, FRACTION),
    *(Rule(schema.TOP_NGRAM_CHAR_FRAC[n], f"top_{n}gram_char_frac", ">", schema.GOPHER_TOP_NGRAM[n], FRACTION) for n in TOP_NGRAM_SIZES),
    *(Rule(schema.DUP_NGRAM_CHAR_FRAC[n], f"dup_{n}gram_char_frac", ">", schema.GOPHER_DUP_NGRAM[n], FRACTION) for n in DUP_NGRAM_SIZES),
)


def repetition_signals(doc: Document) -> dict[str, float]:
    """Every Gopher repetition signal of ``doc`` by column, in Table A1's order."""
    line_frac, line_chars = duplicate_fractions(doc.lines)
    para_frac, para_chars = duplicate_fractions(doc.paragraphs)
    top, dup = ngram_fractions(doc.words)
    signals = {
        schema.DUP_LINE_FRAC: line_frac,
        schema.DUP_PARA_FRAC: para_frac,
        schema.DUP_LINE_CHAR_FRAC: line_chars,
        schema.DUP_PARA_CHAR_FRAC: para_chars,
    }
    signals.update({schema.TOP_NGRAM_CHAR_FRAC[n]: top[n] for n in TOP_NGRAM_SIZES})
    signals.update({schema.DUP_NGRAM_CHAR_FRAC[n]: dup[n] for n in DUP_NGRAM_SIZES})
    return signals


class RepetitionFilter(DocumentFilter):
    """Writes the 14 Gopher repetition signals and drops documents above any threshold."""

    name = "repetition"
    rules = RULES
    signal_types = {r.signal: pa.float32() for r in RULES}

    def judge(self, text: str) -> tuple[str | None, dict[str, float]]:
        signals = repetition_signals(Document(text))
        return self.checks.first_failing(signals), signals

    @classmethod
    def signal_columns(cls) -> list[str]:
        """The signal columns in Table A1's order."""
        return list(cls.signal_types)
