"""fp32 linear layers through oneDNN: the same numbers as torch.nn.functional.linear, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refinedweb.trainer import onednn


@pytest.mark.skipif(not onednn.ENABLED, reason="this PyTorch has no oneDNN linear")
def test_onednn_linear_matches_torch_forward_and_backward():
    torch.manual_seed(0)
    x = torch.randn(4, 9, 24, requires_grad=True)
    w, b = torch.randn(40, 24, requires_grad=True), torch.randn(40, requires_grad=True)
    grad = torch.randn(4, 9, 40)
    out = onednn.linear(x, w, b)
    assert type(out.grad_fn).__name__ == "_LinearBackward"  # the oneDNN autograd function, not F.linear
    out.backward(grad)
    ours = x.grad.clone(), w.grad.clone(), b.grad.clone()
    x.grad = w.grad = b.grad = None
    F.linear(x, w, b).backward(grad)
    torch.testing.assert_close(onednn.linear(x, w, b), F.linear(x, w, b))
    for got, want in zip(ours, (x.grad, w.grad, b.grad)):
        torch.testing.assert_close(got, want)


def test_only_fp32_cpu_tensors_outside_autocast_take_the_onednn_path():
    x, w = torch.randn(2, 4), torch.randn(3, 4)
    assert onednn.usable(x, w) == onednn.ENABLED
    assert not onednn.usable(x.double(), w.double())
    assert not onednn.usable(x.bfloat16(), w.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn.usable(x, w)
        assert onednn.linear(x, w).dtype == torch.bfloat16  # autocast's own linear
    torch.testing.assert_close(onednn.mm_nt(x, w), x @ w.t())


def test_kernel_path_names_the_cpu_the_blas_and_the_isa(monkeypatch):
    import torch

    from refinedweb.trainer import onednn

    line = onednn.kernel_path()
    assert f"ISA {torch.backends.cpu.get_cpu_capability()}" in line and onednn.torch_blas() in line
    assert ("fast path on" in line) is onednn.ENABLED
    was = onednn.ENABLED
    monkeypatch.setattr(onednn, "ENABLED", not was)
    assert ("fast path on" in onednn.kernel_path()) is (not was)
    assert onednn.cpu_model() and onednn.cpu_model() != "unknown"
