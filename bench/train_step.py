"""Training-step throughput on CPU: our trainer against transformers' FalconForCausalLM, same shape.

Both train the model of configs/train/tiny.yaml (4 blocks, width 256, 8 query heads sharing one
key/value head, parallel attention + MLP, rotary; 8 x 256 tokens per step) with an 8192-entry
vocabulary, on the same batches, with the same optimizer settings and PyTorch's fused AdamW
(transformers' Trainer default), gradient clipping at 1.0, fp32, the same thread count:

- ours: ``Trainer.train_step`` of refinedweb.trainer, exactly as ``refinedweb train`` runs it
  (data loading, forward, fused output layer + cross-entropy + z-loss, backward, clip, AdamW);
- transformers: ``FalconForCausalLM(input_ids, labels)`` with its own loss, then the same clip and
  optimizer step.

Steps alternate between the two so machine noise hits both alike; medians are reported.

    .venv/bin/python bench/train_step.py [--steps 12] [--threads 2]

It prints the CPU model and the kernel path (oneDNN linear on/off, torch's BLAS, the ISA): the
ratio differs a lot between CPUs because MKL takes its AVX2 code on AMD, so a figure means little
without them. ``REFINEDWEB_ONEDNN=0`` measures the torch-BLAS path.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from refinedweb.tokenize.manifest import tokenizer_sha256, write_manifest  # noqa: E402
from refinedweb.trainer import onednn  # noqa: E402
from refinedweb.trainer.train import load_run_config  # noqa: E402
from refinedweb.trainer.data import PackedBatches  # noqa: E402
from refinedweb.trainer.optim import build_optimizer, lr_at, set_lr  # noqa: E402
from refinedweb.trainer.train import Trainer  # noqa: E402


def make_token_folder(root: Path, vocab: int, n_tokens: int, seed: int) -> Path:
    """Synthetic documents (Zipf-like ids) with a word-level tokenizer of ``vocab`` entries, EOT = 0."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, models

    tok_dir = root / "tokenizer"
    tok_dir.mkdir(parents=True)
    words = {"<|endoftext|>": 0, **{f"w{i}": i for i in range(1, vocab)}}
    Tokenizer(models.WordLevel(words, unk_token="<|endoftext|>")).save(str(tok_dir / "tokenizer.json"))
    rng = np.random.default_rng(seed)
    docs, total = [], 0
    while total < n_tokens:
        n = int(rng.integers(50, 800))
        docs.append(((rng.zipf(1.2, n) % (vocab - 1)) + 1).tolist() + [0])
        total += n + 1
    (root / "train").mkdir()
    table = pa.table({"id": [str(i) for i in range(len(docs))], "input_ids": pa.array(docs, type=pa.list_(pa.uint16()))})
    pq.write_table(table, root / "train" / "00000.parquet")
    write_manifest(root, sha256=tokenizer_sha256(tok_dir), vocab_size=vocab, eot_id=0, dtype="uint16",
                   tokenizer_path=str(tok_dir),
                   splits={"train": [{"path": "train/00000.parquet", "documents": len(docs), "tokens": total}]})
    return root


def transformers_step_fn(run, model_cfg, data_dir: Path):
    """A closure doing one transformers training step on the same batches as ours."""
    from transformers import FalconConfig, FalconForCausalLM

    from refinedweb.tokenize.manifest import read_manifest
    from refinedweb.trainer.hf import hf_config

    skip = ("architectures", "model_type", "torch_dtype")
    fields = {k: v for k, v in hf_config(model_cfg, eot_id=0).items() if k not in skip}
    torch.manual_seed(run.train.seed)
    model = FalconForCausalLM(FalconConfig(**fields)).train()
    optimizer = build_optimizer(model, run.optim)  # same groups, betas, decay; fused AdamW
    manifest = read_manifest(data_dir)
    batches = PackedBatches(manifest.shard_paths("train"), seq_len=run.data.seq_len, seed=run.train.seed,
                            batch_size=run.train.micro_batch_size, shards=manifest.split("train").shards)
    state = {"step": 0}

    def step() -> float:
        set_lr(optimizer, lr_at(state["step"], run.optim, run.train.max_steps))
        inputs, _ = next(batches)
        loss = model(input_ids=inputs, labels=inputs, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), run.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        return loss.item()

    return step


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per side (default 12)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per side first (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both (default 2)")
    parser.add_argument("--vocab", type=int, default=8192, help="vocabulary size (default 8192)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    base = load_run_config(REPO / "configs" / "train" / "tiny.yaml")
    run = dataclasses.replace(
        base,
        model=dataclasses.replace(base.model, vocab_size=args.vocab),
        train=dataclasses.replace(base.train, max_steps=1000, num_threads=args.threads, progress=False, eval_every=0),
    )
    tokens_per_step = run.train.batch_size * run.data.seq_len
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = tokens_per_step * (args.steps + args.warmup + 2)
        data_dir = make_token_folder(Path(tmp) / "tokens", args.vocab, n_tokens, seed=0)
        ours = Trainer(run, Path(tmp) / "run", data_dir=data_dir)
        theirs = transformers_step_fn(run, ours.run.model, data_dir)
        for _ in range(args.warmup):
            ours.train_step()
            theirs()
        times: dict[str, list[float]] = {"ours": [], "transformers": []}
        for i in range(args.steps):
            order = (("ours", ours.train_step), ("transformers", theirs))
            for name, fn in order if i % 2 == 0 else order[::-1]:
                times[name].append(timed(fn))
        ours.logger.close()
        ours.train_batches.close()

    rate = {name: tokens_per_step / statistics.median(t) for name, t in times.items()}
    ratio = rate["ours"] / rate["transformers"]
    m = run.model
    print(f"shape: {m.n_layer} layers, width {m.d_model}, {m.n_head} heads / {m.n_kv_head} kv head, "
          f"vocab {args.vocab}, "
          f"seq {run.data.seq_len}, batch {run.train.batch_size}; fp32 on CPU, {args.threads} threads")
    print(f"cpu: {onednn.cpu_model()}")
    print(f"kernels: {onednn.kernel_path()}")
    for name in ("ours", "transformers"):
        ms = sorted(1000 * t for t in times[name])
        print(f"{name:>13}: {rate[name]:8,.0f} tokens/s  (median step {statistics.median(ms):.0f} ms, "
              f"min {ms[0]:.0f}, max {ms[-1]:.0f}, {len(ms)} steps)")
    print(f"ratio: {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"tokens_per_s": rate, "ratio": ratio, "step_seconds": times,
                                         "cpu": onednn.cpu_model(), "kernels": onednn.kernel_path()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
