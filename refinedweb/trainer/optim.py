"""AdamW without weight decay on norms and biases, and the warm-up + cosine learning-rate schedule.

The schedule is a pure function of the step, so a resumed run needs no scheduler state: linear
warm-up to the peak, then a half cosine down to ``min_lr_ratio`` x peak at ``decay_steps``, flat
after (Falcon model cards, "Training Hyperparameters"; Loshchilov & Hutter 2017 for the cosine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from refinedweb.config import check, check_finite


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up and cosine decay (Falcon model cards, "Training Hyperparameters")."""

    lr: float = 6e-4
    """Peak learning rate (Falcon-7B card: 6e-4; 40B: 1.85e-4; RW-1B: 2e-4)."""
    min_lr_ratio: float = 0.1
    """Cosine floor as a fraction of the peak (40B and RW-1B cards: 10%; 7B: 1.2e-5/6e-4 = 2%)."""
    warmup_steps: int = 2000
    """Linear warm-up steps (the cards give 4B tokens; 4e9 / (batch x seq_len) steps)."""
    decay_steps: int | None = None
    """Steps from start to the end of the cosine; null = ``train.max_steps``."""
    beta1: float = 0.9
    """AdamW beta1 (GPT-3 Table 2.1, which the Falcon cards adopt)."""
    beta2: float = 0.95
    """AdamW beta2 (GPT-3)."""
    eps: float = 1e-8
    """AdamW epsilon (GPT-3)."""
    weight_decay: float = 0.1
    """Decoupled weight decay on matrices and embeddings, none on norms and biases (Falcon cards: 1e-1)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip; 0 disables (GPT-3: 1.0)."""
    z_loss: float = 1e-4
    """Coefficient of log(Z)^2 added to the loss (Falcon-7B/40B cards: 1e-4; PaLM Sec. 5)."""

    def __post_init__(self) -> None:
        check_finite(self)
        check(0 < self.lr <= 1, "lr", "must be in (0, 1] (Falcon: 6e-4 to 2e-4; AdamW steps are about lr in size)")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "must be in [0, 1]")
        check(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        check(self.decay_steps is None or self.decay_steps > self.warmup_steps, "decay_steps",
              f"must be > warmup_steps ({self.warmup_steps}) or null")
        check(0 <= self.beta1 < 1, "beta1", "must be in [0, 1)")
        check(0 <= self.beta2 < 1, "beta2", "must be in [0, 1)")
        check(0 < self.eps < 1, "eps", "must be in (0, 1)")
        check(0 <= self.weight_decay <= 1, "weight_decay", "must be in [0, 1] (AdamW scales weights by 1 - lr x decay)")
        check(self.grad_clip >= 0, "grad_clip", "must be >= 0")
        check(0 <= self.z_loss <= 1, "z_loss", "must be in [0, 1] (Falcon: 1e-4)")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Matrices and embeddings decay; vectors (LayerNorm weights and every bias) do not."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW (betas 0.9/0.95, decoupled decay 0.1) with PyTorch's fused kernel (CPU and CUDA)."""
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=True,
    )


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): warm-up, cosine to the floor, then the floor."""
    peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    decay_steps = cfg.decay_steps or max_steps
    span = max(1, decay_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
