"""The training loop end to end on real text: metrics, checkpoints, export, resume after SIGKILL."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from refinedweb.config import UserError, to_dict
from refinedweb.trainer.checkpoint import list_checkpoints, load_run_model
from refinedweb.trainer.generate import generate_text
from refinedweb.trainer.hf import export_run
from refinedweb.trainer.train import Trainer, train

from .conftest import REPO, small_run


def _losses(run_dir) -> dict[int, float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {x["step"]: x["loss"] for x in lines if "loss" in x}


def test_a_run_logs_validates_checkpoints_and_exports(tmp_path, token_dir, tokenizer_dir):
    run = small_run(train={"max_steps": 6, "eval_every": 3, "eval_batches": 2, "checkpoint_every": 3,
                           "keep_checkpoints": 1})
    last = train(run, tmp_path / "run", data=token_dir)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "loss" in x]
    assert [x["step"] for x in steps] == [1, 2, 3, 4, 5, 6]
    assert all({"loss", "lr", "tokens_per_s", "grad_norm"} <= set(x) for x in steps)
    assert [x["step"] for x in lines if "val_loss" in x] == [3, 6]
    assert last["val_ppl"] == pytest.approx(2.718281828 ** last["val_loss"], rel=1e-6)
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert any((tmp_path / "run" / "tb").iterdir())
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [6]
    copied = tmp_path / "run" / "tokenizer" / "tokenizer.json"
    assert copied.read_bytes() == (tokenizer_dir / "tokenizer.json").read_bytes()

    transformers = pytest.importorskip("transformers")
    hf_dir = export_run(tmp_path / "run", tmp_path / "hf")
    theirs = transformers.FalconForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ours = load_run_model(tmp_path / "run")
    ids = torch.randint(0, ours.cfg.vocab_size, (1, 64))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(input_ids=ids).logits, atol=1e-5, rtol=1e-5)
    from tokenizers import Tokenizer

    text = "The refined web is filtered and deduplicated."
    auto = transformers.AutoTokenizer.from_pretrained(hf_dir)
    assert auto(text)["input_ids"] == Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).encode(text).ids
    assert auto.eos_token == "<|endoftext|>"

    sample = generate_text(tmp_path / "run", "The web", max_new_tokens=5, seed=1)
    assert sample.startswith("The web") and len(sample) > len("The web")
    assert generate_text(hf_dir, "The web", max_new_tokens=5, seed=1) == sample


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from refinedweb.trainer.train import Trainer, load_run_config

    def die(metrics):
        if metrics["step"] == 12:  # two steps past the checkpoint at 10: they must be redone
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer(load_run_config(sys.argv[1]), sys.argv[2], data_dir=sys.argv[3]).fit(on_step=die)
""")


def test_resume_after_sigkill_retraces_the_straight_run_exactly(tmp_path, token_dir):
    # decay_steps pins the schedule to 20 steps whatever the stopping point; no validation (speed)
    run = small_run(optim={"decay_steps": 20}, train={"max_steps": 20, "checkpoint_every": 5, "eval_every": 0})
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(to_dict(run)))
    train(config, tmp_path / "straight", data=token_dir)
    straight = _losses(tmp_path / "straight")

    out = str(tmp_path / "resumed")
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(config), out, str(token_dir)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert max(_losses(tmp_path / "resumed")) == 12
    assert [s for s, _ in list_checkpoints(tmp_path / "resumed")] == [5, 10]

    resumed = subprocess.run([sys.executable, "-m", "refinedweb.trainer.cli", "train", str(config), "--out", out,
                              "--data", str(token_dir), "--resume"], cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = _losses(tmp_path / "resumed")
    assert sorted(got) == list(range(1, 21))  # steps 11 and 12 logged once, by the resumed run
    assert got == straight


def test_gradient_accumulation_matches_one_big_batch(tmp_path, token_dir):
    one = train(small_run(train={"max_steps": 2, "eval_every": 0}), tmp_path / "one", data=token_dir)
    four = train(small_run(train={"max_steps": 2, "eval_every": 0, "micro_batch_size": 2}), tmp_path / "four",
                 data=token_dir)
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "four")
    assert a[1] == pytest.approx(b[1], abs=1e-5) and a[2] == pytest.approx(b[2], abs=1e-4)
    assert one["loss"] == pytest.approx(four["loss"], abs=1e-4)


def test_a_finished_run_is_not_overwritten_and_a_resume_must_match(tmp_path, token_dir):
    run = small_run(train={"max_steps": 1, "eval_every": 0})
    train(run, tmp_path / "run", data=token_dir)
    with pytest.raises(UserError, match="pass --resume"):
        Trainer(run, tmp_path / "run", data_dir=token_dir)
    with pytest.raises(UserError, match="model.n_layer"):
        Trainer(small_run(model={"n_layer": 3}, train={"max_steps": 1}), tmp_path / "run", data_dir=token_dir,
                resume=True)
    assert train(run, tmp_path / "run", data=token_dir, resume=True, max_steps=2)["step"] == 2


def test_resume_refuses_other_token_shards_made_by_the_same_tokenizer(tmp_path, token_dir, tokenizer_dir):
    from refinedweb.tokenize.manifest import read_manifest

    from .conftest import write_token_folder

    run = small_run(train={"max_steps": 1, "eval_every": 0})
    train(run, tmp_path / "run", data=token_dir)
    manifest = read_manifest(token_dir)
    docs = [list(range(1, 200)) + [manifest.eot_id]] * 20  # other text, same tokenizer and vocabulary
    other = write_token_folder(tmp_path / "other", {"train": [docs], "val": [docs[:2]]}, tokenizer_dir=tokenizer_dir,
                               vocab_size=manifest.vocab_size, eot_id=manifest.eot_id)
    with pytest.raises(UserError, match="other token shards than the run was trained on"):
        train(run, tmp_path / "run", data=other, resume=True, max_steps=2)
    moved = tmp_path / "moved"
    shutil.copytree(token_dir, moved)  # the same shards in another folder still resume
    assert train(run, tmp_path / "run", data=moved, resume=True, max_steps=2)["step"] == 2


def test_run_files_are_written_atomically(tmp_path, token_dir, monkeypatch):
    import os

    from refinedweb.trainer import checkpoint

    run = small_run(train={"max_steps": 1, "eval_every": 0})
    train(run, tmp_path / "run", data=token_dir)
    before = {name: (tmp_path / "run" / name).read_bytes() for name in ("config.yaml", "run.json")}
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(checkpoint.os, "replace", lambda a, b: (renamed.append(Path(b).name), real_replace(a, b)))
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):  # a write that fails half way ...
        train(run, tmp_path / "run", data=token_dir, resume=True, max_steps=2)
    assert {name: (tmp_path / "run" / name).read_bytes() for name in before} == before  # ... leaves the old files
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    assert renamed == []


def test_a_tokenizer_other_than_the_manifests_is_refused(tmp_path, token_dir):
    other = tmp_path / "other"
    other.mkdir()
    (other / "tokenizer.json").write_text("{}")
    with pytest.raises(UserError, match="tokenizer mismatch"):
        Trainer(small_run(), tmp_path / "run", data_dir=token_dir, tokenizer=other)


def test_init_from_an_hf_folder_starts_from_its_weights(tmp_path, token_dir):
    run = small_run(train={"max_steps": 2, "eval_every": 0})
    train(run, tmp_path / "first", data=token_dir)
    hf_dir = export_run(tmp_path / "first", tmp_path / "hf")
    trainer = Trainer(run, tmp_path / "second", data_dir=token_dir, init_from=hf_dir)
    trained = load_run_model(tmp_path / "first").state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in trainer.raw.state_dict().items())
    trainer.logger.close()
    with pytest.raises(UserError, match="model.n_layer"):
        Trainer(small_run(model={"n_layer": 3}), tmp_path / "third", data_dir=token_dir, init_from=hf_dir)
