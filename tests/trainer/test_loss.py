"""The output layer fused with cross-entropy and z-loss, against the plain autograd definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refinedweb.trainer import loss as loss_mod
from refinedweb.trainer.model import ModelConfig
from refinedweb.trainer.loss import fused_lm_loss, reference_lm_loss
from refinedweb.trainer.model import Falcon


@pytest.mark.parametrize("chunk_elements", [1 << 22, 500])  # one chunk / many chunks of 5 rows
def test_fused_loss_matches_autograd_reference(chunk_elements, monkeypatch):
    monkeypatch.setitem(loss_mod.CHUNK_ELEMENTS, "cpu", chunk_elements)
    torch.manual_seed(0)
    hidden = torch.randn(3, 37, 32, requires_grad=True)
    weight = torch.randn(96, 32, requires_grad=True)
    targets = torch.randint(0, 96, (3, 37))
    fused = fused_lm_loss(hidden, weight, targets, z_coef=1e-2)
    (fused.loss * 0.5).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref = reference_lm_loss(hidden @ weight.t(), targets, z_coef=1e-2)
    (ref.loss * 0.5).backward()
    torch.testing.assert_close(fused.loss, ref.loss)
    torch.testing.assert_close(fused.ce, ref.ce)
    torch.testing.assert_close(fused.z, ref.z)
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], weight.grad)
    assert ref.ce.item() == pytest.approx(F.cross_entropy((hidden @ weight.t()).view(-1, 96), targets.view(-1)).item())


def test_fused_loss_without_grad_takes_the_chunked_eval_path():
    torch.manual_seed(0)
    hidden, weight, targets = torch.randn(50, 16), torch.randn(40, 16), torch.randint(0, 40, (50,))
    with torch.no_grad():
        got = fused_lm_loss(hidden, weight, targets, z_coef=1e-4)
    ref = reference_lm_loss(hidden @ weight.t(), targets, z_coef=1e-4)
    torch.testing.assert_close(got.loss, ref.loss)


def test_model_loss_equals_loss_of_its_logits():
    torch.manual_seed(0)
    model = Falcon(ModelConfig(vocab_size=96, n_layer=2, d_model=64, n_head=4, max_seq_len=32))
    ids, targets = torch.randint(0, 96, (2, 16)), torch.randint(0, 96, (2, 16))
    out = model(ids, targets, z_loss=1e-4)
    ref = reference_lm_loss(model(ids), targets, z_coef=1e-4)
    torch.testing.assert_close(out.loss, ref.loss)
