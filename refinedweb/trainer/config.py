"""The trainer's configs: model shape, data, optimizer and loop, composed in one YAML-backed run config.

Defaults are Falcon's published numbers with their source; ``configs/train/*.yaml`` override them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from refinedweb.config import UserError, check, from_dict, load_yaml, to_dict

PRECISIONS = ("auto", "fp32", "bf16")
STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class ModelConfig:
    """A Falcon decoder; three flags pick the layout (see the diagram on ``model.Block``)."""

    enabled: bool = True
    """Always true for the model; kept for the one-switch-per-component convention."""
    vocab_size: int | None = None
    """Embedding rows; null takes the tokenizer's size rounded up to ``pad_vocab_multiple``."""
    pad_vocab_multiple: int = 64
    """Round a tokenizer-derived vocabulary up to this (Falcon's 65024 = 1016 x 64; GEMM-friendly)."""
    n_layer: int = 32
    """Decoder blocks (Falcon-7B: 32, config.json ``num_hidden_layers``)."""
    d_model: int = 4544
    """Width (Falcon-7B: 4544, ``hidden_size``)."""
    n_head: int = 71
    """Query heads (Falcon-7B: 71, head size 64)."""
    n_kv_head: int = 1
    """Key/value heads: 1 = multi-query (7B), a divisor of n_head = grouped (40B: 8), n_head = full (RW)."""
    parallel_residual: bool = True
    """Attention and MLP read the same input and are added together (7B, 40B); false = sequential (RW)."""
    shared_attention_norm: bool = True
    """With parallel_residual: one LayerNorm feeds both branches (7B); false = two (40B ``ln_attn``/``ln_mlp``)."""
    alibi: bool = False
    """ALiBi position biases instead of rotary embeddings (Falcon-RW; Press et al. 2022)."""
    bias: bool = False
    """Biases on the linear layers (Falcon-RW: true; 7B/40B: false). LayerNorms always have one."""
    rope_theta: float = 10000.0
    """Rotary base (Falcon-7B/40B config.json; Su et al. 2021)."""
    max_seq_len: int = 2048
    """Longest sequence the model is meant for (HF ``max_position_embeddings``; Falcon: 2048)."""
    norm_eps: float = 1e-5
    """LayerNorm epsilon (Falcon config.json ``layer_norm_epsilon``)."""
    init_std: float = 0.02
    """Std of the normal init of linear and embedding weights (HF ``initializer_range``)."""

    def __post_init__(self) -> None:
        check(self.vocab_size is None or self.vocab_size > 0, "vocab_size", "must be > 0 or null")
        check(self.pad_vocab_multiple >= 1, "pad_vocab_multiple", "must be >= 1")
        check(self.n_layer >= 1, "n_layer", "must be >= 1")
        check(self.n_head >= 1, "n_head", "must be >= 1")
        check(self.d_model % self.n_head == 0, "d_model", f"must be divisible by n_head ({self.n_head})")
        check((self.d_model // self.n_head) % 2 == 0, "d_model", "d_model / n_head (head size) must be even for RoPE")
        check(1 <= self.n_kv_head <= self.n_head and self.n_head % self.n_kv_head == 0,
              "n_kv_head", f"must divide n_head ({self.n_head})")
        check(self.rope_theta > 0, "rope_theta", "must be > 0")
        check(self.max_seq_len >= 1, "max_seq_len", "must be >= 1")
        check(self.norm_eps > 0, "norm_eps", "must be > 0")
        check(self.init_std > 0, "init_std", "must be > 0")

    @property
    def head_dim(self) -> int:
        """Size of one attention head."""
        return self.d_model // self.n_head

    def with_vocab(self, tokenizer_vocab: int) -> "ModelConfig":
        """This config with ``vocab_size`` resolved against a tokenizer of ``tokenizer_vocab`` entries."""
        if self.vocab_size is None:
            m = self.pad_vocab_multiple
            return dataclasses.replace(self, vocab_size=-(-tokenizer_vocab // m) * m)
        if self.vocab_size < tokenizer_vocab:
            raise UserError(f"model.vocab_size: {self.vocab_size} is smaller than the tokenizer's {tokenizer_vocab}")
        return self


@dataclass(frozen=True)
class DataConfig:
    """Where the token shards are and how they are packed into training sequences."""

    enabled: bool = True
    """Always true for training; kept for the one-switch-per-component convention."""
    path: str | None = None
    """Token folder with manifest.json (``--data`` overrides)."""
    tokenizer: str | None = None
    """Folder with the tokenizer.json the shards were made with; null = the manifest's recorded path."""
    seq_len: int = 2048
    """Tokens per training sequence (Falcon: 2048, model cards)."""
    shuffle: bool = True
    """Shuffle shard order and documents within a shard, per epoch, from ``train.seed``."""
    train_split: str = "train"
    """Manifest split to train on."""
    val_split: str = "val"
    """Manifest split for validation loss; skipped when the manifest lacks it."""

    def __post_init__(self) -> None:
        check(self.seq_len >= 2, "seq_len", "must be >= 2")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up and cosine decay (Falcon model cards, "Training Hyperparameters")."""

    enabled: bool = True
    """Always true for training; kept for the one-switch-per-component convention."""
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
        check(self.lr > 0, "lr", "must be > 0")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "must be in [0, 1]")
        check(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        check(self.decay_steps is None or self.decay_steps > self.warmup_steps, "decay_steps",
              f"must be > warmup_steps ({self.warmup_steps}) or null")
        check(0 <= self.beta1 < 1, "beta1", "must be in [0, 1)")
        check(0 <= self.beta2 < 1, "beta2", "must be in [0, 1)")
        check(self.eps > 0, "eps", "must be > 0")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(self.grad_clip >= 0, "grad_clip", "must be >= 0")
        check(self.z_loss >= 0, "z_loss", "must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """The loop: batch, steps, precision, logging, validation and checkpoints."""

    enabled: bool = True
    """Always true; kept for the one-switch-per-component convention."""
    max_steps: int = 317_000
    """Optimizer steps (Falcon-7B: 1.5T tokens / (2304 x 2048) ~ 317k)."""
    batch_size: int = 2304
    """Sequences per optimizer step over all ranks (Falcon-7B card: 2304)."""
    micro_batch_size: int = 1
    """Sequences per forward pass per rank; accumulation = batch_size / (micro x world size)."""
    seed: int = 1234
    """Seeds the initialisation and the data order."""
    precision: str = "auto"
    """auto = bf16 autocast on GPU, fp32 on CPU; or fp32 / bf16."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    strategy: str = "ddp"
    """Under torchrun: ddp (replicate) or fsdp (shard parameters, gradients and optimizer state)."""
    num_threads: int | None = None
    """CPU threads for torch (null = torch's default)."""
    log_every: int = 1
    """Write a metrics line every this many steps."""
    eval_every: int = 1000
    """Validation every this many steps (and at the end); 0 disables."""
    eval_batches: int = 50
    """Micro-batches per validation, over all ranks (the first eval_batches x micro_batch_size sequences)."""
    checkpoint_every: int = 1000
    """Checkpoint every this many steps (and at the end); 0 = only at the end."""
    keep_checkpoints: int = 3
    """Keep the newest this many checkpoints."""
    peak_tflops: float | None = None
    """Peak dense bf16 TFLOP/s of one device for MFU; null = look the GPU up (H100, H200, A100)."""
    progress: bool = True
    """Show a progress bar on rank 0."""

    def __post_init__(self) -> None:
        check(self.max_steps >= 1, "max_steps", "must be >= 1")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.micro_batch_size >= 1, "micro_batch_size", "must be >= 1")
        check(self.batch_size % self.micro_batch_size == 0, "batch_size", "must be a multiple of micro_batch_size")
        check(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        check(self.strategy in STRATEGIES, "strategy", f"must be one of {', '.join(STRATEGIES)}")
        check(self.num_threads is None or self.num_threads >= 1, "num_threads", "must be >= 1 or null")
        check(self.log_every >= 1, "log_every", "must be >= 1")
        check(self.eval_every >= 0, "eval_every", "must be >= 0")
        check(self.eval_batches >= 1, "eval_batches", "must be >= 1")
        check(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0")
        check(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")
        check(self.peak_tflops is None or self.peak_tflops > 0, "peak_tflops", "must be > 0 or null")


@dataclass(frozen=True)
class TrainRunConfig:
    """One training run: what ``configs/train/*.yaml`` holds."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """The network."""
    data: DataConfig = field(default_factory=DataConfig)
    """The token shards and packing."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The loop."""

    def __post_init__(self) -> None:
        check(self.data.seq_len <= self.model.max_seq_len, "data.seq_len",
              f"must be <= model.max_seq_len ({self.model.max_seq_len})")


def load_run_config(path: str | Path) -> TrainRunConfig:
    """Read a training YAML onto ``TrainRunConfig``; errors name the bad field."""
    return load_yaml(path, TrainRunConfig)


def run_config_from_dict(data: dict) -> TrainRunConfig:
    """Build a ``TrainRunConfig`` from a mapping (e.g. the copy saved in a run folder)."""
    return from_dict(TrainRunConfig, data)


def run_config_to_dict(cfg: TrainRunConfig) -> dict:
    """The plain-mapping form of a run config, for YAML and checkpoints."""
    return to_dict(cfg)
