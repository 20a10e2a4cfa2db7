"""Scaling of the refinery from 1 to 2 workers: ``refinedweb run`` timed with each, same input, same run.

The input is ``--copies`` copies of one WARC at different paths, i.e. a run over that many files
(copies, not symlinks: the input resolver drops paths that resolve to a file already listed). A
bigger run lets the fixed start-up (Ray instance, actors, models) weigh less, as it does on a crawl.
Each run is a fresh ``refinedweb run`` subprocess timed from start to exit with
configs/refinedweb.yaml: one worker (which refines in-process, ``runner.local_single_worker``), one
worker on Ray (the same executor as two workers: Ray's scaling alone) and two workers on Ray.

    .venv/bin/python bench/scaling.py [--input ../shared/data/pages/pages-A.warc.gz] [--copies 8]

prints ``ray scaling: X.XX`` (two workers over one on Ray) and ends with ``ratio: X.XX`` (two
workers over ``refinedweb run --workers 1`` as users run it). The machine's load average is printed:
on a machine shared with other work, 2 workers cannot get 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "pages" / "pages-A.warc.gz"
CONFIG = REPO / "configs" / "refinedweb.yaml"


def run(inputs: Path, out: Path, workers: int, config: Path) -> tuple[float, dict]:
    """Wall seconds of one ``refinedweb run`` and its stats.json."""
    cmd = [sys.executable, "-m", "refinedweb.cli", "run", str(config), "--input", str(inputs / "*.warc.gz"),
           "--output", str(out), "--workers", str(workers)]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-5000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, json.loads((out / "stats.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="a WARC file (default: pages-A)")
    parser.add_argument("--copies", type=int, default=8, help="copies of the input in the run (default 8)")
    args = parser.parse_args()
    if not args.input.is_file():
        raise SystemExit(f"{args.input}: input WARC not found")
    if args.copies < 1:
        raise SystemExit("--copies: must be >= 1")
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
        times = {}
        print(f"input: {args.copies} x {args.input}; load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for i, (label, workers, config) in enumerate(plan):
            seconds, stats = run(inputs, work / f"out-{i}", workers, config)
            times[label] = seconds
            timeouts = sum(st["dropped"].get("extract_timeout", 0) for st in stats["stages"])
            print(f"{label:<16}: {seconds:7.2f} s  {stats['records_read'] / seconds:6.1f} pages/s  "
                  f"{stats['docs_written']} documents ({timeouts} extraction timeouts); "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"ray scaling: {times['1 worker on Ray'] / times['2 workers']:.2f}")
    print(f"ratio: {times['1 worker'] / times['2 workers']:.2f}")


if __name__ == "__main__":
    main()
