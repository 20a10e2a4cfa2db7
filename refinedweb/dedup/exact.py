"""Exact-substring deduplication: cut every copy of any span of >= 50 tokens that occurs twice or more.

RefinedWeb App. G.3.2 after Lee et al. 2022 ("Deduplicating training data makes language models
better"): a suffix array over the token stream finds every repeated span of at least
``min_span_tokens`` tokens; ALL occurrences are cut, the first included (RefinedWeb removes every
matching span rather than keeping one copy), and a document left with fewer than
``min_chars_left`` non-duplicate characters is dropped (``dedup_exact_too_short``).

Tokens. GPT-2's tokenizer cannot be downloaded at run time, so a document is split with GPT-2's
pre-tokenisation regex (the pieces GPT-2's BPE then encodes: a word with its leading space, a run of
digits, of punctuation or of whitespace; ``tokenizer: gpt2``) or into whitespace / non-whitespace
runs (``tokenizer: whitespace``). Pieces tile the text, so a token range maps back to a character
range exactly. Within a group each distinct piece gets an integer id (no hashing, no collisions);
the stream is the documents' ids with one separator id after each document. A GPT-2 pre-token
piece is at least one BPE token, so 50 pieces are at least 50 GPT-2 tokens: the rule is, if
anything, a little stricter (cuts less) than Lee et al.'s.

Spans never cross documents: for a suffix starting at ``p`` the longest repeated prefix is the
larger of its LCPs with its two neighbours in the suffix array; it is clipped at the end of ``p``'s
document (a prefix of a repeated string is repeated, and a span without the separator repeats
only inside documents). The union of ``[p, p + clipped)`` over the positions whose clipped length
is >= ``min_span_tokens`` is exactly the set of tokens covered by a repeated span.

Bounded memory. The suffix array is built per *group*: consecutive documents (in global
(file, row) order) whose text fits ``memory_budget_mb`` at ``PEAK_BYTES_PER_CHAR`` (~100M
characters, ~20k documents of 5k characters, per GiB with the GPT-2 pieces). A corpus that fits
one group is deduplicated by this one suffix array (Lee et al.'s result); a larger one goes through
the window-fingerprint shuffle of ``refinedweb.dedup.fingerprints``, complete across the whole
corpus with the same result, each task within ``memory_budget_mb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import regex

from refinedweb.config import check

# GPT-2's pre-tokenisation pattern (openai/gpt-2 src/encoder.py).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TOKENIZERS = {"gpt2": GPT2_PATTERN, "whitespace": r"\S+|\s+"}

PEAK_BYTES_PER_CHAR = {"gpt2": 10, "whitespace": 14}
"""Memory of one group per character of its text, by tokenizer. Measured with
scripts/measure_dedup_memory.py on 60M characters of English (pages-A, perturbed copies): the
stream, suffix array and LCP grow the peak by 6.7 bytes per character with the GPT-2 pieces and by
10.3 with whitespace runs (more, shorter tokens); the group's texts (1 to 4 bytes per character)
come on top. pydivsufsort sorts the ids' big-endian bytes, so above 2**29 tokens (~2.5G characters)
it switches to 64-bit offsets and needs about twice as much."""

CUTS_SCHEMA = pa.schema(
    [
        ("file", pa.int32()),  # index of the shard in the phase's input list
        ("row", pa.int64()),  # row in that shard
        ("starts", pa.list_(pa.int64())),  # character offsets of the cut spans, ascending
        ("ends", pa.list_(pa.int64())),
        ("chars_cut", pa.int64()),
        ("drop", pa.bool_()),  # fewer than min_chars_left characters left
    ]
)


@dataclass(frozen=True)
class ExactConfig:
    """Exact-substring deduplication (RefinedWeb App. G.3.2, Lee et al. 2022)."""

    enabled: bool = True
    """Run exact-substring deduplication."""
    min_span_tokens: int = 50
    """Cut spans of at least this many tokens that occur more than once (App. G.3.2: 50 tokens)."""
    min_chars_left: int = 20
    """Drop a document left with fewer non-duplicate characters (after stripping) than this."""
    tokenizer: str = "gpt2"
    """`gpt2`: GPT-2's pre-tokenisation regex pieces; `whitespace`: whitespace / non-whitespace runs."""
    memory_budget_mb: int = 1024
    """Peak memory of one task: a suffix-array group, or a fingerprint chunk and shuffle partition."""

    def __post_init__(self) -> None:
        check(self.min_span_tokens >= 1, "min_span_tokens", f"must be >= 1, got {self.min_span_tokens}")
        check(self.min_chars_left >= 0, "min_chars_left", f"must be >= 0, got {self.min_chars_left}")
        check(self.tokenizer in TOKENIZERS, "tokenizer", f"must be one of {sorted(TOKENIZERS)}, got {self.tokenizer!r}")
        check(1 <= self.memory_budget_mb <= 16_384, "memory_budget_mb",  # above, a group passes 2**29 tokens (PEAK_BYTES_PER_CHAR)
              f"must be >= 1 and <= 16384, got {self.memory_budget_mb}")

    def group_chars(self) -> int:
        """Characters of text per group that fit the memory budget."""
        return max(1, self.memory_budget_mb * 2**20 // PEAK_BYTES_PER_CHAR[self.tokenizer])


def _stream(texts: list[str], pattern: regex.Pattern) -> tuple[np.ndarray, np.ndarray]:
    """The group's token ids with a separator after each document, and each document's start."""
    vocab: dict[str, int] = {}
    parts, starts, pos = [], np.empty(len(texts), np.int64), 0
    for i, text in enumerate(texts):
        ids = np.fromiter((vocab.setdefault(p, len(vocab)) for p in pattern.findall(text)), np.uint32)
        parts.append(ids)
        starts[i] = pos
        pos += len(ids) + 1
    sep = np.uint32(len(vocab))
    stream = np.empty(pos, np.uint32)
    for ids, s in zip(parts, starts):
        stream[s : s + len(ids)] = ids
        stream[s + len(ids)] = sep
    return stream, starts


def repeated_runs(stream: np.ndarray, doc_starts: np.ndarray, k: int) -> np.ndarray:
    """Maximal token ranges ``[start, end)`` covered by a span of >= ``k`` tokens that repeats in ``stream``.

    ``stream`` holds documents each followed by a separator (starts in ``doc_starts``); ranges never
    cross a separator. Returns an ``(m, 2)`` int64 array sorted by start.
    """
    from pydivsufsort import divsufsort, kasai

    n = len(stream)
    if n < 2 * k:
        return np.empty((0, 2), np.int64)
    sa = divsufsort(stream)
    lcp = kasai(stream, sa)  # lcp[i]: common prefix of suffixes sa[i] and sa[i + 1]
    best = np.maximum(lcp, np.concatenate(([0], lcp[:-1])))
    cand = best >= k
    pos, length = sa[cand].astype(np.int64), best[cand].astype(np.int64)
    del sa, lcp, best, cand
    doc_ends = np.append(doc_starts[1:] - 1, n - 1)  # the separator after each document
    end = np.minimum(pos + length, doc_ends[np.searchsorted(doc_ends, pos)])
    keep = end - pos >= k
    pos, end = pos[keep], end[keep]
    if len(pos) == 0:
        return np.empty((0, 2), np.int64)
    order = np.argsort(pos, kind="stable")
    return merge_runs(pos[order], end[order])


def merge_runs(pos: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Ranges ``[pos, end)`` sorted by ``pos`` merged where they overlap or touch: an ``(m, 2)`` int64 array."""
    if len(pos) == 0:
        return np.empty((0, 2), np.int64)
    end = np.maximum.accumulate(end)
    new = np.concatenate(([True], pos[1:] > end[:-1]))
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(pos) - 1)
    return np.stack([pos[first], end[last]], axis=1).astype(np.int64)


def apply_cuts(text: str, starts: list[int], ends: list[int]) -> str:
    """``text`` without the character ranges ``[starts[i], ends[i])``, stripped at both ends."""
    kept, prev = [], 0
    for s, e in zip(starts, ends):
        kept.append(text[prev:s])
        prev = e
    kept.append(text[prev:])
    return "".join(kept).strip()


def find_cuts(docs: Iterable[tuple[int, int, str]], cfg: ExactConfig) -> pa.Table:
    """The cut spans of one group of documents ``(file, row, text)``; one row per document with cuts."""
    docs = list(docs)
    pattern = regex.compile(TOKENIZERS[cfg.tokenizer])
    stream, starts = _stream([t for _, _, t in docs], pattern)
    runs = repeated_runs(stream, starts, cfg.min_span_tokens)
    del stream
    doc_of = np.searchsorted(starts, runs[:, 0], side="right") - 1
    return cut_rows(docs, {int(d): runs[doc_of == d] - starts[d] for d in np.unique(doc_of)}, cfg)


def cut_rows(docs: list[tuple[int, int, str]], runs: dict[int, np.ndarray], cfg: ExactConfig) -> pa.Table:
    """The cuts table of ``docs`` given, per document index, its repeated token runs ``(m, 2)`` within it."""
    pattern = regex.compile(TOKENIZERS[cfg.tokenizer])
    rows: dict[str, list] = {name: [] for name in CUTS_SCHEMA.names}
    for d in sorted(runs):
        file, row, text = docs[d]
        offsets = np.concatenate(([0], np.cumsum([len(p) for p in pattern.findall(text)])))
        local = runs[d]
        cut_s, cut_e = offsets[local[:, 0]].tolist(), offsets[local[:, 1]].tolist()
        rows["file"].append(file)
        rows["row"].append(row)
        rows["starts"].append(cut_s)
        rows["ends"].append(cut_e)
        rows["chars_cut"].append(sum(e - s for s, e in zip(cut_s, cut_e)))
        rows["drop"].append(len(apply_cuts(text, cut_s, cut_e)) < cfg.min_chars_left)
    return pa.table(rows, schema=CUTS_SCHEMA)


def plan_groups(chunks: list[tuple[int, int, int, int]], budget_chars: int) -> list[list[tuple[int, int, int]]]:
    """Pack chunks ``(file, lo, hi, chars)`` in order into groups of at most ``budget_chars`` characters.

    A chunk is a row range of one shard, already cut to fit the budget (``chunk_rows``); a group is a
    list of ``(file, lo, hi)``.
    """
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    size = 0
    for file, lo, hi, chars in chunks:
        if current and size + chars > budget_chars:
            groups.append(current)
            current, size = [], 0
        current.append((file, lo, hi))
        size += chars
    if current:
        groups.append(current)
    return groups


def chunk_rows(lengths: np.ndarray, budget_chars: int) -> list[tuple[int, int, int]]:
    """Split one shard's rows (text lengths, 0 for dropped rows) into ``(lo, hi, chars)`` within the budget."""
    chunks, lo, size = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if i > lo and size + n > budget_chars:
            chunks.append((lo, i, size))
            lo, size = i, 0
        size += n
    if len(lengths) > lo:
        chunks.append((lo, len(lengths), size))
    return chunks
