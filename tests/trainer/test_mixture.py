"""Mixtures of token folders: proportions by weight, deterministic by seed, exact resume, per-source metrics."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from refinedweb.config import ConfigError, UserError, from_dict, to_dict
from refinedweb.tokenize.manifest import read_manifest
from refinedweb.trainer.checkpoint import list_checkpoints
from refinedweb.trainer.data import DataConfig, Mixture, PackedBatches, SourceConfig
from refinedweb.trainer.train import Trainer, train

from .conftest import REPO, small_run, write_token_folder


@pytest.fixture(scope="module")
def small_source(tmp_path_factory, token_dir, tokenizer_dir):
    """A second token folder from the same tokenizer: the last training documents, 600+ tokens (a pass is 2-3 steps)."""
    m = read_manifest(token_dir)
    docs = [d for path in m.shard_paths("train") for d in pq.read_table(path).column("input_ids").to_pylist()]
    picked = []
    while sum(map(len, picked)) < 600:
        picked.append(docs.pop())
    return write_token_folder(tmp_path_factory.mktemp("small"), {"train": [picked], "val": [picked]},
                              tokenizer_dir=tokenizer_dir, vocab_size=m.vocab_size, eot_id=m.eot_id)


def _stream(folder, seq_len=8):
    m = read_manifest(folder)
    return PackedBatches(m.shard_paths("train"), seq_len=seq_len, batch_size=1, shards=m.split("train").shards)


@pytest.mark.parametrize("weights", [(0.7, 0.3), (1.0, 2.0, 5.0)])
def test_proportions_over_1000_steps_lie_in_the_binomial_interval(token_dir, small_source, weights):
    folders = [token_dir, small_source, token_dir][: len(weights)]
    mix = Mixture({f"s{i}": _stream(f) for i, f in enumerate(folders)}, weights, batch_size=1, seed=1234)
    for _ in range(1000):
        next(mix)
    mix.close()
    n, p = 1000, np.asarray(weights) / sum(weights)
    counts = np.asarray(list(mix.seen().values()))
    assert counts.sum() == n
    # 4 standard deviations of Binomial(n, p): a wrong weighting (e.g. uniform) falls outside
    assert np.all(np.abs(counts - n * p) <= 4 * np.sqrt(n * p * (1 - p))), (counts, n * p)


def test_the_draw_is_a_function_of_the_seed_and_the_position(token_dir, small_source):
    def draws(seed, start=0):
        mix = Mixture({"a": _stream(token_dir), "b": _stream(small_source)}, [1, 1], batch_size=1, seed=seed)
        return [mix.choice(g) for g in range(start, start + 200)]

    assert draws(1) == draws(1) and draws(1) != draws(2)
    assert draws(1)[100:] == draws(1, start=100)[:100]  # no hidden state: position g alone decides


def test_a_source_config_must_be_well_formed():
    with pytest.raises(ConfigError, match=r"^data.sources\[0\].weight:"):
        from_dict(DataConfig, {"sources": [{"path": "x", "weight": 0}]}, "data")
    with pytest.raises(ConfigError, match=r"^data.sources:"):
        from_dict(DataConfig, {"sources": [{"path": "a/x"}, {"path": "b/x"}]}, "data")  # both named x
    with pytest.raises(ConfigError, match=r"^data.sources:"):
        from_dict(DataConfig, {"path": "a", "sources": [{"path": "b"}]}, "data")
    with pytest.raises(ConfigError, match=r"^data.on_exhausted:"):
        from_dict(DataConfig, {"on_exhausted": "wrap"}, "data")


def _mixture_run(token_dir, small_source, data=None, optim=None, **train_overrides):
    sources = (SourceConfig(str(token_dir), 3.0, "wiki"), SourceConfig(str(small_source), 1.0, "small"))
    return small_run(data={"sources": sources, **(data or {})}, optim=optim or {},
                     train={"eval_every": 0, **train_overrides})


def _lines(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_metrics_log_tokens_epochs_and_validation_per_source(tmp_path, token_dir, small_source):
    run = _mixture_run(token_dir, small_source, max_steps=8, eval_every=8, eval_batches=2)
    again = (SourceConfig(str(token_dir), name="again"),)  # validation only: the same folder as "wiki"
    run = dataclasses.replace(run, data=dataclasses.replace(run.data, eval_sources=again))
    last = train(run, tmp_path / "run")
    steps = [x for x in _lines(tmp_path / "run") if "loss" in x]
    small_tokens = read_manifest(small_source).split("train").tokens
    final = steps[-1]
    assert final["tokens_wiki"] + final["tokens_small"] == final["tokens"] == 8 * 8 * 64
    assert final["epochs_small"] == pytest.approx(final["tokens_small"] / small_tokens)
    assert final["epochs_small"] > 1  # the small source repeated, and the count says so
    assert {"val_loss", "val_loss_wiki", "val_loss_small", "val_ppl_small"} <= set(last)
    assert last["val_ppl_small"] == pytest.approx(math.exp(last["val_loss_small"]))
    assert last["val_loss_again"] == last["val_loss_wiki"] != last["val_loss_small"]
    # val_loss pools the training sources' validation tokens (not the eval-only folder's)
    assert min(last["val_loss_wiki"], last["val_loss_small"]) < last["val_loss"] < max(last["val_loss_wiki"],
                                                                                         last["val_loss_small"])
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["name"] for s in info["sources"]] == ["wiki", "small"]


def test_a_stop_mixture_ends_the_run_when_a_source_runs_out(tmp_path, token_dir, small_source):
    run = _mixture_run(token_dir, small_source, data={"on_exhausted": "stop"}, max_steps=50)
    last = train(run, tmp_path / "run")
    small_tokens = read_manifest(small_source).split("train").tokens
    assert 0 < last["step"] < 50
    assert last["tokens_small"] <= small_tokens  # never a second pass
    assert [s for s, _ in list_checkpoints(tmp_path / "run")][-1] == last["step"]


def test_sources_from_different_tokenizers_are_refused(tmp_path, token_dir, small_source):
    other_tok = tmp_path / "tok"
    other_tok.mkdir()
    (other_tok / "tokenizer.json").write_text("{}")
    other = write_token_folder(tmp_path / "other", {"train": [[[1, 2, 3, 0]] * 200]}, tokenizer_dir=other_tok,
                               vocab_size=512, eot_id=0)
    run = small_run(data={"sources": (SourceConfig(str(token_dir)), SourceConfig(str(other)))})
    with pytest.raises(UserError, match="another tokenizer"):
        Trainer(run, tmp_path / "run")


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from refinedweb.trainer.train import Trainer, load_run_config

    def die(metrics):
        if metrics["step"] == 7:  # two steps past the checkpoint at 5: they must be redone
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer(load_run_config(sys.argv[1]), sys.argv[2]).fit(on_step=die)
""")


def test_sigkill_and_resume_with_a_mixture_retrace_the_straight_run_exactly(tmp_path, token_dir, small_source):
    run = _mixture_run(token_dir, small_source, optim={"decay_steps": 10}, max_steps=10, checkpoint_every=5)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(to_dict(run)))
    train(config, tmp_path / "straight")
    straight = [x for x in _lines(tmp_path / "straight") if "loss" in x]

    out = str(tmp_path / "resumed")
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(config), out], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = subprocess.run([sys.executable, "-m", "refinedweb.trainer.cli", "train", str(config), "--out", out,
                              "--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = [x for x in _lines(tmp_path / "resumed") if "loss" in x]
    keys = ("step", "loss", "tokens_wiki", "tokens_small", "epochs_small")
    assert [[x[k] for k in keys] for x in got] == [[x[k] for k in keys] for x in straight]
