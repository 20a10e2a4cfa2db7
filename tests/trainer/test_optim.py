"""AdamW parameter groups and the warm-up + cosine schedule."""

from __future__ import annotations

import math

import pytest

from refinedweb.trainer.model import ModelConfig
from refinedweb.trainer.optim import OptimConfig
from refinedweb.trainer.model import Falcon
from refinedweb.trainer.optim import build_optimizer, lr_at, param_groups


def test_no_weight_decay_on_norms_and_biases():
    model = Falcon(ModelConfig(vocab_size=64, n_layer=1, d_model=32, n_head=2, n_kv_head=2, bias=True,
                               parallel_residual=False))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {names[id(p)] for p in no_decay["params"]} == {n for n, p in model.named_parameters()
                                                          if n.endswith(".bias") or "norm" in n}
    assert "wte.weight" in {names[id(p)] for p in decay["params"]}


def test_optimizer_uses_falcon_betas():
    opt = build_optimizer(Falcon(ModelConfig(vocab_size=64, n_layer=1, d_model=32, n_head=2)), OptimConfig())
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_ten_percent():
    cfg = OptimConfig(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg, 110) == pytest.approx(1e-4)
    assert lr_at(4, cfg, 110) == pytest.approx(5e-4)
    assert lr_at(10, cfg, 110) == pytest.approx(1e-3)  # the peak, right after warm-up
    assert lr_at(60, cfg, 110) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half way down the cosine
    assert lr_at(110, cfg, 110) == pytest.approx(1e-4)
    assert lr_at(500, cfg, 110) == pytest.approx(1e-4)  # flat after the decay
    lrs = [lr_at(s, cfg, 110) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_decay_steps_decouple_the_schedule_from_the_stopping_step():
    cfg = OptimConfig(lr=1.0, warmup_steps=0, min_lr_ratio=0.0, decay_steps=100)
    assert lr_at(50, cfg, max_steps=10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
