"""Tokenizer fixtures: the real refined pages-A corpus, a small BPE trained on it, its token shards."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from refinedweb import schema
from refinedweb.tokenize.bpe import TokenizerTrainConfig, train_tokenizer
from refinedweb.tokenize.shards import TokenizeConfig, tokenize

SMALL_VOCAB = 1024
# Small shards so that pages-A (146 documents in one file) makes several units for two workers.
SHARDED = TokenizeConfig(val_fraction=0.1, docs_per_shard=40, workers=2)


@pytest.fixture(scope="session")
def refined_dir(pages_a_run) -> Path:
    """The refined pages-A documents (``data/*.parquet`` of the refinery's output)."""
    out, _, _ = pages_a_run
    return out / "data"


@pytest.fixture(scope="session")
def refined_docs(refined_dir) -> list[tuple[str, str]]:
    """(id, text) of every refined document, in file order."""
    table = pq.read_table(sorted(refined_dir.glob("*.parquet")), columns=[schema.ID, schema.TEXT])
    return list(zip(table.column(schema.ID).to_pylist(), table.column(schema.TEXT).to_pylist()))


@pytest.fixture(scope="session")
def small_tokenizer(tmp_path_factory, refined_dir) -> Path:
    """A 1024-entry Falcon-style BPE trained on the refined corpus."""
    out = tmp_path_factory.mktemp("tok") / "tok"
    train_tokenizer(refined_dir, out, TokenizerTrainConfig(vocab_size=SMALL_VOCAB))
    return out


def run_tokenize(refined_dir: Path, tokenizer: Path, out: Path, **changes) -> dict:
    """``tokenize`` with the sharded test config and ``changes``."""
    return tokenize(refined_dir, tokenizer, out, dataclasses.replace(SHARDED, **changes))


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory, refined_dir, small_tokenizer) -> Path:
    """The refined corpus tokenized with two workers, 10% validation."""
    out = tmp_path_factory.mktemp("tokens")
    run_tokenize(refined_dir, small_tokenizer, out)
    return out
