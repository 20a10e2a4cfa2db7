"""Scaling of the refinery from 1 to 2 workers: ``refinedweb run`` timed with each, same input, same run.

The input is ``--copies`` copies of one WARC at different paths, i.e. a run over that many files
(copies, not symlinks: the input resolver drops paths that resolve to a file already listed). A
bigger run lets the fixed start-up (Ray instance, actors, models) weigh less, as it does on a crawl:
the default 24 copies are 13,608 pages, about a third of one Common Crawl WARC file.
Each run is a fresh ``refinedweb run`` subprocess timed from start to exit with
configs/refinedweb.yaml: one worker (which refines in-process, ``runner.local_single_worker``), one
worker on Ray (the same executor as two workers: Ray's scaling alone) and two workers on Ray. A run
with ``w`` workers is pinned to ``w`` CPUs (``sched_setaffinity``; its children inherit it), so the
ratio is the scaling from one core to two: unpinned, one worker would also use the second core
(its trafilatura process extracts while it screens the next pages) and the ratio would measure that
overlap rather than the work the second worker adds.

    .venv/bin/python bench/scaling.py [--input ../shared/data/pages/pages-A.warc.gz] [--copies 24] [--repeats 1] [--no-ray-single]

prints the refine phase's scaling (from stats.json's ``phase_seconds``), ``ray scaling: X.XX`` (two
workers over one on Ray) and ends with ``ratio: X.XX`` (two workers over ``refinedweb run --workers
1`` as users run it, whole runs: start-up, dedup phase and report included). With ``--repeats`` the
runs are interleaved and medians reported. The machine's load average and its own 2-core scaling
(two busy pure-Python processes against one) are printed first: on a shared virtual machine 2
processes do not always get 2 cores' worth of work done, and no pipeline can scale beyond that.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from benchutil import first_cpus, one_input, pin_to  # noqa: E402  (bench/ is on sys.path when a bench runs)

DEFAULT_INPUT = REPO.parent / "shared" / "data" / "pages" / "pages-A.warc.gz"

CONFIG = REPO / "configs" / "refinedweb.yaml"


def run(inputs: Path, out: Path, workers: int, config: Path) -> tuple[float, dict]:
    """Wall seconds of one ``refinedweb run`` on ``workers`` cores (Ray's processes and trafilatura's
    included: a worker's extraction process overlaps its screen only where a core is free) and its stats.json."""
    cmd = [sys.executable, "-m", "refinedweb.cli", "run", str(config), "--input", str(inputs / "*.warc.gz"),
           "--output", str(out), "--workers", str(workers)]
    pin = pin_to(first_cpus(workers))  # one core per worker
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=pin)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-5000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, json.loads((out / "stats.json").read_text())


_SPIN = "import time\nt = time.perf_counter()\nn = 0\nwhile time.perf_counter() - t < {s}: n += 1\nprint(n)"


def machine_scaling(seconds: float = 3.0) -> float:
    """Work done by two busy pure-Python processes over one, in the same wall time: what 2 cores give
    right now. On a shared virtual machine it is often well under 2, and every ratio below with it."""
    def spin(k: int) -> int:
        procs = [subprocess.Popen([sys.executable, "-c", _SPIN.format(s=seconds)], stdout=subprocess.PIPE, text=True) for _ in range(k)]
        return sum(int(p.communicate()[0]) for p in procs)

    one = spin(1)
    two = spin(2)
    one = (one + spin(1)) / 2  # before and after: the host's speed drifts from second to second
    return two / one if one else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="one WARC file, or a folder or glob naming one (default: pages-A)")
    parser.add_argument("--copies", type=int, default=24, help="copies of the input in the run (default 24: 13,608 pages of pages-A)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of the three runs, interleaved; medians are reported")
    parser.add_argument("--no-ray-single", action="store_true", help="skip the one-worker-on-Ray run")
    args = parser.parse_args()
    args.input = one_input(args.input)
    if args.copies < 1 or args.repeats < 1:
        raise SystemExit("--copies and --repeats: must be >= 1")
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        work = Path(tmp)
        inputs = work / "in"
        inputs.mkdir()
        for i in range(args.copies):
            shutil.copyfile(args.input, inputs / f"copy-{i:03d}.warc.gz")
        ray_single = work / "ray-single.yaml"
        text = CONFIG.read_text(encoding="utf-8")
        ray_single.write_text(text.replace("\nrunner:\n", "\nrunner:\n  local_single_worker: false\n"), encoding="utf-8")
        plan = [("1 worker", 1, CONFIG), ("1 worker on Ray", 1, ray_single), ("2 workers", 2, CONFIG)]
        if args.no_ray_single:
            plan.pop(1)
        walls: dict[str, list[float]] = {label: [] for label, _, _ in plan}
        refines: dict[str, list[float]] = {label: [] for label, _, _ in plan}
        print(f"input: {args.copies} x {args.input}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"machine: two busy pure-Python processes do {machine_scaling():.2f}x the work of one", flush=True)
        for rep in range(args.repeats):
            for i, (label, workers, config) in enumerate(plan):
                out = work / f"out-{rep}-{i}"
                seconds, stats = run(inputs, out, workers, config)
                shutil.rmtree(out)
                walls[label].append(seconds)
                phases = stats.get("phase_seconds", {})
                refines[label].append(phases.get("refine", float("nan")))
                timeouts = sum(st["dropped"].get("extract_timeout", 0) for st in stats["stages"])
                print(f"{label:<16}: {seconds:7.2f} s  {stats['records_read'] / seconds:6.1f} pages/s  "
                      f"(refine {phases.get('refine', 0):.1f} s, dedup {phases.get('dedup', 0):.1f} s)  "
                      f"{stats['docs_written']} documents ({timeouts} extraction timeouts); "
                      f"load average {os.getloadavg()[0]:.2f}", flush=True)
    wall = {k: statistics.median(v) for k, v in walls.items()}
    refine = {k: statistics.median(v) for k, v in refines.items()}
    if args.repeats > 1:
        print("medians: " + "; ".join(f"{k} {wall[k]:.2f} s (refine {refine[k]:.2f} s)" for k in wall))
    print(f"refine phase scaling: {refine['1 worker'] / refine['2 workers']:.2f} (Ray start-up included, dedup and report not)")
    if "1 worker on Ray" in wall:
        print(f"ray scaling: {wall['1 worker on Ray'] / wall['2 workers']:.2f}")
    print(f"ratio: {wall['1 worker'] / wall['2 workers']:.2f}")


if __name__ == "__main__":
    main()
