"""MinHash dedup: the paper's band layout, normalisation, estimates vs exact Jaccard, planted duplicates on Ray."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.config import ConfigError, UserError, from_dict
from refinedweb.dedup import exchange
from refinedweb.dedup.minhash import CLUSTER_SCHEMA, MinHashConfig, MinHasher, bucket_edges, candidate_probability, minhash_clusters
from refinedweb.dedup.normalize import normalize
from tests.pipeline.test_runner import _kill_ray_under

REPO = Path(__file__).resolve().parents[2]


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Exact word n-grams of the normalised text, independent of the hashing kernel."""
    words = normalize(text).split()
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()


def jaccard(a: str, b: str) -> float:
    x, y = shingle_set(a), shingle_set(b)
    return len(x & y) / len(x | y)


def perturb(text: str, rate: float, rng: np.random.Generator, vocabulary: list[str]) -> str:
    """``text`` with about ``rate`` of its words changed, moved or dropped (a third each)."""
    words = text.split()
    for _ in range(max(1, round(rate * len(words)))):
        op, i = rng.integers(3), int(rng.integers(len(words)))
        if op == 0:
            words[i] = vocabulary[int(rng.integers(len(vocabulary)))]
        elif op == 1:
            words.insert(int(rng.integers(len(words))), words.pop(i))
        elif len(words) > 1:
            words.pop(i)
    return " ".join(words)


@pytest.fixture(scope="module")
def real_texts(pages_a_run) -> list[str]:
    out, _, _ = pages_a_run
    texts = pq.read_table(out / "data", columns=[schema.TEXT]).column(schema.TEXT).to_pylist()
    assert len(texts) > 50
    return texts


@pytest.fixture(scope="module")
def planted(real_texts, tmp_path_factory):
    """The real pages (file 0) and two perturbed copies of each (file 1: rows 2i, 2i + 1; 0.3-4% of the words touched)."""
    rng = np.random.default_rng(7)
    vocabulary = " ".join(real_texts).split()
    copies = [perturb(t, rng.uniform(0.003, 0.04), rng, vocabulary) for t in real_texts for _ in range(2)]
    folder = tmp_path_factory.mktemp("planted")
    paths = [str(folder / "originals.parquet"), str(folder / "copies.parquet")]
    pq.write_table(pa.table({schema.ID: [f"orig-{i}" for i in range(len(real_texts))], schema.TEXT: real_texts}), paths[0], row_group_size=40)
    pq.write_table(pa.table({schema.TEXT: copies}), paths[1], row_group_size=40)
    return paths, real_texts, copies


# --- the paper's layout ----------------------------------------------------------------------------


def test_appendix_450_bands_of_20_give_the_papers_probabilities_and_the_main_text_does_not():
    cfg = MinHashConfig()
    assert (cfg.bands, cfg.rows_per_band, cfg.num_perm, cfg.ngram) == (450, 20, 9000, 5)
    assert candidate_probability(0.75, 450, 20) == pytest.approx(0.76, abs=0.005)  # 0.7605
    assert candidate_probability(0.8, 450, 20) == pytest.approx(0.994, abs=0.001)  # 0.9946: 99.4% truncated
    # "20 buckets of 450 hashes" (main text, §3.3): practically never a candidate at either similarity.
    assert candidate_probability(0.75, 20, 450) < 1e-50
    assert candidate_probability(0.8, 20, 450) < 1e-40


# --- normalisation and shingles ----------------------------------------------------------------------


def test_normalisation_lowers_strips_accents_punctuation_and_collapses_whitespace():
    assert normalize("Héllo,  WORLD!\tC'est l'été — «ça»\n\n naïve…") == "hello world cest lete ca naive"
    assert normalize("ÅNGSTRÖM\u00a0Œuvre — São-Paulo") == "angstrom œuvre saopaulo"
    assert normalize(" ¡¿!?.,;: ") == ""


def test_kernel_sees_the_normalised_words(real_texts):
    hasher = MinHasher(MinHashConfig())
    for text in real_texts[:40]:
        got = hasher.shingles(text)
        assert np.array_equal(got, hasher.shingles(normalize(text)))
        assert len(got) == max(1, len(normalize(text).split()) - 4)
        assert len(np.unique(got)) == len(shingle_set(text))  # no 32-bit collisions on real pages
    assert len(hasher.shingles("Two words.")) == 1
    assert len(hasher.shingles("")) == len(hasher.shingles(None)) == len(hasher.shingles(" ... ")) == 0


def test_estimated_jaccard_follows_exact_jaccard_on_real_text(real_texts):
    rng = np.random.default_rng(3)
    vocabulary = " ".join(real_texts).split()
    hasher = MinHasher(MinHashConfig())
    pairs = [(t, perturb(t, rate, rng, vocabulary)) for t in real_texts[:60] for rate in (0.01, 0.04, 0.15)]
    pairs += list(zip(real_texts[:30], real_texts[30:60]))  # distinct pages: Jaccard near 0
    errors = []
    for a, b in pairs:
        sig = hasher.signatures([a, b])
        exact, estimate = jaccard(a, b), float(np.mean(sig[0] == sig[1]))
        sd = np.sqrt(max(exact * (1 - exact), 1e-4) / 9000)
        assert abs(estimate - exact) < 5 * sd + 1e-3, (exact, estimate)
        errors.append((estimate - exact) / sd)
    assert abs(np.mean(errors)) < 0.5 and np.std(errors) < 1.5  # unbiased, binomial spread
    assert any(jaccard(a, b) < 0.6 for a, b in pairs) and any(jaccard(a, b) > 0.9 for a, b in pairs)


def test_buckets_link_each_member_to_the_least_document_once():
    keys = np.array([5, 3, 5, 7, 3, 5, 9, 9, 3])
    docs = np.array([8, 4, 2, 1, 6, 9, 8, 2, 6])  # 6 is in bucket 3 twice; 2 and 8 share buckets 5 and 9
    child, parent = bucket_edges(keys, docs)
    assert sorted(zip(child.tolist(), parent.tolist())) == [(6, 4), (8, 2), (9, 2)]
    assert all(len(a) == 0 for a in bucket_edges(keys[:0], docs[:0]))
    assert all(len(a) == 0 for a in bucket_edges(np.arange(4), np.arange(4)))


# --- planted near-duplicates through the Ray phases --------------------------------------------------


def _cluster_of(table: pa.Table, file: str, n: int) -> np.ndarray:
    """Cluster (global index of the kept member) of each row of ``file``; -1 where in no cluster."""
    out = np.full(n, -1, np.int64)
    t = table.filter(pa.compute.equal(table["file"], file))
    out[t["row"].to_numpy()] = t["cluster"].to_numpy()
    return out


def test_planted_near_duplicates_are_found_and_distinct_pages_kept_apart(planted):
    paths, originals, copies = planted
    n = len(originals)
    table = minhash_clusters(paths, MinHashConfig(task_docs=50, partition_mb=1), workers=2)  # 4 partitions
    assert table.schema == CLUSTER_SCHEMA
    orig, copy = _cluster_of(table, paths[0], n), _cluster_of(table, paths[1], 2 * n)
    orig = np.repeat(orig, 2)  # the original of each copy
    sims = np.array([jaccard(originals[i // 2], c) for i, c in enumerate(copies)])
    close = sims >= 0.8
    assert close.sum() >= 100 and (sims < 0.7).sum() >= 20, "the planted pairs should span Jaccard 0.8"
    found = (orig == copy) & (orig >= 0)
    assert found[close].mean() >= 0.95
    merged = [c for c in orig[::2] if c >= 0]
    wrongly = sum(merged.count(c) - 1 for c in set(merged))  # originals sharing a cluster with another one
    assert wrongly <= 0.005 * n
    # keep rule: exactly one member per cluster, the first in input order (file position, row)
    index = table["row"].to_numpy() + np.where(pa.compute.equal(table["file"], paths[1]).to_numpy(), n, 0)
    cluster, keep = table["cluster"].to_numpy(), table["keep"].to_numpy()
    assert np.array_equal(np.sort(index[keep]), np.unique(cluster))
    assert (index[keep] == cluster[keep]).all() and (index >= cluster).all()
    assert (copy[found] == np.repeat(np.arange(n), 2)[found]).all()  # so a found copy is never the one kept
    ids = dict(zip(zip(table["file"].to_pylist(), table["row"].to_pylist()), table[schema.ID].to_pylist()))
    assert all(ids[(f, r)] == (f"orig-{r}" if f == paths[0] else f"{f}:{r}") for f, r in ids)


def test_clusters_are_deterministic(planted):
    paths, _, _ = planted
    cfg = MinHashConfig(task_docs=100)
    assert minhash_clusters(paths, cfg, workers=2).equals(minhash_clusters(paths, cfg, workers=2))


def test_radix_shuffle_gives_the_direct_shuffles_clusters(planted, monkeypatch):
    """With at most 2 ways per hop the 4 partitions are reached in 2 hops (dedup/exchange.py): same clusters."""
    paths, _, _ = planted
    cfg = MinHashConfig(task_docs=50, partition_mb=1)
    direct = minhash_clusters(paths, cfg, workers=2)
    monkeypatch.setattr(exchange, "FANOUT", 2)
    assert minhash_clusters(paths, cfg, workers=2).equals(direct) and len(direct) >= 100


_RUN = """
import sys, pyarrow.parquet as pq
from refinedweb.dedup.minhash import MinHashConfig, minhash_clusters
from refinedweb.core.cluster import init_ray
workers = int(sys.argv[1])
init_ray(workers, None)
pq.write_table(minhash_clusters(sys.argv[3:], MinHashConfig(task_docs=60), workers), sys.argv[2])
"""


@pytest.mark.slow
def test_same_clusters_with_one_and_two_ray_workers(planted, tmp_path):
    paths, _, _ = planted
    tables = []
    for workers in (1, 2):
        ray_tmp = Path(tempfile.mkdtemp(prefix="rw", dir="/tmp"))  # its own Ray instance, stopped with its driver
        env = {**os.environ, "RAY_ADDRESS": "", "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO)}
        out = tmp_path / f"clusters-{workers}.parquet"
        try:
            res = subprocess.run([sys.executable, "-c", _RUN, str(workers), str(out), *paths], capture_output=True,
                                 text=True, env=env, timeout=300)
            assert res.returncode == 0, res.stderr[-3000:]
        finally:
            _kill_ray_under(ray_tmp)
            shutil.rmtree(ray_tmp, ignore_errors=True)
        tables.append(pq.read_table(out))
    assert tables[0].num_rows > 30
    assert tables[0].equals(tables[1])


# --- config and input errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field",
    [({"bands": 0}, "bands"), ({"rows_per_band": "20"}, "rows_per_band"), ({"ngram": 0}, "ngram"),
     ({"seed": -1}, "seed"), ({"partition_mb": 0}, "partition_mb"), ({"band": 450}, "band")],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        from_dict(MinHashConfig, data)


def test_input_without_text_names_the_file(tmp_path):
    path = tmp_path / "no-text.parquet"
    pq.write_table(pa.table({"body": ["a b c d e f"]}), path)
    with pytest.raises(UserError, match="no-text.parquet"):
        minhash_clusters([str(path)], MinHashConfig(), workers=1)
