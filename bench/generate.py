"""Greedy decoding on CPU: our KV-cached ``generate`` against transformers' ``generate``, and MQA against MHA.

1. Ours against transformers: the model of ``--config`` (default configs/train/tiny.yaml: 4 blocks,
   width 256, 8 query heads sharing one key/value head) with random weights (speed does not depend
   on them), or a trained run (``--run``), exported with ``refinedweb.trainer.hf`` and loaded by
   ``FalconForCausalLM``. Both decode the same prompt greedily for the same number of new tokens
   (end-of-text ignored), fp32, the same thread count; runs alternate and medians are reported.
   The generated tokens are compared too. The last line is ``ratio: X.XX`` (ours over transformers).
2. Multi-query against multi-head attention at a long context: the same shape with ``n_kv_head`` 1
   and ``n_head``, a prompt of ``--long-context`` minus ``--long-new`` tokens, then ``--long-new``
   decoded: KV-cache bytes and decode tokens/s of ours.

The prompt is the start of ``--input`` (a text file), encoded with the run's tokenizer under
``--run``; without a run (no tokenizer), its UTF-8 bytes stand in for token ids.

    .venv/bin/python bench/generate.py [--input FILE] [--run RUN_DIR] [--new-tokens 128] [--threads 2]

Decoding runs the model on one token at a time, so every op is tiny and, with 2 OpenMP threads on
2 cores that other processes share, waits at each parallel region for a descheduled thread. On the
shared 2-core AMD EPYC at load average ~4, 2 threads measured ours at 18.6 tokens/s and 1 thread at
599 (transformers: 12.0 and 372); use ``--threads 1`` on a busy machine and compare like with like.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from refinedweb.trainer import onednn  # noqa: E402
from refinedweb.trainer.generate import sample  # noqa: E402
from refinedweb.trainer.hf import save_hf  # noqa: E402
from refinedweb.trainer.model import Falcon, ModelConfig  # noqa: E402
from refinedweb.trainer.train import load_run_config  # noqa: E402

DEFAULT_INPUT = REPO.parent / "shared" / "data" / "dev" / "quality" / "cs336__high_quality_wiki_reference.txt"


def prompt_ids(path: Path, n: int, vocab: int, run_dir: Path | None) -> list[int]:
    """The first ``n`` token ids of the text file: the run's tokenizer, else UTF-8 bytes (mod vocab, from 1)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if run_dir is not None:
        from tokenizers import Tokenizer

        ids = Tokenizer.from_file(str(run_dir / "tokenizer" / "tokenizer.json")).encode(text[: 50 * n]).ids
    else:
        ids = [1 + b % (vocab - 1) for b in text.encode("utf-8")]
    if len(ids) < n:
        raise SystemExit(f"{path}: only {len(ids)} tokens, fewer than the {n} asked for")
    return ids[:n]


def build_model(args) -> Falcon:
    """A trained run's model, or the config's shape with random weights (seeded)."""
    if args.run is not None:
        from refinedweb.trainer.checkpoint import load_run_model

        return load_run_model(args.run)
    cfg = load_run_config(args.config).model
    cfg = dataclasses.replace(cfg, vocab_size=cfg.vocab_size or args.vocab)
    torch.manual_seed(0)
    return Falcon(cfg).eval()


def timed(fn) -> tuple[float, list[int]]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ours_vs_transformers(model: Falcon, prompt: list[int], args) -> dict[str, float]:
    """Median tokens/s of both greedy decoders; prints them and whether their tokens agree."""
    from transformers import FalconForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        save_hf(model, tmp, eot_id=0)
        theirs = FalconForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    theirs.generation_config.eos_token_id = None  # decode exactly --new-tokens, as ours does
    ids = torch.tensor([prompt])
    n = args.new_tokens

    def run_ours() -> list[int]:
        return sample(model, prompt, max_new_tokens=n, temperature=0, eot_id=None)

    @torch.no_grad()
    def run_theirs() -> list[int]:
        out = theirs.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None)
        return out[0, len(prompt):].tolist()

    times: dict[str, list[float]] = {"ours": [], "transformers": []}
    outputs: dict[str, list[int]] = {}
    run_ours(), run_theirs()  # warm-up
    for i in range(args.repeats):
        order = (("ours", run_ours), ("transformers", run_theirs))
        for name, fn in order if i % 2 == 0 else order[::-1]:
            seconds, outputs[name] = timed(fn)
            times[name].append(seconds)
    rate = {name: n / statistics.median(t) for name, t in times.items()}
    for name in ("ours", "transformers"):
        ms = sorted(1000 * t for t in times[name])
        print(f"{name:>13}: {rate[name]:8,.1f} tokens/s  (median {statistics.median(ms):.0f} ms for {n} tokens, "
              f"min {ms[0]:.0f}, max {ms[-1]:.0f}, {len(ms)} runs)")
    same = outputs["ours"] == outputs["transformers"]
    print(f"greedy tokens identical: {'yes' if same else 'NO'} ({n} new tokens)")
    return rate


def mqa_vs_mha(model: Falcon, args) -> None:
    """KV-cache bytes and decode speed of the model's shape with one key/value head and with n_head."""
    base = dataclasses.replace(model.cfg, max_seq_len=args.long_context)
    prompt_len = args.long_context - args.long_new
    ids = [1 + (7 * i) % (base.vocab_size - 1) for i in range(prompt_len)]
    for label, kv in (("multi-query (n_kv_head 1)", 1), (f"multi-head (n_kv_head {base.n_head})", base.n_head)):
        torch.manual_seed(0)
        m = Falcon(dataclasses.replace(base, n_kv_head=kv)).eval()
        cache_bytes = m.new_cache(1, args.long_context).nbytes
        decode = []
        for _ in range(args.repeats):
            with torch.no_grad():
                cache = m.new_cache(1, args.long_context)
                t0 = time.perf_counter()
                logits = m(torch.tensor([ids]), cache=cache)[0, -1]
                t1 = time.perf_counter()
                for _ in range(args.long_new):
                    logits = m(logits.argmax().view(1, 1), cache=cache)[0, -1]
                decode.append((time.perf_counter() - t1, t1 - t0))
        d, p = statistics.median(x[0] for x in decode), statistics.median(x[1] for x in decode)
        print(f"{label:>28}: KV cache {cache_bytes / 2**20:7.2f} MiB at {args.long_context} tokens, "
              f"decode {args.long_new / d:7.1f} tokens/s at context {prompt_len}-{args.long_context} "
              f"(prefill of {prompt_len}: {p:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="text file whose start is the prompt")
    parser.add_argument("--run", type=Path, default=None, help="a training run folder (default: random weights)")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "train" / "tiny.yaml",
                        help="model shape without --run (default configs/train/tiny.yaml)")
    parser.add_argument("--vocab", type=int, default=8192, help="vocabulary when the config leaves it null (8192)")
    parser.add_argument("--prompt-tokens", type=int, default=32, help="prompt length (default 32)")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens to decode (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--long-context", type=int, default=2048, help="context of the MQA/MHA part (2048)")
    parser.add_argument("--long-new", type=int, default=32, help="tokens decoded at the long context (32)")
    args = parser.parse_args()
    if args.prompt_tokens + args.new_tokens > 2048:
        raise SystemExit("--prompt-tokens + --new-tokens must stay within 2048")

    torch.set_num_threads(args.threads)
    model = build_model(args)
    if args.prompt_tokens + args.new_tokens > model.cfg.max_seq_len:  # decode inside the window, like HF
        model = Falcon(dataclasses.replace(model.cfg, max_seq_len=args.prompt_tokens + args.new_tokens)).eval()
        model.load_state_dict(build_model(args).state_dict())
    m = model.cfg
    prompt = prompt_ids(args.input, args.prompt_tokens, m.vocab_size, args.run)
    print(f"shape: {m.n_layer} layers, width {m.d_model}, {m.n_head} heads / {m.n_kv_head} kv head, "
          f"vocab {m.vocab_size}; fp32 on CPU, {args.threads} threads; prompt {len(prompt)} tokens of {args.input}")
    print(f"cpu: {onednn.cpu_model()}")
    print(f"kernels: {onednn.kernel_path()}")
    mqa_vs_mha(model, args)
    rate = ours_vs_transformers(model, prompt, args)
    print(f"ratio: {rate['ours'] / rate['transformers']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
