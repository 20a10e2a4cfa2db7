"""Parity with transformers' FalconForCausalLM for the three Falcon layouts, both directions."""

from __future__ import annotations

import json

import pytest
import torch

from refinedweb.config import UserError
from refinedweb.trainer.hf import (
    load_hf,
    model_config_from_hf,
    qkv_from_hf,
    qkv_to_hf,
    save_hf,
)
from refinedweb.trainer.model import Falcon, ModelConfig

transformers = pytest.importorskip("transformers")

LAYOUTS = {
    # Falcon-7B: multi-query, attention and MLP in parallel from one LayerNorm, rotary, no biases
    "7b": dict(n_head=8, n_kv_head=1, parallel_residual=True, shared_attention_norm=True),
    # Falcon-40B/180B: 8 query heads in 2 key/value groups, two parallel LayerNorms
    "40b": dict(n_head=8, n_kv_head=2, parallel_residual=True, shared_attention_norm=False),
    # Falcon-RW: sequential, full multi-head, ALiBi, biases; 6 heads exercise the non-power-of-2 slopes
    "rw": dict(n_head=6, n_kv_head=6, parallel_residual=False, alibi=True, bias=True),
}
SEQ = 300  # > 256: ALiBi's bf16-rounded slope x position differs from the exact product from here


def _config(layout: str) -> ModelConfig:
    kw = LAYOUTS[layout]
    return ModelConfig(vocab_size=128, n_layer=2, d_model=16 * kw["n_head"], max_seq_len=SEQ, **kw)


def _perturbed(cfg: ModelConfig) -> Falcon:
    """Our model with every parameter (LayerNorms and biases included) away from its init."""
    torch.manual_seed(0)
    model = Falcon(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("layout", LAYOUTS)
def test_exported_model_gives_transformers_the_same_logits(layout, tmp_path):
    ours = _perturbed(_config(layout))
    save_hf(ours, tmp_path, eot_id=0)
    theirs = transformers.FalconForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids = torch.randint(0, 128, (2, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_transformers_model_imported_gives_the_same_logits(layout, tmp_path):
    from refinedweb.trainer.hf import hf_config

    cfg = _config(layout)
    skip = ("architectures", "model_type", "torch_dtype")
    fields = {k: v for k, v in hf_config(cfg, eot_id=0).items() if k not in skip}
    torch.manual_seed(0)
    theirs = transformers.FalconForCausalLM(transformers.FalconConfig(**fields)).eval()
    with torch.no_grad():
        for p in theirs.parameters():  # LayerNorms and biases start at 1 / 0: move them too
            p.add_(torch.randn_like(p) * 0.05)
    theirs.save_pretrained(tmp_path)
    ours = load_hf(tmp_path)
    assert ours.cfg == cfg
    ids = torch.randint(0, 128, (2, SEQ), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_greedy_generation_equals_transformers_generate(layout, tmp_path):
    from refinedweb.trainer.generate import sample

    ours = _perturbed(_config(layout))
    save_hf(ours, tmp_path, eot_id=0)
    theirs = transformers.FalconForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    prompt = torch.randint(1, 128, (1, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = theirs.generate(prompt, max_new_tokens=24, min_new_tokens=24, do_sample=False, pad_token_id=0)
    expected = out[0, prompt.shape[1]:].tolist()
    got = sample(ours, prompt[0].tolist(), max_new_tokens=24, temperature=0, eot_id=None)
    assert len(set(expected)) > 1 and got == expected


def test_config_json_carries_falcons_layout_flags(tmp_path):
    save_hf(_perturbed(_config("40b")), tmp_path, eot_id=0)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["new_decoder_architecture"] is True and config["num_kv_heads"] == 2
    assert config["num_ln_in_parallel_attn"] == 2
    save_hf(_perturbed(_config("7b")), tmp_path, eot_id=0)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["new_decoder_architecture"] is False and config["multi_query"] is True
    assert "lm_head.weight" not in __import__("safetensors.torch").torch.load_file(tmp_path / "model.safetensors")


def test_qkv_interleaving_is_per_group_and_invertible():
    H, KV, hd = 4, 2, 1
    # rows named by (kind, head): q0 q1 q2 q3 k0 k1 v0 v1
    ours = torch.arange(H + 2 * KV, dtype=torch.float32)[:, None]
    hf = qkv_to_hf(ours, H, KV, hd)[:, 0].tolist()
    assert hf == [0, 1, 4, 6, 2, 3, 5, 7]  # group 0: q0 q1 k0 v0; group 1: q2 q3 k1 v1
    torch.testing.assert_close(qkv_from_hf(qkv_to_hf(ours, H, KV, hd), H, KV, hd), ours)


def test_sharded_export_loads_in_transformers_and_back(tmp_path):
    ours = _perturbed(_config("7b"))
    save_hf(ours, tmp_path, eot_id=0, max_shard_bytes=200_000)
    assert (tmp_path / "model.safetensors.index.json").is_file()
    theirs = transformers.FalconForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids = torch.randint(0, 128, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(load_hf(tmp_path)(ids), ours(ids))
        torch.testing.assert_close(theirs(input_ids=ids).logits, ours(ids), atol=1e-5, rtol=1e-5)


def test_export_over_an_older_export_leaves_none_of_its_files(tmp_path):
    old = _perturbed(_config("7b"))
    save_hf(old, tmp_path, eot_id=0, max_shard_bytes=200_000)  # sharded: numbered files + index
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "old"}')
    (tmp_path / "README.md").write_text("kept")
    new = Falcon(_config("7b")).eval()  # other weights, one file
    save_hf(new, tmp_path, eot_id=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md", "config.json", "generation_config.json", "model.safetensors"]
    ids = torch.randint(0, 128, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(load_hf(tmp_path)(ids), new(ids))


def test_sequential_block_with_grouped_heads_cannot_be_exported(tmp_path):
    cfg = ModelConfig(vocab_size=64, n_layer=1, d_model=64, n_head=4, n_kv_head=2, parallel_residual=False)
    with pytest.raises(UserError, match="sequential block with grouped"):
        save_hf(Falcon(cfg), tmp_path, eot_id=0)


def test_unsupported_hf_configs_are_user_errors():
    with pytest.raises(UserError, match="model_type"):
        model_config_from_hf({"model_type": "llama"})
    with pytest.raises(UserError, match="4x GELU"):
        model_config_from_hf({"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4,
                              "ffn_hidden_size": 100})
    with pytest.raises(UserError, match="rope scaling"):
        model_config_from_hf({"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4,
                              "rope_parameters": {"rope_type": "linear", "factor": 2.0}})


def test_hf_defaults_read_as_falcon_7b_layout():
    cfg = model_config_from_hf({"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4,
                                "num_hidden_layers": 2, "vocab_size": 100})
    assert (cfg.n_kv_head, cfg.parallel_residual, cfg.shared_attention_norm, cfg.alibi) == (1, True, True, False)


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        load_hf(tmp_path)
