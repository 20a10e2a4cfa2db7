"""Tokenizer, token shards, training, checkpoints, resume and export all on s3:// (moto's server on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from refinedweb.core.io import write_table
from refinedweb.core.storage import Remote, location
from refinedweb.tokenize.manifest import read_manifest
from refinedweb.trainer.checkpoint import list_checkpoints
from refinedweb.trainer.generate import generate_text
from refinedweb.trainer.hf import export_run
from refinedweb.trainer.train import train

from .conftest import REPO, small_run

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess:
    """A command in a fresh process: its Ray instance gets the fixture's AWS variables."""
    res = subprocess.run([sys.executable, "-m", "refinedweb.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _losses(run_dir) -> dict[int, float]:
    lines = [json.loads(x) for x in (location(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return {x["step"]: x["loss"] for x in lines if "loss" in x}


def test_tokenize_train_resume_and_export_through_s3(s3_bucket, wiki_documents, tmp_path):
    url = s3_bucket.url
    write_table(pa.table({"id": [f"doc-{i}" for i in range(len(wiki_documents))], "text": wiki_documents}),
                url("refined/data/part-0.parquet"))
    _cli("tokenizer", "train", "--input", url("refined/data"), "--output", url("tok"), "--vocab-size", "512")
    _cli("tokenize", "--input", url("refined/data"), "--tokenizer", url("tok"), "--output", url("tokens"),
         "--workers", "1", "--val-fraction", "0.1")
    manifest = read_manifest(url("tokens"))
    shards = manifest.shard_paths("train")
    assert shards and all(isinstance(p, Remote) and p.is_file() for p in shards)
    assert manifest.split("train").documents + manifest.split("val").documents == len(wiki_documents)

    run = small_run(optim={"decay_steps": 20}, train={"max_steps": 4, "checkpoint_every": 2, "eval_every": 0})
    train(run, url("run"), data=url("tokens"), max_steps=2)
    assert [s for s, _ in list_checkpoints(url("run"))] == [2]
    partial = location(url("run")) / "checkpoints" / "step_00000003" / "__0_0.distcp"
    partial.write_bytes(b"a save cut off before its trainer.json")
    assert [s for s, _ in list_checkpoints(url("run"))] == [2]  # never listed, so never resumed from
    train(run, url("run"), data=url("tokens"), resume=True)
    assert [s for s, _ in list_checkpoints(url("run"))] == [2, 4] and not partial.is_file()  # the next save cleared it

    straight = tmp_path / "straight"
    train(run, straight, data=url("tokens"))
    assert sorted(_losses(url("run"))) == [1, 2, 3, 4]
    assert _losses(url("run")) == _losses(straight)  # resumed from s3 == uninterrupted on local disk

    export_run(url("run"), url("hf"))
    assert location(url("hf/config.json")).is_file() and location(url("hf/model.safetensors")).is_file()
    prompt = wiki_documents[0][:40]
    assert generate_text(url("hf"), prompt, max_new_tokens=8, temperature=0) == \
        generate_text(straight, prompt, max_new_tokens=8, temperature=0)
