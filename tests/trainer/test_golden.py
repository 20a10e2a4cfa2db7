"""Golden losses: 10 steps of configs/train/tiny.yaml on the article's tokens, against a stored file.

Any change to the model, the loss, the optimizer, the schedule, the data order or the packing moves
these numbers. If the change is deliberate, regenerate the file and commit it with the change:

    REFINEDWEB_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/trainer/test_golden.py

(it was generated on a 2-core AMD EPYC, fp32, 2 threads; two runs agreed to the last bit).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from refinedweb.trainer.train import train

from .conftest import tiny_run

GOLDEN = Path(__file__).with_name("golden_tiny_loss.json")
STEPS = 10


def test_tiny_config_losses_match_the_golden_file(tmp_path, token_dir):
    run = tiny_run(train={"max_steps": STEPS, "eval_every": 0, "progress": False, "num_threads": 2})
    train(run, tmp_path / "run", data=token_dir)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) == STEPS
    if os.environ.get("REFINEDWEB_REGENERATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({
            "config": "configs/train/tiny.yaml", "steps": STEPS, "data": "tests/trainer/conftest.py::token_dir",
            "torch": torch.__version__, "losses": losses}, indent=2) + "\n")
        pytest.skip(f"regenerated {GOLDEN.name}")
    golden = json.loads(GOLDEN.read_text())["losses"]
    assert losses == pytest.approx(golden, rel=1e-5, abs=1e-5)
