"""The shipped training configs load, encode Falcon's real shapes, and bad values name their field."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from refinedweb.config import ConfigError, UserError, from_dict, to_dict
from refinedweb.trainer.data import DataConfig
from refinedweb.trainer.model import Falcon, ModelConfig
from refinedweb.trainer.optim import OptimConfig
from refinedweb.trainer.train import TrainConfig, TrainRunConfig, load_run_config, read_run_config

from .conftest import REPO

CONFIGS = sorted((REPO / "configs" / "train").glob("*.yaml"))
# Parameter counts of the published models (transformers' FalconForCausalLM on their config.json).
PUBLISHED = {"falcon-rw-1b": 1_311_625_216, "falcon-7b": 6_921_720_704, "falcon-40b": 41_303_293_952}


def test_the_four_shapes_ship():
    assert {p.stem for p in CONFIGS} >= {"tiny", "falcon-rw-1b", "falcon-7b", "falcon-40b"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads(path):
    run = load_run_config(path)
    assert run.data.seq_len <= run.model.max_seq_len


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_shapes_have_the_published_parameter_count(name):
    cfg = load_run_config(REPO / "configs" / "train" / f"{name}.yaml").model
    with torch.device("meta"):
        assert Falcon(cfg).num_params() == PUBLISHED[name]


def test_tokenizer_vocabulary_is_padded_to_a_multiple_of_64():
    assert ModelConfig().with_vocab(50257).vocab_size == 50304  # GPT-2's 50257 -> Falcon-RW's 50304
    assert ModelConfig(vocab_size=65024).with_vocab(65024).vocab_size == 65024
    with pytest.raises(UserError, match="model.vocab_size"):
        ModelConfig(vocab_size=100).with_vocab(200)


@pytest.mark.parametrize("data, field", [
    ({"model": {"n_head": 8, "n_kv_head": 3, "d_model": 64}}, "model.n_kv_head"),
    ({"model": {"d_model": 100, "n_head": 8}}, "model.d_model"),
    ({"optim": {"beta2": 1.5}}, "optim.beta2"),
    ({"train": {"precision": "fp8"}}, "train.precision"),
    ({"train": {"batch_size": 10, "micro_batch_size": 4}}, "train.batch_size"),
    ({"data": {"seq_len": 4096}}, "data.seq_len"),
    ({"model": {"n_layers": 2}}, "model.n_layers"),
])
def test_bad_values_name_their_field(data, field):
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        from_dict(TrainRunConfig, data)


def test_no_always_true_enabled_switches_in_the_trainer_configs():
    for cls in (ModelConfig, DataConfig, OptimConfig, TrainConfig):
        assert "enabled" not in {f.name for f in dataclasses.fields(cls)}, cls.__name__


def test_a_run_folder_saved_with_enabled_switches_still_loads(tmp_path):
    run = load_run_config(REPO / "configs" / "train" / "tiny.yaml")
    old = {name: {"enabled": True, **section} for name, section in to_dict(run).items()}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert read_run_config(tmp_path) == run


@pytest.mark.parametrize("text, field", [
    ("optim: {lr: .nan}", "optim.lr"),
    ("optim: {lr: .inf}", "optim.lr"),
    ("optim: {lr: 3.0}", "optim.lr"),
    ("optim: {z_loss: .inf}", "optim.z_loss"),
    ("optim: {grad_clip: .inf}", "optim.grad_clip"),
    ("optim: {weight_decay: 2.0}", "optim.weight_decay"),
    ("optim: {eps: .nan}", "optim.eps"),
    ("model: {init_std: .nan}", "model.init_std"),
    ("model: {init_std: .inf}", "model.init_std"),
    ("model: {init_std: 5.0}", "model.init_std"),
    ("model: {rope_theta: .inf}", "model.rope_theta"),
    ("model: {norm_eps: .nan}", "model.norm_eps"),
    ("train: {peak_tflops: .inf}", "train.peak_tflops"),
    ("train: {peak_tflops: .nan}", "train.peak_tflops"),
])
def test_values_that_would_crash_training_later_are_refused_naming_the_field(text, field):
    with pytest.raises(ConfigError, match=rf"^{field}:"):
        from_dict(TrainRunConfig, yaml.safe_load(text))


def test_checkpoint_every_0_checkpoints_only_at_the_end(tmp_path, token_dir):
    from refinedweb.trainer.checkpoint import list_checkpoints
    from refinedweb.trainer.train import train

    from .conftest import small_run

    train(small_run(train={"max_steps": 3, "eval_every": 0, "checkpoint_every": 0}), tmp_path / "run", data=token_dir)
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [3]
