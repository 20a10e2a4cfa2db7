"""Golden losses: 10 steps of configs/train/tiny.yaml on the article's tokens, against a stored file.

Any change to the model, the loss, the optimizer, the schedule, the data order or the packing moves
these numbers. If the change is deliberate, regenerate the file and commit it with the change:

    REFINEDWEB_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/trainer/test_golden.py

(it was generated on a 2-core AMD EPYC, fp32, 2 threads, oneDNN path on; two runs agreed to the last bit).

The losses hold on either CPU kernel path: fp32 linear layers through oneDNN (``onednn.py``, the
default) or through torch's own BLAS (``REFINEDWEB_ONEDNN=0``; MKL in the PyPI CPU wheel). They
differ only in summation order. Measured on the 2-core AMD EPYC (torch 2.13.0+cpu, AVX512), both
paths, and both again with every library held to AVX2 (ATEN_CPU_CAPABILITY=avx2,
ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2, standing in for another CPU): the largest
relative difference of any of the 10 losses from the golden file was 8.3e-8 (step 8 with torch's
BLAS: 5.778132439 vs 5.778132916; step 4 under AVX2: 6.025592327 vs 6.025591851). A real change
moves them far more: lr 1.01e-3 instead of 1e-3 moved step 2 by 7.5e-5 and step 10 by 6.5e-4
relative. ``REL`` = 1e-5 sits 120x above the kernel difference and 7x below the smallest real
change measured. Each path runs in its own process, because ``onednn.py`` picks it at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import REPO, TINY_YAML

GOLDEN = Path(__file__).with_name("golden_tiny_loss.json")
STEPS = 10
REL = 1e-5

_RUN = textwrap.dedent("""
    import dataclasses, json, sys
    from refinedweb.trainer import onednn
    from refinedweb.trainer.train import load_run_config, train

    run = load_run_config(sys.argv[1])
    run = dataclasses.replace(run, train=dataclasses.replace(
        run.train, max_steps=int(sys.argv[4]), eval_every=0, progress=False, num_threads=2))
    train(run, sys.argv[2], data=sys.argv[3])
    lines = [json.loads(x) for x in open(sys.argv[2] + "/metrics.jsonl")]
    print(json.dumps({"onednn": onednn.ENABLED, "losses": [x["loss"] for x in lines if "loss" in x]}))
""")


def golden_losses(run_dir: Path, token_dir: Path, onednn: bool) -> list[float]:
    """The 10 training losses of tiny.yaml in a fresh process with the oneDNN path on or off."""
    env = {**os.environ, "REFINEDWEB_ONEDNN": "1" if onednn else "0"}
    done = subprocess.run([sys.executable, "-c", _RUN, str(TINY_YAML), str(run_dir), str(token_dir), str(STEPS)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if onednn and not out["onednn"]:
        pytest.skip("this PyTorch has no oneDNN linear op")
    assert out["onednn"] is onednn
    return out["losses"]


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "torch-blas"])
def test_tiny_config_losses_match_the_golden_file(tmp_path, token_dir, onednn):
    losses = golden_losses(tmp_path / "run", token_dir, onednn)
    assert len(losses) == STEPS
    if os.environ.get("REFINEDWEB_REGENERATE_GOLDEN") == "1" and onednn:
        import torch

        GOLDEN.write_text(json.dumps({
            "config": "configs/train/tiny.yaml", "steps": STEPS, "data": "tests/trainer/conftest.py::token_dir",
            "torch": torch.__version__, "losses": losses}, indent=2) + "\n")
        pytest.skip(f"regenerated {GOLDEN.name}")
    golden = json.loads(GOLDEN.read_text())["losses"]
    assert losses == pytest.approx(golden, rel=REL, abs=0)
