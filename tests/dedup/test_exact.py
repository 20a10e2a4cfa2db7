"""Exact-substring dedup: repeated spans of >= 50 tokens cut in every copy, never across documents."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import regex

from refinedweb.config import ConfigError, from_dict
from refinedweb.dedup.exact import TOKENIZERS, ExactConfig, apply_cuts, chunk_rows, find_cuts, plan_groups, repeated_runs


def _stream(docs: list[list[int]], sep: int = 99) -> tuple[np.ndarray, np.ndarray]:
    starts, out = [], []
    for d in docs:
        starts.append(len(out))
        out.extend(d + [sep])
    return np.array(out, np.uint32), np.array(starts, np.int64)


def test_repeated_runs_finds_spans_of_at_least_k_tokens():
    a = list(range(10, 20))  # 10 tokens shared by docs 0 and 2
    stream, starts = _stream([[1, 2] + a + [3], [4, 5, 6, 7, 8, 9], [50, 51] + a, list(range(10, 14)) + [60]])
    runs = repeated_runs(stream, starts, k=8)
    assert runs.tolist() == [[2, 12], [starts[2] + 2, starts[2] + 12]]
    assert repeated_runs(stream, starts, k=11).tolist() == []


def test_repeated_runs_never_cross_a_document_boundary():
    x, y = [1, 2, 3], [4, 5, 6]
    stream, starts = _stream([x, y, x, y])  # "x S y S x S y S": a 7-token repeat, but only across documents
    assert repeated_runs(stream, starts, k=4).tolist() == []
    assert repeated_runs(stream, starts, k=3).tolist() == [[s, s + 3] for s in starts]


def _pieces(text: str) -> list[str]:
    return regex.findall(TOKENIZERS["gpt2"], text)


def _passage(text: str, n: int) -> str:
    """``n`` GPT-2 pieces from the middle of ``text``, starting at a word."""
    pieces = _pieces(text)
    i = next(i for i in range(len(pieces) // 3, len(pieces)) if pieces[i].startswith(" ") and pieces[i][1:].isalpha())
    return "".join(pieces[i : i + n]).strip()


def _plant(text: str, passage: str) -> str:
    """``passage`` as a paragraph of its own in the middle of ``text``."""
    paras = text.split("\n")
    k = len(paras) // 2
    return "\n".join(paras[:k] + [passage] + paras[k:])


@pytest.fixture(scope="module")
def real_texts(pages_a_run) -> list[str]:
    out, _, _ = pages_a_run
    texts = pq.read_table(out / "refined", columns=["text"]).column("text").to_pylist()
    assert len(texts) >= 40
    return texts


def test_planted_60_token_passage_is_cut_from_every_copy_and_40_token_one_kept(real_texts):
    cfg = ExactConfig()
    source, docs = real_texts[0], list(real_texts[1:40])
    long_p, short_p = _passage(source, 60), _passage(real_texts[40], 40)
    assert len(_pieces(long_p)) >= 59 and len(_pieces(short_p)) <= 41
    baseline = {r["row"]: r for r in find_cuts([(0, i, t) for i, t in enumerate(docs)], cfg).to_pylist()}
    planted = list(docs)
    for i in (3, 11, 27):
        planted[i] = _plant(docs[i], long_p)
    for i in (5, 17, 33):
        planted[i] = _plant(docs[i], short_p)
    cuts = {r["row"]: r for r in find_cuts([(0, i, t) for i, t in enumerate(planted)], cfg).to_pylist()}
    for i in (3, 11, 27):
        new = apply_cuts(planted[i], cuts[i]["starts"], cuts[i]["ends"])
        assert long_p not in new and long_p[:40] not in new
        assert cuts[i]["chars_cut"] <= len(long_p) + 2 + (baseline[i]["chars_cut"] if i in baseline else 0)
        assert not cuts[i]["drop"]
    for i in (5, 17, 33):
        assert cuts.get(i) == baseline.get(i)  # the 40-token passage is not a duplicate span
        assert short_p in planted[i]
    untouched = set(range(len(docs))) - {3, 11, 27, 5, 17, 33}
    assert {i: cuts[i] for i in untouched if i in cuts} == {i: baseline[i] for i in untouched if i in baseline}


def test_a_document_left_with_fewer_than_20_characters_is_marked_dropped(real_texts):
    passage = _passage(real_texts[0], 60)
    docs = [(0, 0, "An introduction line of this page.\n" + passage), (0, 1, passage + "\nok, bye."), (1, 0, real_texts[2])]
    cuts = {(r["file"], r["row"]): r for r in find_cuts(docs, ExactConfig()).to_pylist()}
    assert set(cuts) == {(0, 0), (0, 1)}
    assert not cuts[(0, 0)]["drop"] and cuts[(0, 1)]["drop"]
    assert apply_cuts(docs[0][2], cuts[(0, 0)]["starts"], cuts[(0, 0)]["ends"]) == "An introduction line of this page."


def test_whitespace_tokenizer_counts_words_and_spaces():
    words = " ".join(f"w{i}" for i in range(30))  # 59 whitespace-tokenizer pieces
    docs = [(0, 0, "alpha " + words + " omega"), (0, 1, "beta " + words + " gamma")]
    assert len(find_cuts(docs, ExactConfig(tokenizer="whitespace", min_span_tokens=59))) == 2
    assert len(find_cuts(docs, ExactConfig(tokenizer="whitespace", min_span_tokens=62))) == 0


def test_groups_respect_the_budget_and_cover_every_row_in_order():
    lengths = np.array([30, 50, 10, 0, 70, 20, 5])
    chunks = chunk_rows(lengths, budget_chars=60)
    assert [(lo, hi) for lo, hi, _ in chunks] == [(0, 1), (1, 4), (4, 5), (5, 7)]
    assert all(c <= 60 or hi - lo == 1 for lo, hi, c in chunks)
    groups = plan_groups([(0, lo, hi, c) for lo, hi, c in chunks] + [(1, 0, 3, 40)], budget_chars=100)
    assert groups == [[(0, 0, 1), (0, 1, 4)], [(0, 4, 5), (0, 5, 7)], [(1, 0, 3)]]


@pytest.mark.parametrize("data, field", [({"tokenizer": "gpt3"}, "tokenizer"), ({"min_span_tokens": 0}, "min_span_tokens"),
                                         ({"memory_budget_mb": 0}, "memory_budget_mb")])
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(ExactConfig, data)
