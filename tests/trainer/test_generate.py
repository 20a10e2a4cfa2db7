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
