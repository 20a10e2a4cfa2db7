"""A run's data/ is read only once its dedup is done (issue 18 item 9): a killed dedup leaves old and new shards mixed."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.config import UserError
from refinedweb.core.output import OutputConfig
from refinedweb.dedup import phase
from refinedweb.dedup.config import DedupConfig
from refinedweb.dedup.phase import Shard, dedup_phase
from refinedweb.tokenize.bpe import TokenizerTrainConfig, train_tokenizer
from refinedweb.tokenize.shards import tokenize

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the cat ran to the dog"]


def _run_folder(tmp_path, done: bool):
    """A run's output as a killed dedup leaves it: data/ shards, dedup/ without done.json, stats.json."""
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "dedup").mkdir()
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(3)], "text": TEXTS}), run / "data" / "a.parquet")
    (run / "stats.json").write_text("{}")
    if done:
        (run / "dedup" / "done.json").write_text("{}")
    return run


def test_tokenizer_train_refuses_a_run_data_folder_whose_dedup_is_not_done(tmp_path):
    run = _run_folder(tmp_path, done=False)
    with pytest.raises(UserError, match="dedup phase of this run has not finished"):
        train_tokenizer(run / "data", tmp_path / "tok", TokenizerTrainConfig(vocab_size=300, min_frequency=1))
    with pytest.raises(UserError, match="dedup phase of this run has not finished"):  # a file of it, too
        train_tokenizer(str(run / "data" / "a.parquet"), tmp_path / "tok", TokenizerTrainConfig(vocab_size=300))
    assert not (tmp_path / "tok").exists()


def test_tokenize_refuses_a_run_data_folder_whose_dedup_is_not_done(tmp_path):
    run = _run_folder(tmp_path, done=False)
    with pytest.raises(UserError, match="dedup phase of this run has not finished"):
        tokenize(run / "data", tmp_path / "no-tokenizer-needed", tmp_path / "tokens")


def test_a_finished_run_data_folder_and_plain_folders_are_read(tmp_path):
    run = _run_folder(tmp_path, done=True)
    train_tokenizer(run / "data", tmp_path / "tok", TokenizerTrainConfig(vocab_size=300, min_frequency=1))
    plain = tmp_path / "plain" / "data"  # a folder named data with no dedup/ beside it is no run's
    plain.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["x"], "text": ["the cat"]}), plain / "a.parquet")
    train_tokenizer(plain, tmp_path / "tok2", TokenizerTrainConfig(vocab_size=300, min_frequency=1))


def test_dedup_removes_its_done_marker_before_it_touches_data(tmp_path, monkeypatch):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": TEXTS}), src)
    out, off = tmp_path / "out", DedupConfig().with_kinds([])  # no kind: data/ is the input linked, no Ray
    dedup_phase([Shard(str(src), "in.parquet")], out, off, OutputConfig(), workers=1)
    assert (out / "dedup" / "done.json").is_file()
    pq.write_table(pa.table({"text": TEXTS[:2]}), src)  # new input: the phase redoes data/

    def killed(*args):
        raise KeyboardInterrupt  # killed as it starts rewriting data/

    monkeypatch.setattr(phase, "_clear_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        dedup_phase([Shard(str(src), "in.parquet")], out, off, OutputConfig(), workers=1)
    assert not (out / "dedup" / "done.json").exists()
    (out / "stats.json").write_text(json.dumps({}))
    with pytest.raises(UserError, match="has not finished"):
        train_tokenizer(out / "data", tmp_path / "tok", TokenizerTrainConfig(vocab_size=300))
