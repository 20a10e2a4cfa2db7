"""Every benchmark still imports and parses its arguments: a renamed function must not break one unseen.

CI installs only the test extras, so `--help` runs with the bench extras' modules (and scipy, which
one of them drags in locally) made unimportable: a benchmark imports its baseline where it runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "benchutil.py")
BENCH_ONLY = ("datasketch", "datatrove", "spacy", "tldextract", "ahocorasick", "nltk", "fasteners", "xxhash",
              "ftfy", "orjson", "cchardet", "magic", "scipy")
RUN_WITHOUT_BENCH_EXTRAS = f"""
import os, runpy, sys
class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BENCH_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (a bench extra, hidden by the test)")
sys.meta_path.insert(0, Hidden())
sys.argv = [sys.argv[1], "--help"]
sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as `python script.py` does
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_benchmarks_are_found():
    assert len(SCRIPTS) >= 10 and (BENCH / "pipeline.py") in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_answers_help_without_the_bench_extras(script):
    res = subprocess.run([sys.executable, "-c", RUN_WITHOUT_BENCH_EXTRAS, str(script)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "usage:" in res.stdout
