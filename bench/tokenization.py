"""Tokenization throughput per core: ``refinedweb tokenize`` end to end against the bare tokenizer.

- baseline: the tokenizer's own batch encoder over the same texts in this one process, one thread
  (``TOKENIZERS_PARALLELISM=false``, i.e. one core): ``encode_batch`` and ``encode_batch_fast``
  (the call the command makes; the stricter of the two baselines gives the ratio);
- ours: ``refinedweb.tokenize.shards.tokenize`` exactly as the CLI runs it: resolve and check the
  inputs, copy the tokenizer, plan units, Ray tasks (one core each, ``--workers`` of them) that read
  Parquet, encode, append end-of-text, split train/val and write zstd shards and state files, then
  the manifest. Its tokens/s is divided by the cores it holds (``--workers``).

Ray's one-time start (``ray.init``) and a warm-up run that starts the worker processes are timed
and printed but left out of the ratio: on a cluster they are paid once per job, not per shard.
``--repeat K`` tiles the input K times (ids made distinct, one Parquet file per copy) so that the
per-task costs are measured on more than a second of work. Also prints bytes per token on the input
for a few vocabulary sizes (BPE trained on 80% of the documents, measured on the other 20%).

    .venv/bin/python bench/tokenization.py --input out/data [--tokenizer tok/] [--workers 2] [--repeat 8]
"""

from __future__ import annotations

import sys
from pathlib import Path

import argparse
import json
import math
import os
import statistics
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before tokenizers is used: the baseline gets one core

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from refinedweb import schema  # noqa: E402
from refinedweb.tokenize.bpe import TokenizerTrainConfig, load_tokenizer, train_tokenizer  # noqa: E402
from refinedweb.core.inputs import resolve_parquet  # noqa: E402
from refinedweb.tokenize.shards import TokenizeConfig, is_validation, tokenize  # noqa: E402


def tiled_input(files: list[Path], repeat: int, root: Path) -> tuple[Path, list[str]]:
    """The input's id/text tiled ``repeat`` times as one Parquet file per copy; (folder, all texts)."""
    table = pa.concat_tables(pq.read_table(f, columns=[schema.ID, schema.TEXT]) for f in files)
    folder = root / "input"
    folder.mkdir()
    texts = []
    for k in range(repeat):
        ids = pa.array([f"{d}#{k}" for d in table.column(schema.ID).to_pylist()], pa.string())
        pq.write_table(pa.table({schema.ID: ids, schema.TEXT: table.column(schema.TEXT)}), folder / f"copy-{k:03d}.parquet")
        texts += table.column(schema.TEXT).to_pylist()
    return folder, texts


def baseline(tok, texts: list[str], method: str, batch_docs: int) -> tuple[float, int, float]:
    """(seconds, tokens, CPU seconds) of ``tok.<method>`` over ``texts`` in batches, the ids taken out as lists."""
    encode = getattr(tok, method)
    start, cpu, total = time.perf_counter(), time.process_time(), 0
    for i in range(0, len(texts), batch_docs):
        total += sum(len(e.ids) for e in encode(texts[i : i + batch_docs], add_special_tokens=False))
    return time.perf_counter() - start, total, time.process_time() - cpu


def ours(folder: Path, tok_path: Path, out: Path, config: TokenizeConfig) -> tuple[float, int, float]:
    """(wall seconds, tokens without the EOTs, CPU seconds of the driver and inside the tasks) of one run."""
    start, cpu = time.perf_counter(), time.process_time()
    summary = tokenize(folder, tok_path, out, config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    cpu += sum(json.loads(p.read_text())["cpu_seconds"] for p in (out / "state").glob("*.json"))
    return wall, sum(summary["tokens"].values()) - sum(summary["documents"].values()), cpu


def compression(files: list[Path], vocab_sizes: list[int], root: Path) -> None:
    """Bytes per token on held-out documents for BPEs of each size trained on the rest."""
    table = pa.concat_tables(pq.read_table(f, columns=[schema.ID, schema.TEXT]) for f in files)
    held = is_validation(table.column(schema.ID).to_pylist(), 0.2, seed=1)
    texts = table.column(schema.TEXT).to_pylist()
    train_dir = root / "compression-train"
    train_dir.mkdir()
    pq.write_table(table.filter(pa.array(~held)), train_dir / "train.parquet")
    test = [t for t, h in zip(texts, held) if h]
    n_bytes = sum(len(t.encode("utf-8")) for t in test)
    print(f"\nvocabulary size vs compression: trained on {int((~held).sum())} documents, "
          f"measured on {len(test)} held-out documents ({n_bytes:,} bytes)")
    print(f"{'vocab asked':>12} {'vocab got':>10} {'tokens':>10} {'bytes/token':>12}")
    for size in vocab_sizes:
        tok = train_tokenizer(train_dir, root / f"tok-{size}", TokenizerTrainConfig(vocab_size=size))
        tokens = sum(len(e.ids) for e in tok.encode_batch(test, add_special_tokens=False))
        print(f"{size:>12,} {tok.get_vocab_size():>10,} {tokens:>10,} {n_bytes / tokens:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", nargs="+", required=True, help="refined Parquet (folder, glob or files)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder or tokenizer.json "
                                                          "(default: a 65024-entry BPE trained on the input)")
    parser.add_argument("--workers", type=int, default=2, help="cores for the command (default 2)")
    parser.add_argument("--repeat", type=int, default=8, help="tile the input this many times (default 8)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side, median reported (default 3)")
    parser.add_argument("--vocab-sizes", default="4096,16384,65024", help="for the compression table ('' = skip)")
    args = parser.parse_args()

    from refinedweb.core.cluster import init_ray

    files = resolve_parquet(args.input, ("text",))
    with tempfile.TemporaryDirectory(prefix="bench-tok-") as tmp:
        root = Path(tmp)
        tok_path = Path(args.tokenizer) if args.tokenizer else root / "tok"
        if args.tokenizer is None:
            train_tokenizer(files, tok_path, TokenizerTrainConfig())
        tok = load_tokenizer(tok_path)
        folder, texts = tiled_input(files, args.repeat, root)
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        docs_per_shard = max(1, math.ceil(len(texts) / (4 * args.workers)))  # about 4 units per worker
        config = TokenizeConfig(val_fraction=0.005, docs_per_shard=docs_per_shard, workers=args.workers)
        print(f"input: {len(files)} file(s) x {args.repeat} = {len(texts):,} documents, {n_bytes / 1e6:.1f} MB of text; "
              f"tokenizer: {tok.get_vocab_size():,} entries; {docs_per_shard} documents per shard")

        t0 = time.perf_counter()
        init_ray(args.workers, None)
        ray_start = time.perf_counter() - t0
        warm, _, _ = ours(folder, tok_path, root / "warm", config)
        times: dict[str, list[float]] = {}
        for k in range(args.runs):  # interleaved, so machine noise hits every side alike
            for method in ("encode_batch", "encode_batch_fast"):
                seconds, total, cpu = baseline(tok, texts, method, config.batch_docs)
                times.setdefault(method, []).append(seconds)
                times.setdefault(f"{method} cpu", []).append(cpu)
            wall, tokens, cpu = ours(folder, tok_path, root / f"run-{k}", config)
            if tokens != total:
                raise SystemExit(f"token counts differ: command {tokens}, baseline {total}")
            times.setdefault("ours", []).append(wall)
            times.setdefault("ours cpu", []).append(cpu)
        med = {k: statistics.median(v) for k, v in times.items()}
        rate_plain, rate_fast = total / med["encode_batch"], total / med["encode_batch_fast"]
        rate_ours = total / med["ours"] / args.workers
        print(f"{total:,} tokens ({n_bytes / total:.2f} bytes/token); medians of {args.runs} interleaved runs")
        print(f"baseline encode_batch, 1 process, 1 thread:      {rate_plain:>10,.0f} tokens/s per core")
        print(f"baseline encode_batch_fast, 1 process, 1 thread: {rate_fast:>10,.0f} tokens/s per core")
        print(f"refinedweb tokenize, {args.workers} workers x 1 core:         {rate_ours:>10,.0f} tokens/s per core "
              f"({med['ours']:.2f} s wall)")
        print(f"tokens per CPU-second (robust to a busy machine; Ray's own daemons not counted): "
              f"encode_batch {total / med['encode_batch cpu']:,.0f}, encode_batch_fast "
              f"{total / med['encode_batch_fast cpu']:,.0f}, tokenize driver + tasks {total / med['ours cpu']:,.0f}")
        print(f"not counted: ray.init {ray_start:.1f} s, a first run starting the worker processes {warm:.1f} s")
        if args.vocab_sizes:
            compression(files, [int(v) for v in args.vocab_sizes.split(",")], root)
    ratio = rate_ours / max(rate_plain, rate_fast)
    print(f"\nours per core / encode_batch per core: {rate_ours / rate_plain:.2f}; "
          f"/ encode_batch_fast per core: {rate_ours / rate_fast:.2f}")
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
