"""Atomic checkpoints: round trip, keep-last-K, and leftovers of a killed write ignored."""

from __future__ import annotations

import pytest
import torch

from refinedweb.config import UserError
from refinedweb.trainer.checkpoint import (
    find_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from refinedweb.trainer.model import ModelConfig
from refinedweb.trainer.optim import OptimConfig
from refinedweb.trainer.model import Falcon
from refinedweb.trainer.optim import build_optimizer

CFG = ModelConfig(vocab_size=64, n_layer=1, d_model=32, n_head=2, max_seq_len=16)


def _trained():
    torch.manual_seed(0)
    model = Falcon(CFG)
    opt = build_optimizer(model, OptimConfig())
    ids = torch.randint(0, 64, (2, 16))
    model(ids, ids, 1e-4).loss.backward()
    opt.step()
    return model, opt


def test_round_trip_restores_weights_optimizer_and_trainer_state(tmp_path):
    model, opt = _trained()
    path = save_checkpoint(tmp_path, 7, model, opt, {"data": {"shard": 1, "offset": 2, "sequences": 3}}, keep=2)
    assert path.name == "step_00000007"
    fresh = Falcon(CFG)
    fresh_opt = build_optimizer(fresh, OptimConfig())
    state = load_checkpoint(path, fresh, fresh_opt)
    assert state["step"] == 7 and state["data"]["offset"] == 2
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
        assert torch.equal(opt.state[a]["exp_avg_sq"], fresh_opt.state[b]["exp_avg_sq"])


def test_only_the_newest_k_are_kept_and_tmp_leftovers_are_ignored(tmp_path):
    model, opt = _trained()
    (tmp_path / "checkpoints" / "step_00000009.tmp").mkdir(parents=True)  # a write killed half way
    assert list_checkpoints(tmp_path) == []
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, opt, {}, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 3]
    assert not (tmp_path / "checkpoints" / "step_00000009.tmp").exists()
    assert find_checkpoint(tmp_path).name == "step_00000003"
    assert find_checkpoint(tmp_path, 2).name == "step_00000002"
    with pytest.raises(UserError, match="no checkpoint for step 1"):
        find_checkpoint(tmp_path, 1)


class _Plant:
    """Unpickling this runs ``open(marker, "w")``: the marker file appears if the loader executes pickled code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_metadata_file_that_would_run_code_is_refused_without_running_it(tmp_path):
    import pickle

    model, opt = _trained()
    path = save_checkpoint(tmp_path, 1, model, opt, {}, keep=1)
    marker = tmp_path / "pwned"
    (path / ".metadata").write_bytes(pickle.dumps(_Plant(marker)))
    fresh = Falcon(CFG)
    with pytest.raises(UserError, match=r"\.metadata: refused"):
        load_checkpoint(path, fresh, build_optimizer(fresh, OptimConfig()))
    with pytest.raises(UserError, match=r"\.metadata: refused"):
        load_model_weights(path, Falcon(CFG))
    assert not marker.exists()


def test_a_checkpoint_entry_that_would_run_code_is_refused_without_running_it(tmp_path):
    import torch.distributed.checkpoint as dcp

    model, opt = _trained()
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoints" / "step_00000001"
    # a well-formed checkpoint whose one non-tensor entry (the learning rate) unpickles into code
    dcp.save({"model": model.state_dict(), "optim": {"param_groups.0.lr": _Plant(marker)}}, checkpoint_id=str(path))
    (path / "trainer.json").write_text('{"step": 1}')
    state = {"model": Falcon(CFG).state_dict(), "optim": {"param_groups.0.lr": 0.0}}
    with pytest.raises(UserError, match="param_groups.0.lr: refused"):
        from refinedweb.trainer.checkpoint import _dcp_load

        _dcp_load(state, path)
    assert not marker.exists()
