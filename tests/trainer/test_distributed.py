"""torchrun on CPU (gloo): DDP matches one process, and an FSDP run resumes exactly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from refinedweb.config import to_dict

from .conftest import REPO, small_run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on Linux")


def _torchrun(config, out, data, *extra) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "refinedweb.trainer.cli", "train", str(config), "--out", str(out), "--data", str(data), *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _losses(run_dir) -> dict[int, float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {x["step"]: x["loss"] for x in lines if "loss" in x}


def _config(tmp_path, name, **train):
    # decay_steps fixes the schedule, so stopping early with --max-steps does not change it
    run = small_run(optim={"warmup_steps": 1, "decay_steps": 4},
                    train={"max_steps": 4, "batch_size": 8, "micro_batch_size": 2, "eval_every": 0,
                           "checkpoint_every": 2, "num_threads": 1, **train})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(to_dict(run)))
    return run, path


def test_ddp_on_two_ranks_matches_one_process(tmp_path, token_dir):
    from refinedweb.trainer.train import train

    run, config = _config(tmp_path, "ddp", strategy="ddp")
    train(run, tmp_path / "single", data=token_dir)
    _torchrun(config, tmp_path / "ddp", token_dir)
    single, ddp = _losses(tmp_path / "single"), _losses(tmp_path / "ddp")
    assert sorted(ddp) == [1, 2, 3, 4]
    assert ddp == pytest.approx(single, abs=1e-5)  # same global batch, summed in another order


def test_fsdp_run_resumed_from_its_sharded_checkpoint_retraces_the_straight_run(tmp_path, token_dir):
    _, config = _config(tmp_path, "fsdp", strategy="fsdp")
    _torchrun(config, tmp_path / "straight", token_dir)
    _torchrun(config, tmp_path / "resumed", token_dir, "--max-steps", "2")
    assert sorted((tmp_path / "resumed" / "checkpoints" / "step_00000002").glob("*.distcp"))[1:]  # one shard per rank
    _torchrun(config, tmp_path / "resumed", token_dir, "--resume")
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")
