"""Dedup growth: wall time and peak memory per document of each dedup kind at three corpus sizes.

Documents are generated (50-200 words drawn from the vocabulary of real text under ``--input``)
with planted duplicates: 5% are near copies of an earlier document (one word in 40 changed), 5%
carry one of 500 shared 60-word passages, 2% repeat an earlier document's URL. Each size is
written as Parquet shards of 50k documents and deduplicated by ``refinedweb.dedup.standalone``
once per kind (``--kind minhash``, ``exact``, ``url``) on a local Ray with ``--workers`` CPUs; the
exact kind uses one suffix array where the whole corpus fits one group of ``--budget-mb`` and the
window-fingerprint shuffle (refinedweb/dedup/fingerprints.py) otherwise; the line says which.

Memory is the peak, sampled every 0.5 s, of the proportional set size (PSS: shared pages, e.g.
Ray's object store, split among the processes mapping them) summed over this process and every
process under it (Ray's raylet, object store and workers), minus the same sum just before the
kind starts; it is what the kind adds on the machine. Linear growth: time and memory per document
stay flat across sizes.

``ratio``: datasketch's MinHashLSH (the same 9,000 permutations as 450 bands x 20 rows, same
normalised word 5-grams, in one process: signatures and inserts only, no clustering or writing)
seconds per document on the first 2,000 documents of the smallest size, over ours (the whole
``minhash`` kind, Ray, clusters and output included) at the largest size, per core; higher is
better.

    .venv/bin/python bench/dedup_growth.py --input /tmp/base-A-keep/data [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchutil import cpu_model  # noqa: E402
from refinedweb.core.inputs import resolve_parquet  # noqa: E402
from refinedweb.core.output import OutputConfig  # noqa: E402
from refinedweb.dedup.config import DedupConfig  # noqa: E402
from refinedweb.dedup.exact import ExactConfig  # noqa: E402
from refinedweb.dedup.normalize import normalize  # noqa: E402
from refinedweb.dedup.standalone import dedup_folder  # noqa: E402

SHARD_DOCS = 50_000
KINDS = ("minhash", "exact", "url")


def vocabulary(path: str) -> list[str]:
    files = resolve_parquet(path, ("text",))
    words = {w for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t for w in t.split()}
    words = sorted(w for w in words if normalize(w))
    if len(words) < 1000:
        raise SystemExit(f"{path}: fewer than 1000 distinct words")
    return words


def generate(docs: int, vocab: list[str], folder: Path, seed: int) -> None:
    """``docs`` generated documents with planted duplicates as Parquet shards under ``folder``."""
    rng = np.random.default_rng(seed)
    vocab_arr = np.array(vocab, dtype=object)
    passages = [" ".join(vocab_arr[rng.integers(len(vocab), size=60)]) for _ in range(500)]
    texts, urls = [], []
    lengths = rng.integers(50, 201, size=docs)
    kind = rng.random(docs)
    for i in range(docs):
        if i > 0 and kind[i] < 0.05:  # near copy of an earlier document
            words = texts[int(rng.integers(i))].split()
            for j in rng.integers(len(words), size=max(1, len(words) // 40)).tolist():
                words[j] = vocab[int(rng.integers(len(vocab)))]
            texts.append(" ".join(words))
        else:
            text = " ".join(vocab_arr[rng.integers(len(vocab), size=int(lengths[i]))])
            if kind[i] < 0.10:  # a shared passage in the middle
                cut = text.find(" ", len(text) // 2)
                text = text[:cut] + "\n" + passages[int(rng.integers(len(passages)))] + "\n" + text[cut + 1 :]
            texts.append(text)
        urls.append(urls[int(rng.integers(i))] if i > 0 and rng.random() < 0.02 else f"https://gen.example/{seed}/{i}")
    folder.mkdir(parents=True)
    for k, lo in enumerate(range(0, docs, SHARD_DOCS)):
        hi = min(docs, lo + SHARD_DOCS)
        table = pa.table({"id": [f"d{i}" for i in range(lo, hi)], "url": urls[lo:hi], "text": texts[lo:hi]})
        pq.write_table(table, folder / f"s{k:04d}.parquet", row_group_size=10_000)


def _tree_pss_kb() -> int:
    """PSS (kB) summed over this process and all its descendants, from /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/smaps_rollup", encoding="utf-8") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total


class PeakPss:
    """Samples the process tree's PSS every 0.5 s while inside the ``with`` block; ``.peak`` in bytes above the start."""

    def __enter__(self) -> "PeakPss":
        self.base = self.peak_kb = _tree_pss_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_kb = max(self.peak_kb, _tree_pss_kb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _tree_pss_kb())
        self.peak = (self.peak_kb - self.base) * 1024


def datasketch_seconds_per_doc(folder: Path, docs: int) -> float:
    """datasketch MinHash(9000) + MinHashLSH(params=(450, 20)) inserts over the same shingles, one process."""
    from datasketch import MinHash, MinHashLSH

    texts = pq.read_table(sorted(folder.glob("*.parquet"))[0], columns=["text"]).column("text").to_pylist()[:docs]
    template = MinHash(num_perm=9000, seed=1)
    lsh = MinHashLSH(num_perm=9000, params=(450, 20))
    start = time.perf_counter()
    for i, text in enumerate(texts):
        words = normalize(text).split()
        m = MinHash(num_perm=9000, permutations=template.permutations, scheme=template.scheme)
        m.update_batch([" ".join(words[j : j + 5]).encode() for j in range(max(1, len(words) - 4))])
        lsh.insert(str(i), m)
    return (time.perf_counter() - start) / len(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="Parquet file or folder of real text (the word vocabulary)")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated corpus sizes in documents")
    parser.add_argument("--kinds", default=",".join(KINDS), help="dedup kinds to measure")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-mb", type=int, default=256, help="exact.memory_budget_mb (chunk and partition size)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args()
    sizes, kinds = [int(s) for s in args.sizes.split(",")], args.kinds.split(",")
    work = Path(args.work or tempfile.mkdtemp(prefix="dedup-growth-"))
    print(f"cpu: {cpu_model()}; workers {args.workers}")
    vocab = vocabulary(args.input)
    print(f"input: {args.input}: vocabulary of {len(vocab)} real words; generated documents of 50-200 words")
    import ray

    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
    rows: dict[tuple[int, str], tuple[float, float]] = {}
    try:
        for n in sizes:
            folder = work / f"in-{n}"
            t0 = time.perf_counter()
            generate(n, vocab, folder, seed=n)
            chars = sum(pc.sum(pc.utf8_length(pq.read_table(p, columns=["text"])["text"])).as_py() or 0 for p in folder.glob("*.parquet"))
            path = "one suffix array" if chars <= ExactConfig(memory_budget_mb=args.budget_mb).group_chars() else "fingerprint shuffle"
            print(f"{n} documents ({chars} characters) generated in {time.perf_counter() - t0:.0f} s; exact path: {path}", flush=True)
            for kind in kinds:
                cfg = DedupConfig(exact=ExactConfig(memory_budget_mb=args.budget_mb)).with_kinds([kind])
                with PeakPss() as mem:
                    t0 = time.perf_counter()
                    stats = dedup_folder(cfg, OutputConfig(report=False), folder, work / f"out-{n}-{kind}", args.workers)
                    seconds = time.perf_counter() - t0
                rows[n, kind] = seconds, mem.peak
                dropped = sum(sum(s["dropped"].values()) for s in stats["stages"])
                cut = sum(s.get("extra", {}).get("spans_cut", 0) for s in stats["stages"])
                print(f"  {kind:8s} {seconds:8.1f} s  {1e6 * seconds / n:8.1f} us/doc  peak +{mem.peak / 2**20:8.0f} MiB"
                      f"  {mem.peak / n / 1024:6.2f} KiB/doc  (dropped {dropped}, spans cut {cut})", flush=True)
                shutil.rmtree(work / f"out-{n}-{kind}")
            shutil.rmtree(folder)
        print(f"{'kind':8s} " + " ".join(f"{n:>22d}" for n in sizes) + "   (us/doc, KiB/doc)")
        for kind in kinds:
            cells = [f"{1e6 * rows[n, kind][0] / n:10.1f} {rows[n, kind][1] / n / 1024:10.2f}" for n in sizes]
            print(f"{kind:8s} " + " ".join(f"{c:>22s}" for c in cells))
        if "minhash" in kinds:
            folder = work / "ds"
            generate(min(sizes), vocab, folder, seed=min(sizes))
            theirs = datasketch_seconds_per_doc(folder, 2000)
            ours = rows[max(sizes), "minhash"][0] * args.workers / max(sizes)
            print(f"minhash per core: ours {1e3 * ours:.3f} ms/doc at {max(sizes)} docs; datasketch MinHashLSH {1e3 * theirs:.3f} ms/doc")
            print(f"ratio: {theirs / ours:.2f}")
    finally:
        ray.shutdown()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
