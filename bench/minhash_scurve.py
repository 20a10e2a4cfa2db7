"""MinHash LSH against its S-curve: detected share of document pairs per Jaccard bin vs ``1 - (1 - s^20)^450``.

Pairs are built from real text by controlled edits: a document with some of its words replaced by
words of the corpus's vocabulary, at random positions. The Jaccard similarity of each pair is
measured over exactly the shingles the MinHash uses (``MinHasher.shingles``: the normalised word
5-grams' 32-bit hashes), and pairs are binned by that measured J, never by the edit rate. A pair
is *detected* when the project's own ``MinHasher`` (``MinHashConfig()``: 450 bands of 20 rows)
gives both documents an equal key in at least one band, the LSH candidate condition of
``refinedweb.dedup.minhash``.

Per bin it prints the pairs, the detected share, the theory (the mean over the bin's pairs of
``1 - (1 - J^20)^450``, so the bin's spread of J is accounted for) and the two-sided 99% binomial
interval of the detected count around it (a Poisson-binomial count varies less than that binomial,
so the check is conservative); then the false merges among pairs with J < 0.5 (edited pairs with
J in [0.2, 0.5) and pairs of two different documents), which must be at most 0.1%.

``ratio`` is honest rather than higher-is-better: detected pairs over the theory's expected count
across the S-curve bins, both from the same pairs in this run (1.00 = the S-curve exactly; above 1
would mean correlated hash functions, below 1 lost candidates). It exits 1 when a bin lies outside
its interval or false merges exceed 0.1%.

    .venv/bin/python bench/minhash_scurve.py --input /tmp/base-A-keep/data [--pairs 200] [--low-pairs 2000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchutil import cpu_model  # noqa: E402
from refinedweb.core.inputs import resolve_parquet  # noqa: E402
from refinedweb.dedup.minhash import MinHashConfig, MinHasher, candidate_probability  # noqa: E402
from refinedweb.dedup.normalize import normalize  # noqa: E402

EDGES = np.round(np.arange(0.50, 1.0001, 0.05), 2)  # bins [0.50, 0.55) ... [0.95, 1.00]
MIN_WORDS = 150


def binom_interval(confidence: float, n: int, p: float) -> tuple[int, int]:
    """The central ``confidence`` interval of Binomial(n, p), as scipy.stats.binom.interval gives it.

    The smallest k whose CDF reaches (1 - c) / 2 and the smallest whose CDF reaches (1 + c) / 2,
    from the exact probabilities in log space (numpy only: scipy is not a dependency here).
    """
    if p <= 0.0 or p >= 1.0:
        return (0, 0) if p <= 0.0 else (n, n)
    k = np.arange(n + 1)
    log_choose = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    cdf = np.cumsum(np.exp(log_choose + k * math.log(p) + (n - k) * math.log1p(-p)))
    lo, hi = np.searchsorted(cdf, [(1 - confidence) / 2, (1 + confidence) / 2 - 1e-12])
    return int(lo), int(min(hi, n))


def load(path: str) -> tuple[list[str], list[str]]:
    """Documents of at least MIN_WORDS words, and the corpus's normalised vocabulary."""
    files = resolve_parquet(path, ("text",))
    texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]
    docs = [t for t in texts if len(t.split()) >= MIN_WORDS]
    vocab = sorted({w for t in texts for w in normalize(t).split()})
    if len(docs) < 2:
        raise SystemExit(f"{path}: fewer than two documents of {MIN_WORDS}+ words")
    return docs, vocab


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    x, y = set(a.tolist()), set(b.tolist())
    return len(x & y) / len(x | y)


def edit(text: str, target: float, n_shingles: int, vocab: list[str], rng: np.random.Generator) -> str:
    """``text`` with enough random words replaced to bring J near ``target`` (each hits up to 5 shingles)."""
    words = text.split()
    m = max(1, round(n_shingles * (1 - target) / (5 * (1 + target))))
    for i in rng.choice(len(words), size=min(m, len(words)), replace=False).tolist():
        words[i] = vocab[int(rng.integers(len(vocab)))]
    return " ".join(words)


def detected(hasher: MinHasher, a: list[str], b: list[str]) -> np.ndarray:
    ka, _ = hasher.band_keys(a)
    kb, _ = hasher.band_keys(b)
    return (ka == kb).any(axis=1)


def build_pairs(docs, vocab, hasher, lo: float, hi: float, edges: np.ndarray, per_bin: int, rng) -> tuple[list, list, list]:
    """Edited pairs until every bin of ``edges`` inside [lo, hi) holds ``per_bin``: (originals, edited, J)."""
    shingles = [hasher.shingles(t) for t in docs]
    bins = len(edges) - 1
    count = np.zeros(bins, int)
    left, right, js = [], [], []
    for _ in range(per_bin * bins * 20):
        need = np.flatnonzero(count < per_bin)
        if not len(need):
            break
        b = int(rng.choice(need))
        d = int(rng.integers(len(docs)))
        new = edit(docs[d], rng.uniform(edges[b], edges[b + 1]), len(shingles[d]), vocab, rng)
        j = jaccard(shingles[d], hasher.shingles(new))
        k = int(np.searchsorted(edges, j, side="right")) - 1
        k = min(k, bins - 1) if j <= edges[-1] else -1
        if lo <= j < hi and 0 <= k and count[k] < per_bin:
            count[k] += 1
            left.append(docs[d])
            right.append(new)
            js.append(j)
    return left, right, js


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="Parquet file or folder with a text column (real text)")
    parser.add_argument("--pairs", type=int, default=200, help="pairs per Jaccard bin from 0.50 to 1.00")
    parser.add_argument("--low-pairs", type=int, default=2000, help="edited pairs with J in [0.2, 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    cfg, rng = MinHashConfig(), np.random.default_rng(args.seed)
    hasher = MinHasher(cfg)
    docs, vocab = load(args.input)
    print(f"cpu: {cpu_model()}")
    print(f"input: {args.input}: {len(docs)} documents of {MIN_WORDS}+ words, vocabulary {len(vocab)} words")
    print(f"MinHash: {cfg.bands} bands x {cfg.rows_per_band} rows, word {cfg.ngram}-grams (MinHashConfig defaults)")
    left, right, js = build_pairs(docs, vocab, hasher, 0.5, 1.01, EDGES, args.pairs, rng)
    hit, js = detected(hasher, left, right), np.array(js)
    print(f"{'J bin':>12} {'pairs':>6} {'detected':>9} {'theory':>8} {'99% interval':>14}  ok")
    ok, observed, expected = True, 0, 0.0
    for b in range(len(EDGES) - 1):
        inside = (js >= EDGES[b]) & ((js < EDGES[b + 1]) | (b == len(EDGES) - 2))
        n, k = int(inside.sum()), int(hit[inside].sum())
        p = float(np.mean([candidate_probability(s, cfg.bands, cfg.rows_per_band) for s in js[inside]])) if n else 0.0
        lo_k, hi_k = binom_interval(0.99, n, p) if n else (0, 0)
        good = n > 0 and lo_k <= k <= hi_k
        ok &= good
        observed, expected = observed + k, expected + n * p
        print(f"[{EDGES[b]:.2f}, {EDGES[b + 1]:.2f}) {n:6d} {k / max(n, 1):9.3f} {p:8.3f} {f'[{lo_k / max(n, 1):.3f}, {hi_k / max(n, 1):.3f}]':>14}  {'yes' if good else 'NO'}")
    low_l, low_r, low_j = build_pairs(docs, vocab, hasher, 0.2, 0.5, np.round(np.arange(0.2, 0.5001, 0.05), 2), args.low_pairs // 6 + 1, rng)
    a, b = rng.integers(len(docs), size=(2, args.low_pairs))
    a, b = a[a != b], b[a != b]
    unrelated = detected(hasher, [docs[i] for i in a], [docs[i] for i in b])
    low = detected(hasher, low_l, low_r)
    total, false = len(low) + len(unrelated), int(low.sum() + unrelated.sum())
    print(f"J < 0.5: {len(low)} edited pairs (J {min(low_j):.2f}-{max(low_j):.2f}) and {len(unrelated)} pairs of different "
          f"documents: {false} detected = {100 * false / total:.3f}% (limit 0.1%)")
    ok &= false <= 0.001 * total
    print(f"all bins within their interval and false merges <= 0.1%: {'yes' if ok else 'NO'}; {time.perf_counter() - start:.0f} s")
    print(f"ratio: {observed / expected:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
