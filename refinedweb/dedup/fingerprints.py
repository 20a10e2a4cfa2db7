"""Exact-substring dedup across the whole corpus in bounded memory: a shuffle of 50-token window fingerprints.

A suffix array finds every repeated span but needs the whole token stream in one memory (Lee et
al. 2022; RefinedWeb used 2 TiB of RAM). The same set of cut tokens follows from windows: a token
lies in a repeated span of >= k tokens iff it lies in a repeated window of exactly k tokens (a
repeated span's k-windows repeat; a repeated window is a repeated span). So, over Ray tasks:

1. **Fingerprints**, one task per chunk of rows (``exact.chunk_rows``, within ``memory_budget_mb``):
   every k-token window of every document gets a 64-bit hash (a polynomial rolling hash over the
   pieces' 64-bit BLAKE2b hashes, then MurmurHash3's finaliser); entries ``(hash, document, start)``,
   24 bytes each, go out as one block per shuffle partition (``hash mod P``).
2. **Candidates**, one task per partition: the entries whose hash occurs twice or more.
3. **Verification**, one task per chunk then per partition: each candidate window's content (its
   pieces, as text and piece lengths) is read back from its document and shuffled by hash again;
   windows whose *content* occurs twice or more are confirmed, so a hash collision never cuts text.
4. **Cuts**, one task per chunk: the union of the confirmed windows ``[start, start + k)`` of each
   document, mapped to character spans exactly as the suffix-array path maps its runs.

The result equals one suffix array over the whole corpus (tested against ``exact.find_cuts`` on a
corpus of several chunks). Memory: a fingerprint task holds its chunk (as the suffix-array group
does) and 24 bytes per token twice (entries and their split); a partition task holds
``WINDOW_BYTES`` per entry of its partition, the partition count chosen so that this fits
``memory_budget_mb``. Verification holds only candidates (windows whose hash repeats), ~k pieces
of text each (~8 bytes per piece with its length): in a corpus where most windows repeat a
verification task can hold about 6x a partition's entries (not yet sized separately).
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex
from numba import njit

from refinedweb import schema
from refinedweb.core.io import parquet_file, read_rows, read_table
from refinedweb.dedup.components import as_list, concat, split
from refinedweb.dedup.exact import TOKENIZERS, ExactConfig, cut_rows, merge_runs

WINDOW_BYTES = 72
"""Peak bytes per window entry in a candidates task: the three int64 columns, their sort index and
one sorted copy of them (by construction)."""
_BASE = np.uint64(0x100000001B3)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)

Chunk = tuple[int, int, int]  # (file, lo, hi): rows [lo, hi) of one shard
Docs = list[tuple[int, int, str]]  # (file, row, text) of a chunk's documents, in row order


@njit(cache=True, nogil=True)
def _window_kernel(tokens, offsets, k, power):
    """Rolling hashes of every ``k``-token window of every document: ``(hash, document, start)``."""
    total = 0
    for d in range(offsets.size - 1):
        total += max(0, offsets[d + 1] - offsets[d] - k + 1)
    hashes = np.empty(total, np.uint64)
    docs = np.empty(total, np.int64)
    starts = np.empty(total, np.int64)
    n = 0
    for d in range(offsets.size - 1):
        lo, hi = offsets[d], offsets[d + 1]
        if hi - lo < k:
            continue
        h = np.uint64(0)
        for i in range(lo, lo + k):
            h = h * _BASE + tokens[i]
        for s in range(lo, hi - k + 1):
            if s > lo:
                h = (h - tokens[s - 1] * power) * _BASE + tokens[s + k - 1]
            x = h ^ (h >> _S33)
            x *= _M1
            x ^= x >> _S33
            x *= _M2
            hashes[n] = x ^ (x >> _S33)
            docs[n] = d
            starts[n] = s - lo
            n += 1
    return hashes, docs, starts


def _piece_hash(piece: str) -> int:
    return int.from_bytes(hashlib.blake2b(piece.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def window_hashes(texts: list[str], cfg: ExactConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``min_span_tokens``-window of each text: ``(hash as int64, text index, start token)``."""
    pattern = regex.compile(TOKENIZERS[cfg.tokenizer])
    vocab: dict[str, int] = {}
    parts, offsets = [], np.zeros(len(texts) + 1, np.int64)
    for i, text in enumerate(texts):
        ids = [vocab.setdefault(p, len(vocab)) for p in pattern.findall(text)]
        parts.append(np.array(ids, np.int64))
        offsets[i + 1] = offsets[i] + len(ids)
    table = np.array([_piece_hash(p) for p in vocab], np.uint64)
    tokens = table[np.concatenate(parts)] if parts and offsets[-1] else np.empty(0, np.uint64)
    power = np.uint64(pow(int(_BASE), cfg.min_span_tokens - 1, 2**64))
    hashes, docs, starts = _window_kernel(tokens, offsets, cfg.min_span_tokens, power)
    return hashes.view(np.int64), docs, starts


def _repeated(sorted_keys: np.ndarray) -> np.ndarray:
    """Mask of the entries of sorted keys that equal a neighbour."""
    same = sorted_keys[1:] == sorted_keys[:-1]
    member = np.zeros(len(sorted_keys), bool)
    member[1:] |= same
    member[:-1] |= same
    return member


# --- tasks -----------------------------------------------------------------------------------------


def _fingerprint_task(read: Callable[[Chunk], Docs], chunk: Chunk, base: int, cfg: ExactConfig, parts: int):
    """Phase 1 on one chunk: its window entries ``(hash, global document, start)``, one block per partition."""
    docs = read(chunk)
    hashes, local, starts = window_hashes([t for _, _, t in docs], cfg)
    rows = np.array([r for _, r, _ in docs], np.int64)
    glob = base + rows[local] - chunk[1] if len(local) else local
    out = split(parts, (hashes.view(np.uint64) % np.uint64(parts)).astype(np.int64), hashes, glob, starts)
    return out[0] if parts == 1 else tuple(out)


def _candidates_task(bounds: np.ndarray, *blocks: np.ndarray):
    """Phase 2 on one partition: entries whose hash repeats, one ``(doc, start)`` block per chunk of their document."""
    both = [b for b in blocks if b.shape[1]]
    entries = np.concatenate(both, axis=1) if both else np.empty((3, 0), np.int64)
    order = np.argsort(entries[0], kind="stable")
    keep = order[_repeated(entries[0][order])]
    doc, start = entries[1][keep], entries[2][keep]
    out = split(len(bounds) - 1, np.searchsorted(bounds, doc, side="right") - 1, doc, start)
    return out[0] if len(out) == 1 else tuple(out)


def _window_content(pieces: list[str], start: int, k: int) -> str:
    """The window's text and its pieces' lengths: equal iff the piece sequences are equal."""
    window = pieces[start : start + k]
    return "".join(window) + "\0" + ",".join(str(len(p)) for p in window)


def _content_task(read: Callable[[Chunk], Docs], chunk: Chunk, base: int, cfg: ExactConfig, parts: int, *blocks):
    """Phase 3a on one chunk: the content of its candidate windows, as a table per verification partition."""
    doc, start = concat(blocks)
    texts = {base + r - chunk[1]: t for _, r, t in read(chunk)}
    pattern = regex.compile(TOKENIZERS[cfg.tokenizer])
    pieces: dict[int, list[str]] = {}
    content = []
    for d, s in zip(doc.tolist(), start.tolist()):
        if d not in pieces:
            pieces[d] = pattern.findall(texts[d])
        content.append(_window_content(pieces[d], s, cfg.min_span_tokens))
    hashes = np.array([hash_content(c) for c in content], np.uint64)
    table = pa.table({"doc": doc, "start": start, "content": pa.array(content, pa.large_string())})
    part = (hashes % np.uint64(parts)).astype(np.int64)
    out = [table.filter(pa.array(part == j)) for j in range(parts)]
    return out[0] if parts == 1 else tuple(out)


def hash_content(content: str) -> int:
    """A content's partition hash (deterministic across processes, unlike ``hash``)."""
    return _piece_hash(content)


def _verify_task(bounds: np.ndarray, *tables: pa.Table):
    """Phase 3b on one partition: candidate windows whose content occurs twice or more, per chunk."""
    table = pa.concat_tables(tables)
    if len(table) > 1:
        table = table.take(pc.sort_indices(table, [("content", "ascending"), ("doc", "ascending"), ("start", "ascending")]))
        content = table.column("content").combine_chunks()
        same = pc.equal(content.slice(1), content.slice(0, len(content) - 1)).to_numpy(zero_copy_only=False)
        member = np.zeros(len(table), bool)
        member[1:] |= same
        member[:-1] |= same
        table = table.filter(pa.array(member))
    else:
        table = table.slice(0, 0)
    doc, start = table.column("doc").to_numpy(), table.column("start").to_numpy()
    out = split(len(bounds) - 1, np.searchsorted(bounds, doc, side="right") - 1, doc, start)
    return out[0] if len(out) == 1 else tuple(out)


def _cut_task(read: Callable[[Chunk], Docs], write: Callable[[int, pa.Table], None], j: int, chunk: Chunk, base: int,
              cfg: ExactConfig, *blocks) -> int:
    """Phase 4 on one chunk: confirmed windows -> merged token runs -> character cuts, written as chunk ``j``."""
    doc, start = concat(blocks)
    docs = read(chunk)
    index = {base + r - chunk[1]: i for i, (_, r, _) in enumerate(docs)}
    runs: dict[int, np.ndarray] = {}
    for d in np.unique(doc).tolist():
        s = np.sort(np.unique(start[doc == d]))
        runs[index[d]] = merge_runs(s, s + cfg.min_span_tokens)
    table = cut_rows(docs, runs, cfg)
    write(j, table)
    return len(table)


def _remote(fn, returns: int):
    import ray

    return ray.remote(num_cpus=1, max_retries=1, num_returns=returns)(fn)


def _prior_fingerprint_task(index: str, base: int, parts: int):
    """Phase 1 for a shard of an earlier corpus: its stored window entries, numbered after the new chunks."""
    table = read_table(index, columns=["hash", "row", "start"])
    hashes = table.column("hash").to_numpy()
    out = split(parts, (hashes.view(np.uint64) % np.uint64(parts)).astype(np.int64), hashes,
                base + table.column("row").to_numpy(), table.column("start").to_numpy())
    return out[0] if parts == 1 else tuple(out)


def _read_prior(paths: list[str], chunk: Chunk) -> Docs:
    """Rows ``[lo, hi)`` of the earlier corpus's final shard ``-1 - file``."""
    file, lo, hi = chunk
    texts = read_rows(paths[-1 - file], lo, hi, [schema.TEXT]).column(schema.TEXT).to_pylist()
    return [(file, row, t or "") for row, t in enumerate(texts, lo)]


def _remote(fn, returns: int):
    import ray

    return ray.remote(num_cpus=1, max_retries=1, num_returns=returns)(fn)


def shuffle_cuts(chunks: list[Chunk], chars: int, read: Callable[[Chunk], Docs], write: Callable[[int, pa.Table], None],
                 cfg: ExactConfig, workers: int, prior: list[tuple[str, str]] = ()) -> int:
    """Cut every repeated span of the corpus ``chunks`` (``chars`` characters in all) on Ray; returns documents cut.

    ``read(chunk)`` gives a chunk's ``(file, row, text)`` (documents to skip left out), ``write(j,
    table)`` stores chunk ``j``'s cuts (``exact.CUTS_SCHEMA``). ``prior``: ``(final shard, its stored
    window fingerprints)`` of an earlier corpus; a span that occurs there is cut from the new
    documents too, and the earlier corpus is only read. Runs on the caller's Ray instance.
    """
    import ray

    rows = [parquet_file(p).metadata.num_rows for p, _ in prior]
    windows = sum(parquet_file(i).metadata.num_rows for _, i in prior)
    parts = max(workers, math.ceil((chars + windows) * WINDOW_BYTES / (cfg.memory_budget_mb * 2**20)))  # <= 1 window per char
    new = len(chunks)
    chunks = list(chunks) + [(-1 - k, 0, n) for k, n in enumerate(rows)]
    bases = np.zeros(len(chunks) + 1, np.int64)
    np.cumsum([hi - lo for _, lo, hi in chunks], out=bases[1:])
    readers = [ray.put(read), ray.put(functools.partial(_read_prior, [p for p, _ in prior]))]
    fps = [as_list(_remote(_fingerprint_task, parts).remote(readers[0], c, int(bases[i]), cfg, parts))
           for i, c in enumerate(chunks[:new])]
    fps += [as_list(_remote(_prior_fingerprint_task, parts).remote(idx, int(bases[new + k]), parts)) for k, (_, idx) in enumerate(prior)]
    cands = [as_list(_remote(_candidates_task, len(chunks)).remote(bases, *[f[p] for f in fps])) for p in range(parts)]
    del fps
    contents = [as_list(_remote(_content_task, parts).remote(readers[i >= new], c, int(bases[i]), cfg, parts, *[x[i] for x in cands]))
                for i, c in enumerate(chunks)]
    del cands
    confirmed = [as_list(_remote(_verify_task, len(chunks)).remote(bases, *[x[p] for x in contents])) for p in range(parts)]
    del contents
    cut = _remote(_cut_task, 1)
    return sum(ray.get([cut.remote(readers[0], write, i, c, int(bases[i]), cfg, *[x[i] for x in confirmed])
                        for i, c in enumerate(chunks[:new])]))
