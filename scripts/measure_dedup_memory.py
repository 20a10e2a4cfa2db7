"""Peak memory of the exact-substring group and of the URL reducer, per character and per document.

Builds a corpus of ``--chars`` characters from real refined documents (``--input``: a folder of
Parquet with `text`, `url`), each copy with ~10% of its words replaced so that copies are near, not
exact, duplicates; then measures, each in a fresh subprocess, the peak RSS increase of
``find_cuts`` over it (one suffix-array group) and of ``duplicates`` over ``--url-docs`` URL keys
(one shuffle reducer).

    python scripts/measure_dedup_memory.py --input OUT/refined --chars 20000000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tracemalloc


def _corpus(path: str, chars: int, seed: int = 0) -> tuple[list[str], list[str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "url"])
    base, urls = table.column("text").to_pylist(), table.column("url").to_pylist()
    vocab = sorted({w for t in base for w in t.split()})
    rng = random.Random(seed)
    texts, out_urls, total, copy = [], [], 0, 0
    while total < chars:
        for t, u in zip(base, urls):
            words = t.split(" ")
            for _ in range(len(words) // 10):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
            out_urls.append(f"{u}?copy={copy}")
            total += len(texts[-1])
        copy += 1
    return texts, out_urls


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, path: str, chars: int, url_docs: int) -> None:
    import numpy as np

    if kind.startswith("exact"):
        from refinedweb.dedup.exact import ExactConfig, find_cuts

        texts, urls = _corpus(path, chars)
        n_chars = sum(map(len, texts))
        before = _peak_mb()
        tokenizer = kind.split("-", 1)[1] if "-" in kind else "gpt2"
        cuts = find_cuts(((0, i, t) for i, t in enumerate(texts)), ExactConfig(tokenizer=tokenizer))
        grown = _peak_mb() - before
        print(json.dumps({"kind": kind, "tokenizer": tokenizer, "docs": len(texts), "chars": n_chars, "peak_growth_mb": round(grown, 1),
                          "bytes_per_char": round(grown * 2**20 / n_chars, 2), "docs_cut": len(cuts)}))
        return
    import pyarrow.parquet as pq

    from refinedweb.dedup.urls import duplicates, partition, url_keys

    base = [u for u in pq.read_table(path, columns=["url"]).column("url").to_pylist() if u]
    keys = url_keys([f"{base[i % len(base)]}?copy={i // len(base)}" for i in range(url_docs)], np.arange(url_docs), 0)
    parts = partition(keys, 1)  # what a reducer receives: the keys alone, the URL strings are gone
    del keys
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    dups = duplicates(parts)
    peak = tracemalloc.get_traced_memory()[1]
    held = sum(a.nbytes for a in parts[0])
    print(json.dumps({"kind": kind, "docs": url_docs, "input_bytes_per_doc": round(held / url_docs, 1),
                      "reduce_peak_bytes_per_doc": round(peak / url_docs, 1), "dups": len(dups)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="folder or file of Parquet with text and url columns")
    p.add_argument("--chars", type=int, default=20_000_000, help="characters of the exact-dedup group")
    p.add_argument("--url-docs", type=int, default=2_000_000, help="documents of the URL reducer")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.input, args.chars, args.url_docs)
        return
    for kind in ("exact", "exact-whitespace", "url"):
        res = subprocess.run([sys.executable, __file__, "--input", args.input, "--chars", str(args.chars),
                              "--url-docs", str(args.url_docs), "--child", kind],
                             capture_output=True, text=True, check=True)
        print(res.stdout.strip())


if __name__ == "__main__":
    main()
