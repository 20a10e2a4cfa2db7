"""fp32 linear layers through oneDNN on CPU, where PyTorch's default BLAS (MKL) is slow.

PyTorch sends fp32 CPU matrix products to MKL, which takes its AVX2 code path on non-Intel CPUs;
oneDNN (bundled with PyTorch) picks its kernels from the CPU's features. On a 2-core AMD EPYC
(Zen 5, AVX-512) a (2048 x 256) @ (256 x 1024) product runs at 185 GFLOP/s through MKL and 458
through oneDNN. Both accumulate in fp32; results differ only in summation order.

The fast path is taken only for fp32 CPU tensors outside autocast and ``torch.compile``; anything
else (GPU, bf16, a PyTorch without the op) goes through ``torch.nn.functional.linear`` unchanged.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
# REFINEDWEB_ONEDNN=0 turns the fast path off (to compare, or should a PyTorch build misbehave).
ENABLED = _OP is not None and torch.backends.mkldnn.is_available() and os.environ.get("REFINEDWEB_ONEDNN", "1") != "0"


def _mm_nt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T through oneDNN; a: (..., K), b: (N, K), either may be a transposed view."""
    return _OP(a, b, None, "none", [], "")


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the oneDNN path applies to these tensors (fp32, CPU, no autocast, not compiling)."""
    if not ENABLED or torch.compiler.is_compiling() or torch.is_autocast_enabled("cpu"):
        return False
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


class _Linear(torch.autograd.Function):
    """y = x @ w.T + b with all three products of forward and backward in oneDNN."""

    @staticmethod
    def forward(ctx, x, weight, bias):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _OP(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _mm_nt(grad_out, weight.t())  # (..., out) @ (out, in) = (..., in)
        flat_grad = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out)
        if ctx.needs_input_grad[1]:
            grad_w = _mm_nt(flat_grad.t(), x.reshape(-1, x.shape[-1]).t())  # (out, N) @ (N, in) = (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = flat_grad.sum(0)
        return grad_x, grad_w, grad_b


MIN_ROWS = 16
"""Fewer rows (a decode step's one token) go to ``F.linear``: a oneDNN primitive's fixed cost loses there.
Measured on the 2-core AMD EPYC, (M x 256) @ (256 x 768), 2 threads: M=1 26.5 us oneDNN vs 14.7 torch,
M=16 49.7 vs 54.0, M=64 84.5 vs 155.4."""


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` with the oneDNN path on fp32 CPU tensors of at least ``MIN_ROWS`` rows."""
    if x.numel() >= MIN_ROWS * x.shape[-1] and usable(x, weight):
        return _Linear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


def mm_nt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T without autograd (for code that forms its own gradients), oneDNN where usable."""
    return _mm_nt(a, b) if usable(a, b) else a @ b.t()


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo ("model name"), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def torch_blas() -> str:
    """The BLAS torch was built with (``BLAS_INFO`` of ``torch.__config__.show()``: mkl, openblas, ...)."""
    import re

    match = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


def kernel_path() -> str:
    """One line saying which fp32 CPU kernels a run uses: the oneDNN linear path, torch's BLAS, the ISA.

    Benchmarks print it because their ratios depend on it (MKL takes its AVX2 code on AMD CPUs).
    """
    linear = "oneDNN" if ENABLED else f"torch ({torch_blas()})"
    return (f"linear layers via {linear}, oneDNN fast path {'on' if ENABLED else 'off'}, "
            f"torch BLAS {torch_blas()}, ISA {torch.backends.cpu.get_cpu_capability()}")
