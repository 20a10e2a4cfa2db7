"""Trainer fixtures: a tiny BPE tokenizer and token shards built from real English text, tiny configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.tokenize.manifest import tokenizer_sha256, write_manifest
from refinedweb.trainer.train import TrainRunConfig, load_run_config

REPO = Path(__file__).resolve().parents[2]
TINY_YAML = REPO / "configs" / "train" / "tiny.yaml"
EOT = "<|endoftext|>"


def write_token_folder(out: Path, splits: dict[str, list[list[list[int]]]], *, tokenizer_dir: Path, vocab_size: int,
                       eot_id: int, dtype: str = "uint16", record_path: bool = True) -> Path:
    """Write Parquet shards and manifest.json; ``splits`` maps a split to its shards, each a list of documents."""
    entries: dict[str, list[dict]] = {}
    arrow_type = pa.list_(pa.uint16() if dtype == "uint16" else pa.uint32())
    for split, shards in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        entries[split] = []
        for k, docs in enumerate(shards):
            rel = f"{split}/{k:05d}.parquet"
            table = pa.table({"id": [f"{split}-{k}-{i}" for i in range(len(docs))],
                              "input_ids": pa.array(docs, type=arrow_type)})
            pq.write_table(table, out / rel)
            entries[split].append({"path": rel, "documents": len(docs), "tokens": sum(len(d) for d in docs)})
    write_manifest(out, sha256=tokenizer_sha256(tokenizer_dir), vocab_size=vocab_size, eot_id=eot_id, dtype=dtype,
                   splits=entries, tokenizer_path=str(tokenizer_dir) if record_path else None)
    return out


@pytest.fixture(scope="session")
def wiki_documents(shared_data: Path) -> list[str]:
    """Paragraphs of a real English article (CS336's high-quality reference page, 69 KB)."""
    path = shared_data / "dev" / "quality" / "cs336__high_quality_wiki_reference.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, wiki_documents) -> Path:
    """A 512-entry byte-level BPE trained on the article, end-of-text token id 0 (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=[EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(wiki_documents, trainer)
    out = tmp_path_factory.mktemp("tokenizer")
    tok.save(str(out / "tokenizer.json"))
    return out


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory, tokenizer_dir, wiki_documents) -> Path:
    """The article tokenized: 3 train shards, 1 val shard (every 10th paragraph), EOT after each document."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    eot = tok.token_to_id(EOT)
    docs = [tok.encode(p).ids + [eot] for p in wiki_documents]
    val = docs[::10]
    train = [d for i, d in enumerate(docs) if i % 10]
    splits = {"train": [train[k::3] for k in range(3)], "val": [val]}
    return write_token_folder(tmp_path_factory.mktemp("tokens"), splits, tokenizer_dir=tokenizer_dir,
                              vocab_size=tok.get_vocab_size(), eot_id=eot)


def tiny_run(**sections) -> TrainRunConfig:
    """configs/train/tiny.yaml with per-section overrides, e.g. ``tiny_run(train={"max_steps": 5})``."""
    run = load_run_config(TINY_YAML)
    return dataclasses.replace(run, **{name: dataclasses.replace(getattr(run, name), **changes)
                                       for name, changes in sections.items()})


# A very small model of the same layout, for tests that exercise the loop rather than the numbers.
SMALL = dict(model={"n_layer": 2, "d_model": 64, "n_head": 4, "max_seq_len": 64}, data={"seq_len": 64},
             optim={"warmup_steps": 5})


def small_run(**overrides) -> TrainRunConfig:
    """``tiny_run`` shrunk to 2 blocks of width 64 and 64-token sequences, plus ``overrides``."""
    sections = {k: dict(v) for k, v in SMALL.items()}
    for name, changes in overrides.items():
        sections.setdefault(name, {}).update(changes)
    sections.setdefault("train", {}).setdefault("progress", False)
    sections["train"].setdefault("num_threads", 2)
    return tiny_run(**sections)
