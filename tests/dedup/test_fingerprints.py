"""Exact dedup across chunks: the window-fingerprint shuffle equals one whole-corpus suffix array."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.core.output import OutputConfig
from refinedweb.dedup.config import DedupConfig
from refinedweb.dedup import exchange
from refinedweb.dedup.exchange import Plan
from refinedweb.dedup.exact import ExactConfig, find_cuts, plan_groups
from refinedweb.dedup.fingerprints import _verify_task, _window_content, window_hashes
from refinedweb.dedup.phase import Shard, dedup_phase
from tests.dedup.test_exact import _passage, _pieces, _plant


def test_equal_windows_hash_equal_and_never_cross_documents():
    words = " ".join(f"w{i}" for i in range(60))
    cfg = ExactConfig(tokenizer="whitespace", min_span_tokens=50)
    hashes, doc, start = window_hashes(["a " + words, words + " z", "short text"], cfg)
    assert set(doc.tolist()) == {0, 1} and start.max() <= 119 + 2 - 50
    first, second = hashes[doc == 0], hashes[doc == 1]
    assert first[2] == second[0]  # "w0 ... " from token 2 of doc 0 and token 0 of doc 1
    assert len(set(first.tolist()) & set(second.tolist())) == len(first) - 2


def test_a_hash_collision_never_cuts_text():
    """Verification compares content: two windows in one partition with different pieces are not confirmed."""
    a = [f" w{i}" for i in range(50)]
    b, c = a[:-1] + [" v"], list(a)
    same_text = ["x", "y"], ["xy"]  # equal text, different pieces: different content
    assert _window_content(same_text[0], 0, 2) != _window_content(same_text[1], 0, 1)
    table = pa.table({"doc": [0, 1, 2], "start": [0, 0, 0],
                      "content": pa.array([_window_content(p, 0, 50) for p in (a, b, c)], pa.large_string())})
    bounds = np.array([0, 10])
    doc, start = _verify_task(Plan.of(1), bounds, table.slice(0, 2))
    assert doc.tolist() == []
    both = _verify_task(Plan.of(1), bounds, table.slice(0, 2), table.slice(2, 1))
    assert both[0].tolist() == [0, 2]


@pytest.fixture(scope="module")
def corpus(pages_a_run, tmp_path_factory) -> tuple[list[Shard], list[tuple[int, int, str]]]:
    """pages-A's refined texts as four shards with passages planted across them."""
    texts = pq.read_table(pages_a_run[0] / "refined", columns=[schema.TEXT]).column(schema.TEXT).to_pylist()
    texts = [t for t in texts if t]
    long_p, other_p = _passage(texts[0], 60), _passage(texts[1], 80)
    assert len(_pieces(long_p)) >= 59
    for i in (5, len(texts) // 2, len(texts) - 3):
        texts[i] = _plant(texts[i], long_p)
    for i in (9, len(texts) - 10):
        texts[i] = _plant(texts[i], other_p)
    root = tmp_path_factory.mktemp("fp_in")
    shards, docs, quarter = [], [], len(texts) // 4 + 1
    for f in range(4):
        part = texts[f * quarter : (f + 1) * quarter]
        pq.write_table(pa.table({schema.TEXT: part}), root / f"s{f}.parquet", row_group_size=16)
        shards.append(Shard(str(root / f"s{f}.parquet"), f"s{f}.parquet"))
        docs.extend((f, r, t) for r, t in enumerate(part))
    return shards, docs


def _cuts(out) -> dict:
    table = pa.concat_tables([pq.read_table(p) for p in sorted((out / "dedup" / "exact").glob("g*.parquet"))])
    return {(r["file"], r["row"]): r for r in table.to_pylist()}


@pytest.mark.parametrize("fanout", [64, 2], ids=["direct", "three-hops"])
def test_cuts_across_four_chunks_equal_one_suffix_array_over_the_corpus(corpus, tmp_path, monkeypatch, fanout):
    monkeypatch.setattr(exchange, "FANOUT", fanout)  # 2: every exchange goes through the radix shuffle's hops
    shards, docs = corpus
    exact = ExactConfig(memory_budget_mb=1)  # ~100k characters per chunk
    cfg = DedupConfig().with_kinds(["exact"])
    cfg = type(cfg)(minhash=cfg.minhash, exact=exact, url=cfg.url)
    dedup_phase(shards, tmp_path / "out", cfg, OutputConfig(), workers=2)
    chunks = list((tmp_path / "out" / "dedup" / "exact").glob("g*.parquet"))
    assert len(chunks) >= 4
    whole = {(r["file"], r["row"]): r for r in find_cuts(docs, exact).to_pylist()}
    assert _cuts(tmp_path / "out") == whole
    assert sum(len(r["starts"]) for r in whole.values()) >= 5
    lengths = [len(t) for _, _, t in docs]  # the group-only path with the same budget misses cross-group copies
    bounds = np.cumsum([0] + lengths)
    groups = plan_groups([(0, i, i + 1, n) for i, n in enumerate(lengths)], exact.group_chars())
    per_group = {}
    for g in groups:
        per_group.update({(r["file"], r["row"]): r for r in find_cuts([docs[i] for _, i, _ in g], exact).to_pylist()})
    assert len(groups) >= 4 and per_group != whole and bounds[-1] > 4 * exact.group_chars() // 2
