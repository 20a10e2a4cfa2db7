"""The ``refinedweb`` command as a user runs it: a subprocess whose stdout and stderr are pipes, not a terminal.

Off a terminal the console writes plain progress lines; Ray's own output (its INFO and WARNING
lines, the C++ core worker's "constructor arguments in the object store" ERROR line that a Ray Data
actor pool brings) lands in ``OUT/logs/ray.log``, never on stderr; ``--quiet`` leaves only the summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # Ray's workers import this checkout too


def _refinedweb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refinedweb", *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The demo's sample WARC: one file, so the refine goes through the Ray Data plan (an actor pool)."""
    path = tmp_path_factory.mktemp("sample") / "sample.warc.gz"
    subprocess.run([sys.executable, "scripts/make_sample_warc.py", "--output", str(path)], cwd=REPO, check=True,
                   capture_output=True)
    return path


def _run(sample: Path, out: Path, *flags: str) -> subprocess.CompletedProcess:
    proc = _refinedweb("run", "configs/refinedweb.yaml", "--input", str(sample), "--output", str(out), "--workers", "2", *flags)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_plain_progress_lines_and_ray_in_its_log(sample, tmp_path):
    out = tmp_path / "out"
    proc = _run(sample, out)
    lines = proc.stderr.splitlines()
    assert lines, "no progress lines"
    assert all(line.startswith(("refine: ", "dedup ")) for line in lines), proc.stderr  # nothing of Ray's
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr  # plain lines, no redrawn bar
    done = [line for line in lines if line.startswith("refine: 1/1 files")]
    assert len(done) == 1 and f"| {sample}: " in done[0] and " kept, ETA " in done[0]
    assert any(line.startswith("dedup apply: 1/1 shards") for line in lines)
    log = out / "logs" / "ray.log"
    text = log.read_text(encoding="utf-8")
    assert "constructor arguments in the object store" in text
    assert "INFO" in text and "Started a local Ray instance" in text
    assert "records read" in proc.stdout and f"Ray's output: {log}" in proc.stdout


@pytest.mark.slow
def test_quiet_prints_only_the_summary(sample, tmp_path):
    out = tmp_path / "out"
    proc = _run(sample, out, "--quiet")
    assert proc.stderr == ""
    assert "records read" in proc.stdout and "documents written" in proc.stdout
    assert "refine: " not in proc.stdout
    assert "constructor arguments in the object store" in (out / "logs" / "ray.log").read_text(encoding="utf-8")


def test_a_user_error_still_reaches_the_terminal(tmp_path):
    proc = _refinedweb("run", "configs/refinedweb.yaml", "--input", str(tmp_path / "missing.warc.gz"), "--output",
                       str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 2
    assert proc.stderr.startswith("refinedweb: error: ") and "missing.warc.gz" in proc.stderr
