"""Hugging Face Falcon folders: write ours so ``FalconForCausalLM`` loads them as is, and read theirs.

The only non-trivial part of the mapping is the fused query/key/value projection. We keep it as
[all query heads | key heads | value heads]; ``transformers`` (modeling_falcon.py, ``_split_heads``)
expects it interleaved per key/value group, ``n_kv_head`` groups of [r query heads, key, value]
with r = n_head / n_kv_head. That one rule covers all three layouts: RW (r = 1: per head q, k, v),
7B (one group: all queries, then k, then v) and 40B/180B (8 groups).

No ``transformers`` import here: exporting needs only ``safetensors`` and ``json``.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

from refinedweb.config import UserError
from refinedweb.core.storage import Remote, StoragePath, copy_file, download_tree, location, upload_tree
from refinedweb.trainer.model import Falcon, ModelConfig

HF_PREFIX = "transformer."
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# --- the fused QKV layout ---------------------------------------------------------------------------

def qkv_to_hf(t: torch.Tensor, n_head: int, n_kv_head: int, head_dim: int) -> torch.Tensor:
    """Rows [q | k | v] (weight (rows, C) or bias (rows,)) to Falcon's per-group [q..q, k, v]."""
    rest = t.shape[1:]
    r = n_head // n_kv_head
    q, k, v = t.split([n_head * head_dim, n_kv_head * head_dim, n_kv_head * head_dim])
    q = q.reshape(n_kv_head, r * head_dim, *rest)  # (groups, r * hd, ...)
    k = k.reshape(n_kv_head, head_dim, *rest)  # (groups, hd, ...)
    v = v.reshape(n_kv_head, head_dim, *rest)
    return torch.cat((q, k, v), dim=1).reshape(-1, *rest)  # ((H + 2KV) * hd, ...)


def qkv_from_hf(t: torch.Tensor, n_head: int, n_kv_head: int, head_dim: int) -> torch.Tensor:
    """Falcon's per-group [q..q, k, v] rows back to [q | k | v]."""
    rest = t.shape[1:]
    r = n_head // n_kv_head
    groups = t.reshape(n_kv_head, (r + 2) * head_dim, *rest)  # (groups, (r + 2) * hd, ...)
    q, k, v = groups.split([r * head_dim, head_dim, head_dim], dim=1)
    return torch.cat((q.reshape(-1, *rest), k.reshape(-1, *rest), v.reshape(-1, *rest)))


# --- config.json ------------------------------------------------------------------------------------

def _layout(cfg: ModelConfig) -> dict[str, Any]:
    """The HF flags (new_decoder_architecture, multi_query, parallel_attn, ...) for our three flags."""
    grouped = 1 < cfg.n_kv_head < cfg.n_head
    if not cfg.parallel_residual:
        if grouped:
            raise UserError("HF Falcon cannot express a sequential block with grouped key/value heads "
                            f"(n_kv_head={cfg.n_kv_head}); use 1 or n_head")
        return {"new_decoder_architecture": False, "parallel_attn": False, "multi_query": cfg.n_kv_head == 1,
                "num_kv_heads": cfg.n_kv_head, "num_ln_in_parallel_attn": None}
    if cfg.shared_attention_norm and not grouped:
        return {"new_decoder_architecture": False, "parallel_attn": True, "multi_query": cfg.n_kv_head == 1,
                "num_kv_heads": cfg.n_kv_head, "num_ln_in_parallel_attn": None}
    return {"new_decoder_architecture": True, "parallel_attn": True, "multi_query": True,
            "num_kv_heads": cfg.n_kv_head, "num_ln_in_parallel_attn": 1 if cfg.shared_attention_norm else 2}


def hf_config(cfg: ModelConfig, eot_id: int, dtype: str = "float32") -> dict[str, Any]:
    """The ``config.json`` of a ``FalconForCausalLM`` with our weights."""
    return {
        "architectures": ["FalconForCausalLM"],
        "model_type": "falcon",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        **_layout(cfg),
        "alibi": cfg.alibi,
        "bias": cfg.bias,
        "ffn_hidden_size": 4 * cfg.d_model,
        "activation": "gelu",
        "layer_norm_epsilon": cfg.norm_eps,
        "max_position_embeddings": cfg.max_seq_len,
        "rope_theta": cfg.rope_theta,  # read by transformers < 5
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "initializer_range": cfg.init_std,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "use_cache": True,
        "torch_dtype": dtype,
    }


def model_config_from_hf(config: Mapping[str, Any]) -> ModelConfig:
    """Our ``ModelConfig`` for an HF Falcon ``config.json``; layouts we cannot run are ``UserError``s."""
    if config.get("model_type") != "falcon":
        raise UserError(f"config.json: model_type must be 'falcon', got {config.get('model_type')!r}")
    d_model = int(config.get("hidden_size", config.get("n_embed", 4544)))
    n_head = int(config.get("num_attention_heads", config.get("n_head", 71)))
    if config.get("ffn_hidden_size") not in (None, 4 * d_model) or config.get("activation", "gelu") != "gelu":
        raise UserError("config.json: only the 4x GELU MLP of Falcon 7B/40B/180B/RW is supported")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise UserError(f"config.json: rope scaling {rope!r} is not supported")
    if config.get("new_decoder_architecture", False):
        layout = dict(parallel_residual=True, n_kv_head=int(config.get("num_kv_heads") or n_head),
                      shared_attention_norm=config.get("num_ln_in_parallel_attn") == 1)
    else:
        multi_query = config.get("multi_query", True)
        layout = dict(parallel_residual=bool(config.get("parallel_attn", True)), shared_attention_norm=True,
                      n_kv_head=1 if multi_query else n_head)
    return ModelConfig(
        vocab_size=int(config.get("vocab_size", 65024)),
        n_layer=int(config.get("num_hidden_layers", config.get("n_layer", 32))),
        d_model=d_model,
        n_head=n_head,
        alibi=bool(config.get("alibi", False)),
        bias=bool(config.get("bias", False)),
        rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        max_seq_len=int(config.get("max_position_embeddings", 2048)),
        norm_eps=float(config.get("layer_norm_epsilon", 1e-5)),
        init_std=float(config.get("initializer_range", 0.02)),
        **layout,
    )


# --- weights ----------------------------------------------------------------------------------------

def _norm_names(cfg: ModelConfig) -> tuple[str, str | None]:
    """HF names of our norm_1 and norm_2 in one block."""
    if not cfg.parallel_residual:
        return "input_layernorm", "post_attention_layernorm"
    if cfg.shared_attention_norm:
        return "input_layernorm", None
    return "ln_attn", "ln_mlp"


def _name_map(cfg: ModelConfig) -> dict[str, str]:
    """Our parameter name -> HF parameter name (without the QKV reordering)."""
    norm_1, norm_2 = _norm_names(cfg)
    names = {"wte.weight": "transformer.word_embeddings.weight"}
    for what in ("weight", "bias"):
        names[f"norm_f.{what}"] = f"transformer.ln_f.{what}"
    linears = {"attn.qkv": "self_attention.query_key_value", "attn.proj": "self_attention.dense",
               "mlp.fc": "mlp.dense_h_to_4h", "mlp.proj": "mlp.dense_4h_to_h"}
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        for what in ("weight", "bias"):
            names[f"{ours}norm_1.{what}"] = f"{theirs}{norm_1}.{what}"
            if norm_2 is not None:
                names[f"{ours}norm_2.{what}"] = f"{theirs}{norm_2}.{what}"
            for mine, hf in linears.items():
                if what == "weight" or cfg.bias:
                    names[f"{ours}{mine}.{what}"] = f"{theirs}{hf}.{what}"
    return names


def to_hf_state_dict(state: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our state dict as HF Falcon tensors (QKV interleaved; the tied ``lm_head`` left out)."""
    out = {}
    for ours, theirs in _name_map(cfg).items():
        t = state[ours]
        if ".attn.qkv." in ours:
            t = qkv_to_hf(t, cfg.n_head, cfg.n_kv_head, cfg.head_dim)
        out[theirs] = t.contiguous()
    return out


def from_hf_state_dict(hf: Mapping[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """HF Falcon tensors as our state dict; a missing tensor or an untied ``lm_head`` is a ``UserError``."""
    hf = {(k if k.startswith(HF_PREFIX) or k == "lm_head.weight" else HF_PREFIX + k): v for k, v in hf.items()}
    head = hf.get("lm_head.weight")
    if head is not None and not torch.equal(head, hf.get("transformer.word_embeddings.weight", head)):
        raise UserError("lm_head.weight differs from the input embeddings; only tied Falcon models are supported")
    out = {}
    for ours, theirs in _name_map(cfg).items():
        if theirs not in hf:
            raise UserError(f"HF checkpoint lacks {theirs} (config.json and weights disagree?)")
        t = hf[theirs]
        if ".attn.qkv." in ours:
            t = qkv_from_hf(t, cfg.n_head, cfg.n_kv_head, cfg.head_dim)
        out[ours] = t
    return out


def _read_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of an HF folder: model.safetensors, a sharded index, or pytorch_model.bin."""
    def load_bin(path: Path) -> dict[str, torch.Tensor]:
        return torch.load(path, map_location="cpu", weights_only=True)

    for index_name, loader in (("model.safetensors.index.json", load_file), ("pytorch_model.bin.index.json", load_bin)):
        index = hf_dir / index_name
        if index.is_file():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            tensors: dict[str, torch.Tensor] = {}
            for name in files:
                tensors.update(loader(hf_dir / name))
            return tensors
    if (hf_dir / "model.safetensors").is_file():
        return load_file(hf_dir / "model.safetensors")
    if (hf_dir / "pytorch_model.bin").is_file():
        return load_bin(hf_dir / "pytorch_model.bin")
    raise UserError(f"{hf_dir}: no model.safetensors, sharded index or pytorch_model.bin")


def load_hf(hf_dir: str | StoragePath, device: str | torch.device = "cpu") -> Falcon:
    """Build our ``Falcon`` from an HF Falcon folder (config.json + weights), in fp32."""
    hf_dir = location(hf_dir)
    if isinstance(hf_dir, Remote):  # safetensors reads local files
        with tempfile.TemporaryDirectory(prefix="refinedweb-hf-") as local:
            return load_hf(download_tree(hf_dir, Path(local)), device)
    config_path = hf_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{config_path}: not found (is {hf_dir} a Hugging Face model folder?)")
    cfg = model_config_from_hf(json.loads(config_path.read_text(encoding="utf-8")))
    state = from_hf_state_dict(_read_weights(hf_dir), cfg)
    with torch.device("meta"):
        model = Falcon(cfg)
    model.to_empty(device=device)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.init_buffers()
    return model.eval()


def _write_shards(tensors: dict[str, torch.Tensor], hf_dir: Path, max_shard_bytes: int) -> None:
    """model.safetensors, or numbered shards plus model.safetensors.index.json past ``max_shard_bytes``."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], hf_dir / "model.safetensors", metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, hf_dir / fname, metadata={"format": "pt"})
        weight_map.update({name: fname for name in shard})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (hf_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def _remove_stale(hf_dir: StoragePath) -> None:
    """Delete what an earlier export (or another model) left that loaders would read: weights, index, tokenizer.

    A sharded export followed by a single-file one would otherwise leave the old index, which
    ``transformers`` and ``load_hf`` read before model.safetensors; and an old tokenizer_config.json
    would be kept instead of the new one.
    """
    patterns = ("model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin",
                "pytorch_model.bin.index.json", "config.json", "generation_config.json", *TOKENIZER_FILES)
    for pattern in patterns:
        for path in hf_dir.glob(pattern):
            if path.is_file():
                path.unlink()


def _write_tokenizer(tokenizer_dir: StoragePath, hf_dir: Path, eot_id: int, max_len: int) -> None:
    """Copy the tokenizer files; write a tokenizer_config.json naming the end-of-text token if absent."""
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            copy_file(tokenizer_dir / name, hf_dir / name)
    if not (hf_dir / "tokenizer_config.json").is_file():
        from tokenizers import Tokenizer

        eot = Tokenizer.from_str((tokenizer_dir / "tokenizer.json").read_text()).id_to_token(eot_id)
        (hf_dir / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": eot, "eos_token": eot,
            "model_max_length": max_len, "clean_up_tokenization_spaces": False}, indent=2))


def save_hf(
    model: Falcon,
    hf_dir: str | StoragePath,
    *,
    eot_id: int,
    tokenizer_dir: str | StoragePath | None = None,
    dtype: str = "float32",
    max_shard_bytes: int = 5 << 30,
) -> StoragePath:
    """Write ``model`` as an HF Falcon folder: config.json, safetensors, tokenizer files.

    On object storage the folder is written locally, then uploaded with ``config.json`` last
    (what loaders open first), after the stale files of an earlier export are deleted.
    """
    if dtype not in DTYPES:
        raise UserError(f"--dtype: must be one of {', '.join(DTYPES)}, got {dtype!r}")
    out = location(hf_dir)
    if isinstance(out, Remote):
        with tempfile.TemporaryDirectory(prefix="refinedweb-hf-") as local:
            save_hf(model, local, eot_id=eot_id, tokenizer_dir=tokenizer_dir, dtype=dtype, max_shard_bytes=max_shard_bytes)
            _remove_stale(out)
            upload_tree(Path(local), out, last=("config.json",))
        return out
    cfg = model.cfg
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    state = {k: v.detach().to("cpu", DTYPES[dtype]) for k, v in model.state_dict().items()}
    _write_shards(to_hf_state_dict(state, cfg), out, max_shard_bytes)
    (out / "config.json").write_text(json.dumps(hf_config(cfg, eot_id, dtype), indent=2))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": eot_id, "eos_token_id": eot_id}, indent=2))
    if tokenizer_dir is not None:
        _write_tokenizer(location(tokenizer_dir), out, eot_id, cfg.max_seq_len)
    return out


def same_shape(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Fields (other than init) on which two model configs differ: what makes weights incompatible."""
    skip = {"init_std", "pad_vocab_multiple"}
    return [f.name for f in dataclasses.fields(a) if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)]


def export_run(run_dir: str | StoragePath, hf_dir: str | StoragePath, *, step: int | None = None, dtype: str = "float32") -> StoragePath:
    """``refinedweb export``: a run's newest checkpoint (or ``step``) as an HF Falcon folder with its tokenizer."""
    from refinedweb.trainer import checkpoint as ckpt

    run_dir = location(run_dir)
    info = ckpt.read_run_info(run_dir)["tokenizer"]
    model = ckpt.load_run_model(run_dir, step)
    return save_hf(model, hf_dir, eot_id=int(info["eot_id"]), tokenizer_dir=run_dir / ckpt.TOKENIZER, dtype=dtype)
