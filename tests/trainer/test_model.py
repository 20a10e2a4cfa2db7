"""The Falcon module: layouts, causality, positions, the fused loss and the oneDNN linear."""

from __future__ import annotations

import pytest
import torch

from refinedweb.trainer.model import ModelConfig
from refinedweb.trainer.model import Falcon, alibi_bias, alibi_slopes, apply_rope, rope_tables

LAYOUTS = {
    "7b": dict(n_kv_head=1, parallel_residual=True, shared_attention_norm=True),
    "40b": dict(n_kv_head=2, parallel_residual=True, shared_attention_norm=False),
    "rw": dict(n_kv_head=4, parallel_residual=False, alibi=True, bias=True),
}


def _cfg(layout: str, **kw) -> ModelConfig:
    return ModelConfig(vocab_size=96, n_layer=2, d_model=64, n_head=4, max_seq_len=32, **{**LAYOUTS[layout], **kw})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_future_tokens_do_not_change_past_logits(layout):
    torch.manual_seed(0)
    model = Falcon(_cfg(layout)).eval()
    ids = torch.randint(0, 96, (2, 32))
    changed = ids.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % 96
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert a.shape == (2, 32, 96)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_flags_build_the_named_parameters(layout):
    names = set(dict(Falcon(_cfg(layout)).named_parameters()))
    has_norm_2 = "blocks.0.norm_2.weight" in names
    assert has_norm_2 == (layout != "7b")
    assert ("blocks.0.attn.qkv.bias" in names) == (layout == "rw")
    qkv = dict(Falcon(_cfg(layout)).named_parameters())["blocks.0.attn.qkv.weight"]
    cfg = _cfg(layout)
    assert qkv.shape == ((cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim, cfg.d_model)


def test_input_and_output_embeddings_are_tied():
    model = Falcon(_cfg("7b"))
    assert not any("lm_head" in n for n, _ in model.named_parameters())
    captured = []
    model.norm_f.register_forward_hook(lambda mod, inp, out: captured.append(out))
    with torch.no_grad():
        logits = model(torch.randint(0, 96, (1, 8)))
    torch.testing.assert_close(logits, captured[0] @ model.wte.weight.t())


def test_rope_depends_only_on_relative_position():
    rope = rope_tables(16, 8, 10000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    at = lambda x, pos: apply_rope(x.expand(1, 16, 1, 8), rope)[0, pos, 0]  # noqa: E731
    dot = lambda i, j: float(at(q, i) @ at(k, j))  # noqa: E731
    assert dot(5, 3) == pytest.approx(dot(12, 10), abs=1e-5)
    assert float(at(q, 7).norm()) == pytest.approx(float(q.norm()), abs=1e-5)  # a rotation


def test_alibi_slopes_follow_press_et_al():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -i for i in range(1, 9)]))
    # 6 heads: the 4-head series, then every other slope of the 8-head series
    expected = [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]
    torch.testing.assert_close(alibi_slopes(6), torch.tensor(expected))


def test_alibi_bias_is_causal_and_grows_with_key_position():
    bias = alibi_bias(2, 5, head_dim=4)  # (1, H, T, T)
    assert bias.shape == (1, 2, 5, 5)
    assert torch.isinf(bias[0, :, 1, 2:]).all() and torch.isfinite(bias[0, :, 4]).all()
    torch.testing.assert_close(bias[0, 0, 4], torch.arange(5.0) * 2.0 ** -4 / 2)  # slope 1/16, / sqrt(4)


def test_meta_init_then_to_empty_matches_a_fresh_model_shape():
    with torch.device("meta"):
        model = Falcon(_cfg("7b"))
    model.to_empty(device="cpu")
    model.init_weights()
    assert model.rope.shape == (2, 32, 16)
    assert torch.isfinite(model(torch.zeros(1, 4, dtype=torch.long))).all()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bf16_autocast_forward_and_backward_run_every_layout(layout):
    # the GPU path (bf16 autocast) exercised on CPU: dtypes of RoPE tables, ALiBi mask and fused loss
    torch.manual_seed(0)
    model = Falcon(_cfg(layout))
    ids = torch.randint(0, 96, (2, 32))
    fp32 = model(ids, ids, 1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(ids, ids, 1e-4)
        bf16.loss.backward()
    assert bf16.ce.item() == pytest.approx(fp32.ce.item(), abs=0.02)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in model.parameters())
