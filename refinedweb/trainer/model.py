"""A Falcon decoder in one file: the 7B, 40B/180B and RW layouts are three flags on one block.

Rotary embeddings in the rotate-half convention (or ALiBi for RW), multi-query / grouped-query
attention through ``scaled_dot_product_attention`` (flash attention on GPU), a 4x GELU MLP, tied
input/output embeddings and no dropout (Penedo et al. 2023; Almazrouei et al. 2023, "The Falcon
Series"). Weights map one to one onto ``transformers``' ``FalconForCausalLM`` (see ``hf.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from refinedweb.config import UserError, check, check_finite
from refinedweb.trainer import onednn
from refinedweb.trainer.loss import fused_lm_loss


@dataclass(frozen=True)
class ModelConfig:
    """A Falcon decoder; three flags pick the layout (see the diagram on ``model.Block``)."""

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
        check_finite(self)
        check(0 < self.norm_eps < 1, "norm_eps", "must be in (0, 1)")
        check(0 < self.init_std <= 1, "init_std", "must be in (0, 1] (Falcon: 0.02; larger saturates the softmax)")

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


def rope_tables(seq_len: int, head_dim: int, theta: float, device: torch.device | None = None) -> torch.Tensor:
    """cos and sin of the rotary angles, stacked as (2, T, head_dim) in fp32 (rotate-half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim))
    angles = torch.arange(seq_len, dtype=torch.float32, device=device)[:, None] * inv_freq  # (T, hd/2)
    angles = torch.cat((angles, angles), dim=-1)  # (T, hd): the two halves share frequencies
    return torch.stack((angles.cos(), angles.sin()))  # (2, T, hd)


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (B, T, heads, hd) by the (2, T, hd) tables: x*cos + rotate_half(x)*sin."""
    cos = rope[0, :, None, :].to(x.dtype)  # (T, 1, hd), broadcast over batch and heads
    sin = rope[1, :, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)  # 2 x (B, T, heads, hd/2)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def alibi_slopes(n_head: int) -> torch.Tensor:
    """ALiBi head slopes (Press et al. 2022): a geometric series, interleaved extras when n_head is not 2^k."""
    closest = 2 ** math.floor(math.log2(n_head))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest) - 3))), dtype=torch.float32)
    slopes = torch.pow(base, torch.arange(1, closest + 1, dtype=torch.int32))  # (closest,)
    if closest != n_head:
        extra = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest) - 3))), dtype=torch.float32)
        odd = torch.arange(1, 1 + 2 * min(closest, n_head - closest), 2, dtype=torch.int32)
        slopes = torch.cat((slopes, torch.pow(extra, odd)))  # (n_head,)
    return slopes


def alibi_bias(n_head: int, seq_len: int, head_dim: int, device: torch.device | None = None,
               start: int = 0) -> torch.Tensor:
    """Additive attention bias (1, H, T, start + T) of queries start..start+T-1: slope x key position, causal.

    Falcon-RW rounded ``slope x position`` to bfloat16 and added it before the 1/sqrt(head_dim) scaling
    (its modelling code, kept by transformers' ``build_alibi_tensor``); we do the same so its checkpoints
    behave as trained. A per-row constant, the key-only form equals the usual slope x (key - query).
    ``start`` > 0 gives the rows of tokens after ``start`` cached ones (keys 0..start+T-1).
    """
    slopes = alibi_slopes(n_head).to(device)
    keys = start + seq_len
    positions = torch.arange(keys, device=device)  # (L,) key positions
    bias = (slopes.bfloat16()[:, None] * positions).float() / math.sqrt(head_dim)  # (H, L)
    queries = torch.arange(start, keys, device=device)  # (T,) query positions
    causal = positions[None, :] <= queries[:, None]  # (T, L)
    bias = bias[:, None, :].expand(n_head, seq_len, keys)  # (H, T, L): same bias for every query
    return bias.masked_fill(~causal, float("-inf"))[None]  # (1, H, T, L)


class KVCache:
    """Keys and values of the tokens seen so far, for decoding one token at a time.

    Holds ``n_kv_head`` heads per layer, not ``n_head``: multi-query attention (Falcon-7B, one key/value
    head for 71 query heads) caches 71x less than full multi-head attention, which is what makes long
    contexts cheap to decode. Keys are stored after the rotary rotation, so positions are baked in.
    """

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        shape = (cfg.n_layer, batch, cfg.n_kv_head, max_len, cfg.head_dim)  # (layers, B, KV, L, hd)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0
        """Tokens cached so far; the next token's position."""

    @property
    def nbytes(self) -> int:
        """Bytes the cache holds (keys and values, all layers, the full ``max_len``)."""
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k``, ``v`` (B, KV, T, hd) at positions length..length+T; all keys and values so far."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KVCache: {end} tokens do not fit the {self.max_len} allocated")
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # (B, KV, length + T, hd) each


class Linear(nn.Linear):
    """``nn.Linear`` whose fp32 CPU products go through oneDNN (3x faster than MKL on AMD; ``onednn.py``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return onednn.linear(x, self.weight, self.bias)


class CausalSelfAttention(nn.Module):
    """Multi-head attention with ``n_kv_head`` key/value heads shared by groups of query heads.

    One fused projection yields [all query heads | key heads | value heads]; ``hf.py`` reorders it
    into Falcon's interleaved per-group layout on export.
    """

    def __init__(self, cfg: ModelConfig, layer: int = 0) -> None:
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim, self.layer = cfg.n_head, cfg.n_kv_head, cfg.head_dim, layer
        self.qkv = Linear(cfg.d_model, (cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim, bias=cfg.bias)
        self.proj = Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor, rope: torch.Tensor | None, bias: torch.Tensor | None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Attention over ``x`` (B, T, C); with ``cache``, over the cached tokens too, and ``x``'s are added."""
        B, T, C = x.shape
        H, KV, hd = self.n_head, self.n_kv_head, self.head_dim
        qkv = self.qkv(x).view(B, T, H + 2 * KV, hd)  # (B, T, H + 2KV, hd)
        qk, v = qkv.split([H + KV, KV], dim=2)  # (B, T, H + KV, hd), (B, T, KV, hd)
        if rope is not None:
            qk = apply_rope(qk, rope)  # queries and keys rotated in one pass
        q, k = qk.split([H, KV], dim=2)  # (B, T, H, hd), (B, T, KV, hd)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, heads, T, hd)
        causal = bias is None
        if cache is not None:
            past = cache.length
            k, v = cache.update(self.layer, k, v)  # (B, KV, past + T, hd)
            if causal and past > 0:  # queries past..past+T-1 see keys up to their own position
                causal = False
                if T > 1:
                    bias = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)  # (T, L)
        if bias is not None and bias.dtype not in (q.dtype, torch.bool):
            bias = bias.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, is_causal=causal, enable_gqa=KV != H
        )  # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, H * hd)
        return self.proj(y)


class MLP(nn.Module):
    """Two linear layers around an exact (erf) GELU, 4x the model width."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc = Linear(cfg.d_model, 4 * cfg.d_model, bias=cfg.bias)
        self.proj = Linear(4 * cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """One decoder block; two flags give Falcon's three residual layouts::

        sequential (RW)             parallel, shared norm (7B)      parallel, two norms (40B/180B)
        x = x + attn(norm_1(x))     h = norm_1(x)                   x = x + attn(norm_1(x))
        x = x + mlp(norm_2(x))      x = x + attn(h) + mlp(h)              + mlp(norm_2(x))

    ``parallel_residual`` picks the column, ``shared_attention_norm`` the 7B or 40B form of it.
    """

    def __init__(self, cfg: ModelConfig, layer: int = 0) -> None:
        super().__init__()
        self.parallel = cfg.parallel_residual
        self.norm_1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg, layer)
        shared = cfg.parallel_residual and cfg.shared_attention_norm
        self.norm_2 = None if shared else nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, rope: torch.Tensor | None, bias: torch.Tensor | None,
                cache: KVCache | None = None) -> torch.Tensor:
        h = self.norm_1(x)
        if not self.parallel:
            x = x + self.attn(h, rope, bias, cache)
            return x + self.mlp(self.norm_2(x))
        h_mlp = h if self.norm_2 is None else self.norm_2(x)
        return x + self.attn(h, rope, bias, cache) + self.mlp(h_mlp)


class Falcon(nn.Module):
    """Token ids (B, T) to next-token logits (B, T, vocab); the output layer is the embedding, tied."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size is None:
            raise ValueError("ModelConfig.vocab_size must be resolved (ModelConfig.with_vocab) before building")
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm_f = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.register_buffer("rope", torch.empty(0), persistent=False)
        self._alibi: dict[tuple, torch.Tensor] = {}
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Normal(0, init_std) weights, residual projections scaled by 1/sqrt(2 n_layer) (GPT-2 Sec. 2.3).

        Also recomputes the buffers, so a model built on the meta device can be materialised with
        ``to_empty`` and then initialised (or loaded, then ``init_buffers``).
        """
        std = self.cfg.init_std
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                scale = 1 / math.sqrt(2 * self.cfg.n_layer) if name.endswith(".proj") else 1.0
                nn.init.normal_(module.weight, mean=0.0, std=std * scale)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
        self.init_buffers()

    def init_buffers(self) -> None:
        """Compute the rotary tables on the model's device and forget cached ALiBi biases."""
        self._alibi.clear()
        if not self.cfg.alibi:
            cfg = self.cfg
            self.rope = rope_tables(cfg.max_seq_len, cfg.head_dim, cfg.rope_theta, self.wte.weight.device)

    def num_params(self) -> int:
        """Parameters, the tied embedding counted once."""
        return sum(p.numel() for p in self.parameters())

    def _positions(self, T: int, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Rotary tables or ALiBi bias for tokens start..start+T-1 (start > 0 after cached tokens)."""
        if not self.cfg.alibi:
            rope = self.rope
            if rope.shape[-2] < start + T or rope.device != x.device:
                rope = rope_tables(max(start + T, self.cfg.max_seq_len), self.cfg.head_dim, self.cfg.rope_theta,
                                   x.device)
                self.rope = rope
            return rope[:, start : start + T], None
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        key = (T, start, x.device, dtype)
        if key not in self._alibi:
            self._alibi.clear()
            self._alibi[key] = alibi_bias(self.cfg.n_head, T, self.cfg.head_dim, x.device, start).to(dtype)
        return None, self._alibi[key]

    def new_cache(self, batch: int = 1, max_len: int | None = None) -> KVCache:
        """An empty ``KVCache`` for ``batch`` sequences of up to ``max_len`` tokens (default ``max_seq_len``)."""
        w = self.wte.weight
        return KVCache(self.cfg, batch, max_len or self.cfg.max_seq_len, w.device, w.dtype)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, z_loss: float = 0.0,
                cache: KVCache | None = None):
        """Logits (B, T, vocab); or, given ``targets`` (B, T), the ``LMLoss`` without materialising them.

        With ``cache``, ``idx`` continues the cached tokens: their keys and values are reused, and
        those of ``idx`` are added (a prompt once, then one token per step).
        """
        B, T = idx.shape
        x = self.wte(idx)  # (B, T, C)
        start = cache.length if cache is not None else 0
        rope, bias = self._positions(T, x, start)
        for block in self.blocks:
            x = block(x, rope, bias, cache)  # (B, T, C)
        if cache is not None:
            cache.length += T
        x = self.norm_f(x)  # (B, T, C)
        if targets is not None:
            return fused_lm_loss(x, self.wte.weight, targets, z_loss)
        return onednn.linear(x, self.wte.weight)  # (B, T, vocab)
