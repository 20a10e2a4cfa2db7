"""Per-unit costs for ``refinedweb plan``: measured on real pages, written to ``refinedweb/plan_costs.json``.

1. **Refine**: ``--input`` (pages-A) refined with the paper's config by one local worker (the
   stages run in this process, so each stage's ``seconds`` in stats.json is one core's): core-seconds
   per page of each stage, the share of pages kept, bytes of ``refined/`` and ``data/`` per
   document, a refined document's Arrow bytes (what a finished file's result holds in the object
   store) and the seconds the driver takes to write a refined shard, per document.
2. **Dedup time**: ``--dedup-docs`` generated documents (bench/dedup_growth.py's generator: 50-200
   real words of the refined pages, planted near copies, shared passages and repeated URLs)
   deduplicated by each kind alone on a local Ray of ``--workers`` CPUs; wall seconds x workers is
   the kind's core-seconds (an upper bound on a shared machine). MinHash and exact substrings are
   linear in characters, so their cost per character is carried to the refined pages' documents
   (their mean length); URL dedup is per document.
3. **Shuffle bytes**: what each refined pages-A document puts in the object store for each kind's
   shuffle, from the functions the dedup tasks call (``band_entries``, ``window_hashes``, ``url_keys``).

    .venv/bin/python bench/plan_costs.py --input ../shared/data/pages/pages-A.warc.gz [--dedup-docs 20000]

The JSON records the machine (CPU model), the date and the load average, so a plan says where its
figures come from. No ``ratio`` line: this measures costs, it compares nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchutil import cpu_model, one_input  # noqa: E402
from dedup_growth import generate, vocabulary  # noqa: E402
from refinedweb.core.cluster import ray_logs_to  # noqa: E402
from refinedweb.core.output import OutputConfig, write_parquet_atomic  # noqa: E402
from refinedweb.dedup.fingerprints import window_hashes  # noqa: E402
from refinedweb.dedup.minhash import band_entries  # noqa: E402
from refinedweb.dedup.phase import EXACT_STAGE, MINHASH_STAGE, URL_STAGE  # noqa: E402
from refinedweb.dedup.standalone import dedup_folder  # noqa: E402
from refinedweb.dedup.urls import url_keys  # noqa: E402
from refinedweb.pipeline.config import load_config  # noqa: E402
from refinedweb.pipeline.runner import run  # noqa: E402
from refinedweb.plan import COSTS_FILE  # noqa: E402

DEDUP_STAGES = (MINHASH_STAGE, EXACT_STAGE, URL_STAGE)
KIND_STAGE = {"minhash": MINHASH_STAGE, "exact": EXACT_STAGE, "url": URL_STAGE}


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and every live descendant, with the children each has reaped.

    From /proc, so a loaded machine's waiting is not counted: the costs are cores' work, not wall time.
    """
    stats: dict[int, tuple[int, list[int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = int(fields[1]), [int(x) for x in fields[11:15]]  # ppid; utime stime cutime cstime
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        p = frontier.pop()
        kids = [c for c, (pp, _) in stats.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(sum(stats[p][1]) for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def refine_costs(config, pages: Path, work: Path, workers: int) -> tuple[dict, object]:
    """Refine ``pages`` with one worker (no Ray, no dedup), then dedup its shard; the per-page and per-document figures.

    Each stage's seconds in stats.json are scaled by the refine's CPU seconds over its wall seconds,
    so that a loaded machine's waiting does not count as work.
    """
    out = work / "refine"
    no_dedup = replace(config, dedup=config.dedup.with_kinds([]))
    cpu0, t0 = tree_cpu_seconds(), time.perf_counter()
    stats = run(no_dedup, [str(pages)], out, workers=1)
    cpu, wall = tree_cpu_seconds() - cpu0, time.perf_counter() - t0
    records = stats["records_read"]
    stage_seconds = sum(s["seconds"] for s in stats["stages"])
    share = cpu / wall
    per_page = {s["name"]: s["seconds"] * share / records for s in stats["stages"]}
    table = pq.read_table(next((out / "refined").glob("*.parquet")))
    refined = len(table)
    final = dedup_folder(config.dedup, OutputConfig(report=False), out / "refined", work / "dedup", workers)
    kept = final["docs_written"]
    write_s = []
    for i in range(3):  # the driver's write of one refined shard: its CPU seconds (Arrow's threads too), best of three
        t1 = time.process_time()
        write_parquet_atomic(table, work / f"rewrite-{i}.parquet", config.output)
        write_s.append(time.process_time() - t1)
    costs = {
        "stage_core_seconds_per_page": per_page,
        "refine_kept_fraction": refined / records,
        "dedup_kept_fraction": kept / refined if refined else 0.0,
        "data_bytes_per_kept_doc": _bytes_under(work / "dedup" / "data") / kept,
        "refined_bytes_per_doc": _bytes_under(out / "refined") / refined,
        "result_bytes_per_refined_doc": table.nbytes / refined,
        "driver_seconds_per_refined_doc": min(write_s) / refined,
    }
    facts = {"pages": records, "refined_docs": refined, "kept_docs": kept, "wall": wall, "cpu": cpu,
             "stage_seconds": stage_seconds, "html_chars": stats["stages"][0]["chars_in"]}
    return {"costs": costs, "facts": facts}, table


def shuffle_bytes(config, table) -> dict[str, float]:
    """Object-store bytes per document of each kind's shuffle, from the dedup tasks' own functions."""
    texts = [t or "" for t in table.column("text").to_pylist()]
    n = len(texts)
    keys, docs = band_entries(texts, 0, config.dedup.minhash)
    windows = window_hashes(texts, config.dedup.exact)
    import numpy as np

    urls = url_keys(table.column("url").to_pylist(), np.arange(n, dtype=np.int64), 0)
    return {"minhash": (keys.nbytes + docs.nbytes) / n, "exact": sum(a.nbytes for a in windows) / n,
            "url": sum(a.nbytes for a in urls) / n}


def dedup_seconds(config, data: Path, work: Path, docs: int, workers: int, chars_per_doc: float) -> tuple[dict, dict]:
    """Core-seconds per refined document of each kind, from ``docs`` generated documents on ``workers`` cores."""
    import ray

    folder = work / "generated"
    generate(docs, vocabulary(str(data)), folder, seed=docs)
    chars = sum(pc.sum(pc.utf8_length(pq.read_table(p, columns=["text"])["text"])).as_py() or 0 for p in folder.glob("*.parquet"))
    ray.init(address="local", num_cpus=workers, include_dashboard=False)
    per_doc, seconds, cpus = {}, {}, {}
    try:
        for kind, stage in KIND_STAGE.items():
            cfg = config.dedup.with_kinds([kind])
            cpu0, t0 = tree_cpu_seconds(), time.perf_counter()
            dedup_folder(cfg, OutputConfig(report=False), folder, work / f"dedup-{kind}", workers)
            seconds[stage], cpus[stage] = time.perf_counter() - t0, tree_cpu_seconds() - cpu0
            core = cpus[stage]
            per_doc[stage] = core / docs if kind == "url" else core / chars * chars_per_doc
            print(f"  {stage:16s} {seconds[stage]:7.1f} s on {workers} workers, {core:7.1f} CPU s: "
                  f"{1e6 * core / docs:8.1f} core-us per generated doc -> {1e3 * per_doc[stage]:.3f} core-ms per refined doc",
                  flush=True)
    finally:
        ray.shutdown()
    return per_doc, {"docs": docs, "chars": chars, "seconds": seconds, "cpu_seconds": cpus}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=str(REPO.parent / "shared" / "data" / "pages" / "pages-A.warc.gz"),
                        help="the WARC of real pages to refine (default ../shared/data/pages/pages-A.warc.gz)")
    parser.add_argument("--dedup-docs", type=int, default=20_000, help="generated documents for the dedup timings")
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs for the dedup timings")
    parser.add_argument("--output", default=str(COSTS_FILE), help=f"JSON to write (default {COSTS_FILE.relative_to(REPO)})")
    args = parser.parse_args()
    pages = one_input(Path(args.input))
    config = load_config(str(REPO / "configs" / "refinedweb.yaml"))
    work = Path(tempfile.mkdtemp(prefix="plan-costs-"))
    load_before = os.getloadavg()
    try:
        with ray_logs_to(work / "ray.log") as terminal:
            print(f"cpu: {cpu_model()}", file=terminal)
            refine, table = refine_costs(config, pages, work, args.workers)
            facts = refine["facts"]
            print(f"refine: {facts['pages']} pages -> {facts['refined_docs']} refined -> {facts['kept_docs']} kept; "
                  f"{facts['wall']:.1f} s wall, {facts['cpu']:.1f} CPU s on one worker", file=terminal)
            import ray

            ray.shutdown()  # the shard's dedup started a Ray of its own; the timings below start theirs
            shuffle = shuffle_bytes(config, table)
            chars_per_doc = sum(len(t or "") for t in table.column("text").to_pylist()) / len(table)
            print(f"dedup timings on {args.dedup_docs} generated documents, {args.workers} workers:", file=terminal)
            sys.stdout = terminal  # dedup_seconds' lines
            try:
                per_doc, dedup_facts = dedup_seconds(config, work / "dedup" / "data", work, args.dedup_docs, args.workers,
                                                     chars_per_doc)
            finally:
                sys.stdout = sys.__stdout__
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    costs = {**refine["costs"], "dedup_core_seconds_per_doc": per_doc, "shuffle_bytes_per_doc": shuffle}
    costs["measured"] = {
        "machine": cpu_model(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "by": "bench/plan_costs.py", "input": f"{pages.name}: {facts['pages']} pages, {facts['html_chars'] / 1e6:.0f}M characters of HTML",
        "refine": f"one worker, {facts['wall']:.1f} s wall, {facts['cpu']:.1f} CPU s (stage seconds scaled by CPU/wall); "
                  f"{facts['refined_docs']} refined and {facts['kept_docs']} kept documents",
        "dedup_input": f"{dedup_facts['docs']:,} generated documents ({dedup_facts['chars']:,} characters) on {args.workers} workers "
                       f"(CPU seconds of the process tree), carried to {chars_per_doc:,.0f} characters per refined document",
        "load_average": [round(load_before[0], 1), round(load_after[0], 1)],
    }
    Path(args.output).write_text(json.dumps(costs, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(costs, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
