"""Sampling: greedy is deterministic, sampling follows the seed, the end-of-text token stops it."""

from __future__ import annotations

import pytest
import torch

from refinedweb.config import UserError
from refinedweb.trainer.model import ModelConfig
from refinedweb.trainer.generate import sample
from refinedweb.trainer.model import Falcon


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Falcon(ModelConfig(vocab_size=64, n_layer=1, d_model=32, n_head=2, max_seq_len=16)).eval()


def test_greedy_takes_the_argmax_every_step(model):
    out = sample(model, [1, 2, 3], max_new_tokens=5, temperature=0)
    context = [1, 2, 3]
    for token in out:
        with torch.no_grad():
            assert token == int(model(torch.tensor([context]))[0, -1].argmax())
        context.append(token)
    assert len(out) == 5


def test_sampling_is_reproducible_from_its_seed(model):
    a = sample(model, [1, 2], max_new_tokens=20, temperature=1.0, top_k=None, seed=3)
    b = sample(model, [1, 2], max_new_tokens=20, temperature=1.0, top_k=None, seed=3)
    assert a == b and len(a) == 20  # longer than max_seq_len - 2: the context is cropped


def test_top_1_equals_greedy_and_eot_stops(model):
    greedy = sample(model, [5], max_new_tokens=6, temperature=0)
    assert sample(model, [5], max_new_tokens=6, temperature=1.0, top_k=1) == greedy
    last = max(i for i, t in enumerate(greedy) if t not in greedy[:i])  # a token new at position `last`
    assert sample(model, [5], max_new_tokens=6, temperature=0, eot_id=greedy[last]) == greedy[:last]


def test_an_empty_prompt_is_a_user_error(model):
    with pytest.raises(UserError):
        sample(model, [], max_new_tokens=1)


LAYOUTS = {  # the three Falcon layouts of configs/train (shrunk)
    "7b": dict(n_head=4, n_kv_head=1, parallel_residual=True, shared_attention_norm=True),
    "40b": dict(n_head=4, n_kv_head=2, parallel_residual=True, shared_attention_norm=False),
    "rw": dict(n_head=4, n_kv_head=4, parallel_residual=False, alibi=True, bias=True),
}


def _layout_model(layout: str) -> Falcon:
    torch.manual_seed(0)
    model = Falcon(ModelConfig(vocab_size=96, n_layer=2, d_model=64, max_seq_len=40, **LAYOUTS[layout])).eval()
    with torch.no_grad():  # move LayerNorms and biases off their init too
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cached_logits_equal_uncached_for_every_layout(layout):
    model = _layout_model(layout)
    ids = torch.randint(0, 96, (2, 40))
    with torch.no_grad():
        full = model(ids)  # (2, 40, vocab), no cache
        cache = model.new_cache(batch=2)
        parts = [model(ids[:, :16], cache=cache)]  # prefill
        parts += [model(ids[:, t : t + 1], cache=cache) for t in range(16, 30)]  # one token per step
        parts.append(model(ids[:, 30:40], cache=cache))  # a chunk after cached tokens
    assert cache.length == 40
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_the_cache_holds_n_kv_head_heads():
    mqa, mha = _layout_model("7b"), _layout_model("rw")
    a, b = mqa.new_cache(max_len=40), mha.new_cache(max_len=40)
    assert a.k.shape == (2, 1, 1, 40, 16) and b.k.shape == (2, 1, 4, 40, 16)  # (layers, B, KV, L, hd)
    assert b.nbytes == 4 * a.nbytes == 4 * 2 * (2 * 40 * 16 * 4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cached_sampling_equals_uncached_within_the_window(layout):
    model = _layout_model(layout)
    greedy = sample(model, [1, 2, 3], max_new_tokens=30, temperature=0)
    assert greedy == sample(model, [1, 2, 3], max_new_tokens=30, temperature=0, use_cache=False)
    sampled = dict(max_new_tokens=30, temperature=1.0, top_k=None, seed=4)
    assert sample(model, [1, 2, 3], **sampled) == sample(model, [1, 2, 3], use_cache=False, **sampled)
