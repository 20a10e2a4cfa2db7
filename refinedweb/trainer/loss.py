"""The output layer fused with cross-entropy and z-loss, chunk by chunk, so full logits never exist.

For each chunk of positions the logits are computed, reduced to the loss and turned into their
gradient at once (softmax minus one-hot), which is immediately folded into the gradients of the
hidden states and of the (tied) output weight. The (tokens x vocab) logits, the largest tensor of
a training step, are never stored: on GPU that is the memory of a 65k-vocabulary batch, on CPU it
keeps the softmax passes in cache. Same idea as Liger-Kernel's fused linear cross-entropy
(Hsu et al. 2024); the z-loss term is PaLM's (Chowdhery et al. 2022, Sec. 5): coef x log(Z)^2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from refinedweb.trainer.onednn import mm_nt

# Elements (rows x vocab) of one chunk of logits: small enough to stay in a CPU's cache, large
# enough to keep a GPU's matrix units busy.
CHUNK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 28}


class LMLoss(NamedTuple):
    """``loss`` (cross-entropy + z-loss) is what to backpropagate; ``ce`` and ``z`` are for logging."""

    loss: torch.Tensor
    ce: torch.Tensor
    z: torch.Tensor


def _compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else dtype


def _chunk_rows(device: torch.device, vocab: int) -> int:
    return max(1, CHUNK_ELEMENTS.get(device.type, 1 << 24) // vocab)


class _FusedHeadLoss(torch.autograd.Function):
    """Mean CE + coef x mean log(Z)^2 of ``hidden @ weight.T`` against ``targets``; grads made in forward."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, z_coef: float):  # type: ignore[override]
        n, width = hidden.shape
        dtype = _compute_dtype(hidden.device, hidden.dtype)
        chunk = _chunk_rows(hidden.device, weight.shape[0])
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)  # (vocab, C)
            grad_hidden = torch.empty(n, width, dtype=dtype, device=hidden.device)
            grad_weight = torch.zeros(w.shape, dtype=torch.float32, device=hidden.device)
            ce_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
            z_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
            for start in range(0, n, chunk):
                h = hidden[start : start + chunk].to(dtype)  # (c, C)
                t = targets[start : start + chunk, None]  # (c, 1)
                logits = mm_nt(h, w).float()  # (c, vocab)
                target_logit = logits.gather(1, t).squeeze(1)  # (c,)
                peak = logits.amax(dim=-1)  # (c,)
                grad = logits.sub_(peak[:, None]).exp_()  # (c, vocab): exp(logit - max), in place, one pass
                sum_exp = grad.sum(dim=-1)  # (c,)
                lse = peak + sum_exp.log()  # (c,) log Z
                ce_sum += (lse - target_logit).sum()
                z_sum += lse.square().sum()
                # d/dlogits of (ce + coef z) / n = softmax x (1 + 2 coef lse) / n - onehot / n
                grad.mul_(((1 + 2 * z_coef * lse) / (n * sum_exp))[:, None])
                grad.scatter_add_(1, t, torch.full(t.shape, -1.0 / n, dtype=grad.dtype, device=grad.device))
                grad = grad.to(dtype)
                grad_hidden[start : start + chunk] = mm_nt(grad, w.t())  # (c, C)
                grad_weight += mm_nt(grad.t(), h.t()).float()  # (vocab, C)
        ctx.save_for_backward(grad_hidden.to(hidden.dtype), grad_weight.to(weight.dtype))
        ce, z = ce_sum / n, z_sum / n
        ctx.mark_non_differentiable(ce, z)
        return ce + z_coef * z, ce, z

    @staticmethod
    def backward(ctx, grad_loss, _grad_ce, _grad_z):  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, grad_weight * grad_loss, None, None


@torch.no_grad()
def _chunked_eval_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, z_coef: float) -> LMLoss:
    n = hidden.shape[0]
    ce_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
    z_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
    chunk = _chunk_rows(hidden.device, weight.shape[0])
    for start in range(0, n, chunk):
        logits = mm_nt(hidden[start : start + chunk], weight).float()  # (c, vocab)
        lse = torch.logsumexp(logits, dim=-1)  # (c,)
        ce_sum += (lse - logits.gather(1, targets[start : start + chunk, None]).squeeze(1)).sum()
        z_sum += lse.square().sum()
    ce, z = ce_sum / n, z_sum / n
    return LMLoss(ce + z_coef * z, ce, z)


def fused_lm_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, z_coef: float) -> LMLoss:
    """Loss of the logits ``hidden @ weight.T`` (hidden: (..., C), targets: (...)) without storing them."""
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])  # (N, C)
    flat_targets = targets.reshape(-1).long()  # (N,)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return LMLoss(*_FusedHeadLoss.apply(flat_hidden, weight, flat_targets, float(z_coef)))
    return _chunked_eval_loss(flat_hidden, weight, flat_targets, z_coef)


def reference_lm_loss(logits: torch.Tensor, targets: torch.Tensor, z_coef: float) -> LMLoss:
    """The same loss from materialised logits (..., vocab): the plain autograd definition."""
    logits = logits.reshape(-1, logits.shape[-1]).float()  # (N, vocab)
    lse = torch.logsumexp(logits, dim=-1)  # (N,)
    ce = (lse - logits.gather(1, targets.reshape(-1, 1).long()).squeeze(1)).mean()
    z = lse.square().mean()
    return LMLoss(ce + z_coef * z, ce.detach(), z.detach())
