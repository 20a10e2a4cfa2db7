"""Packing, deterministic shuffling, rank sharding and the resume point of the token stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from refinedweb.config import UserError
from refinedweb.tokenize.manifest import read_manifest
from refinedweb.trainer.data import PackedBatches, shuffled_stream

from .conftest import write_token_folder

EOT = 0


@pytest.fixture
def synthetic(tmp_path, tokenizer_dir):
    """3 train shards of documents whose ids say (shard, document, position): easy to trace."""
    shards = []
    for s in range(3):
        docs = []
        for d in range(5 + s):
            docs.append([1 + ((s * 37 + d * 11 + i) % 500) for i in range(3 + (d * 7) % 13)] + [EOT])
        shards.append(docs)
    return write_token_folder(tmp_path / "tok", {"train": shards, "val": [shards[0]]}, tokenizer_dir=tokenizer_dir,
                              vocab_size=512, eot_id=EOT)


def _loader(folder, **kw):
    m = read_manifest(folder)
    args = dict(seq_len=8, batch_size=2, seed=3, shards=m.split("train").shards, vocab_size=512)
    args.update(kw)
    return PackedBatches(m.shard_paths("train"), **args)


def _stream_tokens(folder) -> int:
    return read_manifest(folder).split("train").tokens


def test_one_epoch_is_every_document_once_packed_with_eot(synthetic):
    loader = _loader(synthetic, shuffle=True, batch_size=1, loop=False)
    seqs = [x[0].tolist() + [int(y[0, -1])] for x, y in loader]
    # consecutive sequences overlap by one token: rebuild the stream
    stream = seqs[0] + [t for s in seqs[1:] for t in s[1:]]
    n = _stream_tokens(synthetic)
    assert len(stream) == 1 + 8 * ((n - 1) // 8)
    docs = read_manifest(synthetic)
    import pyarrow.parquet as pq

    all_docs = sorted(tuple(d) for p in docs.shard_paths("train") for d in pq.read_table(p)["input_ids"].to_pylist())
    # split the (complete part of the) stream at EOT: every document appears, none twice
    pieces, cur = [], []
    for t in stream:
        cur.append(t)
        if t == EOT:
            pieces.append(tuple(cur))
            cur = []
    assert len(set(pieces)) == len(pieces)
    assert set(pieces) <= set(all_docs) and len(pieces) >= len(all_docs) - 1


def test_targets_are_inputs_shifted_by_one(synthetic):
    x, y = next(_loader(synthetic))
    assert x.shape == y.shape == (2, 8) and x.dtype == torch.int64
    torch.testing.assert_close(x[:, 1:], y[:, :-1])


def test_same_seed_same_order_other_seed_other_order(synthetic):
    take = lambda loader: [next(loader)[0] for _ in range(6)]  # noqa: E731
    a, b, c = take(_loader(synthetic, seed=3)), take(_loader(synthetic, seed=3)), take(_loader(synthetic, seed=4))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_unshuffled_stream_is_the_shards_in_manifest_order(synthetic):
    x, y = next(_loader(synthetic, shuffle=False, batch_size=1))
    import pyarrow.parquet as pq

    docs = pq.read_table(read_manifest(synthetic).shard_paths("train")[0])["input_ids"].to_pylist()
    first = [t for d in docs for t in d]
    assert x[0].tolist() == first[:8] and int(y[0, -1]) == first[8]


def test_ranks_get_disjoint_sequences_that_together_are_the_single_rank_stream(synthetic):
    single = _loader(synthetic, batch_size=2)
    ranks = [_loader(synthetic, batch_size=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(5):
        x, _ = next(single)
        torch.testing.assert_close(x[0], next(ranks[0])[0][0])
        torch.testing.assert_close(x[1], next(ranks[1])[0][0])
    assert ranks[0].state_dict() == ranks[1].state_dict() == single.state_dict()


def test_resume_point_continues_exactly_across_epochs(synthetic):
    straight = _loader(synthetic)
    expected = [next(straight)[0] for _ in range(40)]  # several epochs of this small split
    first = _loader(synthetic)
    for _ in range(17):
        next(first)
    state = first.state_dict()
    resumed = _loader(synthetic)
    resumed.load_state_dict(state)
    for want in expected[17:]:
        torch.testing.assert_close(next(resumed)[0], want)


def test_resume_point_is_valid_under_another_world_size(synthetic):
    one = _loader(synthetic, batch_size=4)
    next(one)
    state = one.state_dict()
    s0, s1, s2, s3 = next(one)[0]
    halves = [_loader(synthetic, batch_size=2, rank=r, world_size=2) for r in range(2)]
    for h in halves:
        h.load_state_dict(state)
    rank0, rank1 = next(halves[0])[0], next(halves[1])[0]
    torch.testing.assert_close(torch.stack((rank0[0], rank1[0], rank0[1], rank1[1])), torch.stack((s0, s1, s2, s3)))


def test_shuffled_stream_permutes_whole_documents():
    tokens = np.array([1, 2, 0, 3, 0, 4, 5, 6, 0], dtype=np.uint16)
    offsets = np.array([0, 3, 5, 9])
    out = shuffled_stream(tokens, offsets, np.random.default_rng(0)).tolist()
    docs = {(1, 2, 0), (3, 0), (4, 5, 6, 0)}
    pieces, cur = [], []
    for t in out:
        cur.append(t)
        if t == 0:
            pieces.append(tuple(cur))
            cur = []
    assert set(pieces) == docs and len(out) == len(tokens)


def test_manifest_mismatch_is_a_user_error(synthetic):
    m = read_manifest(synthetic)
    wrong = [type(s)(s.path, s.documents + 1, s.tokens) for s in m.split("train").shards]
    loader = PackedBatches(m.shard_paths("train"), seq_len=8, batch_size=1, shards=wrong, shuffle=False)
    with pytest.raises(UserError, match="manifest mismatch"):
        next(loader)


def test_token_outside_the_vocabulary_is_a_user_error(synthetic):
    with pytest.raises(UserError, match="outside the vocabulary"):
        next(_loader(synthetic, vocab_size=100))


def test_split_shorter_than_a_sequence_is_a_user_error(synthetic):
    with pytest.raises(UserError, match="fewer than one sequence"):
        _loader(synthetic, seq_len=10_000)
