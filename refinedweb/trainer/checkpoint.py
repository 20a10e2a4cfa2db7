"""A run folder and its checkpoints: written atomically, the newest K kept, loadable by any world size.

Layout of ``RUN_DIR``::

    config.yaml        the resolved run config (vocab_size filled in)
    run.json           tokenizer facts (sha256, vocab size, end-of-text id and string), data folder
    tokenizer/         copy of the tokenizer files, so ``export`` can ship them
    checkpoints/step_00001000/   torch.distributed.checkpoint shards + trainer.json
    metrics.jsonl, tb/ written by metrics.py

A checkpoint is written by every rank into ``step_N.tmp`` (``torch.distributed.checkpoint``: each
rank its own shards under FSDP, one file otherwise), completed with ``trainer.json`` and renamed to
``step_N`` by rank 0. The rename is the commit: a run killed mid-write leaves only a ``.tmp``
folder, ignored and cleared by the next save. config.yaml and run.json are written the same way
(temporary file, fsync, rename), so a kill never leaves half of one.

``RUN_DIR`` may be object storage (``s3://``, ``core/storage.py``), which has no rename: each rank
saves into a local temporary folder of its own and uploads its files under ``step_N/``; once all
have, rank 0 uploads ``trainer.json``, last. Its presence is the commit: a checkpoint without it
(a run killed mid-upload) is never listed, and the next save clears it. A checkpoint is loaded by
downloading its keys to a local temporary folder first.

Loading never runs pickled code from the folder. ``torch.distributed.checkpoint`` unpickles its
``.metadata`` with plain ``pickle.load`` and non-tensor entries with ``torch.load(weights_only=False)``;
``SafeReader`` and ``SafePlanner`` replace those with an unpickler that only builds the checkpoint
format's own metadata classes and with ``torch.load(weights_only=True)``. Tensors are already read
with ``weights_only=True``. A checkpoint that needs anything else is refused with a ``UserError``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import yaml
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from refinedweb.config import UserError, from_dict
from refinedweb.core.io import fsync_dir
from refinedweb.core.storage import Remote, StoragePath, copy_file, download_tree, location, remove_tree, upload_tree
from refinedweb.trainer.model import Falcon, ModelConfig

CHECKPOINTS = "checkpoints"
CONFIG = "config.yaml"
RUN_INFO = "run.json"
TOKENIZER = "tokenizer"
TRAINER_STATE = "trainer.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")


def _quiet(fn, *args, **kwargs):
    """Call a torch.distributed.checkpoint function without its single-process warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to")
        return fn(*args, **kwargs)


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


# --- loading without running pickled code ---------------------------------------------------------

_METADATA_MODULE = "torch.distributed.checkpoint.metadata"
# Globals a ``.metadata`` file of torch.distributed.checkpoint refers to, besides its own classes.
_METADATA_GLOBALS = {
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),
    ("pathlib", "PosixPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PureWindowsPath"),
    ("collections", "OrderedDict"),
}


class _MetadataUnpickler(pickle.Unpickler):
    """Unpickles a checkpoint's ``.metadata``: its dataclasses, torch dtypes and sizes, nothing callable else."""

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if module == _METADATA_MODULE:
            found = getattr(dcp.metadata, name, None)
            if isinstance(found, type) and found.__module__ == _METADATA_MODULE:
                return found
        elif module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        elif (module, name) in _METADATA_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint's metadata")


class SafeReader(dcp.FileSystemReader):
    """``FileSystemReader`` whose ``.metadata`` is read by ``_MetadataUnpickler`` instead of ``pickle.load``."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> dcp.Metadata:
        rank = kwargs.get("rank")
        path = Path(self.path) / (".metadata" if rank is None else f"__{rank}.metadata")
        try:
            with open(path, "rb") as fh:
                metadata = _MetadataUnpickler(fh).load()
        except FileNotFoundError:
            raise UserError(f"{path}: not found (an incomplete checkpoint?)") from None
        except (pickle.UnpicklingError, AttributeError, EOFError, TypeError, ValueError) as exc:
            raise UserError(f"{path}: refused, not a plain checkpoint metadata file ({exc})") from None
        if not isinstance(metadata, dcp.Metadata):
            raise UserError(f"{path}: refused, holds a {type(metadata).__name__}, not checkpoint metadata")
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = dcp.metadata.StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class SafePlanner(DefaultLoadPlanner):
    """``DefaultLoadPlanner`` that reads non-tensor entries with ``torch.load(weights_only=True)``."""

    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        try:
            obj = torch.load(value, weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UserError(f"checkpoint entry {read_item.dest_index.fqn}: refused, it needs code to unpickle "
                            f"({str(exc).splitlines()[0]})") from None
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj


def _dcp_load(state: dict[str, Any], path: StoragePath) -> None:
    """``dcp.load`` of ``state`` from ``path`` through ``SafeReader`` and ``SafePlanner``."""
    if not location(path).is_dir():
        raise UserError(f"{path}: checkpoint folder not found")
    if isinstance(path, Remote):
        with tempfile.TemporaryDirectory(prefix="refinedweb-ckpt-") as local:
            return _dcp_load(state, download_tree(path, Path(local)))  # dcp reads local files
    reader = SafeReader(str(path))
    reader.read_metadata()  # refuses a bad .metadata here, before dcp wraps the error in its own
    try:
        _quiet(dcp.load, state, storage_reader=reader, planner=SafePlanner())
    except CheckpointException as exc:
        refused = [e for e, _ in exc.failures.values() if isinstance(e, UserError)]
        if refused:
            raise refused[0] from None
        raise


def _write_atomic(path: StoragePath, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder: fsync, rename, fsync the folder."""
    if isinstance(path, Remote):  # one upload: the key is whole or absent
        path.write_text(text)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


# --- the run folder --------------------------------------------------------------------------------

def write_run_files(run_dir: StoragePath, config: dict[str, Any], info: dict[str, Any], tokenizer_dir: StoragePath) -> None:
    """config.yaml (the run config as a mapping), run.json and tokenizer/ (rank 0 only)."""
    run_dir, tokenizer_dir = location(run_dir), location(tokenizer_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(run_dir / CONFIG, yaml.safe_dump(config, sort_keys=False))
    _write_atomic(run_dir / RUN_INFO, json.dumps(info, indent=2))
    target = run_dir / TOKENIZER
    target.mkdir(exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tokenizer_dir / name).is_file():
            copy_file(tokenizer_dir / name, target / name)


def read_run_config_dict(run_dir: StoragePath) -> dict[str, Any]:
    """The resolved config saved in a run folder, as a mapping (``train.read_run_config`` builds it).

    Runs saved before the ``enabled`` switches were dropped from the trainer's configs stored
    ``enabled: true`` in each section; those keys are removed so old run folders still load.
    """
    path = location(run_dir) / CONFIG
    if not path.is_file():
        raise UserError(f"{path}: not found (is {run_dir} a training run folder?)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for section in raw.values():
        if isinstance(section, dict) and section.get("enabled") is True:
            del section["enabled"]
    return raw


def read_run_info(run_dir: StoragePath) -> dict[str, Any]:
    """run.json of a run folder (tokenizer facts)."""
    path = location(run_dir) / RUN_INFO
    if not path.is_file():
        raise UserError(f"{path}: not found (is {run_dir} a training run folder?)")
    return json.loads(path.read_text(encoding="utf-8"))


# --- checkpoints -----------------------------------------------------------------------------------

def list_checkpoints(run_dir: StoragePath) -> list[tuple[int, StoragePath]]:
    """Complete checkpoints of a run, oldest first, as (step, folder)."""
    root = location(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / TRAINER_STATE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def find_checkpoint(run_dir: StoragePath, step: int | None = None) -> StoragePath:
    """The newest checkpoint, or the one of ``step``; a ``UserError`` when there is none."""
    found = list_checkpoints(run_dir)
    if step is not None:
        found = [(s, p) for s, p in found if s == step]
    if not found:
        which = f"for step {step} " if step is not None else ""
        raise UserError(f"{location(run_dir) / CHECKPOINTS}: no checkpoint {which}found")
    return found[-1][1]


def _save_remote(root: Remote, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 trainer_state: dict[str, Any], keep: int) -> Remote:
    """``save_checkpoint`` onto object storage: every rank's files uploaded, then ``trainer.json`` last."""
    final = root / f"step_{step:08d}"
    if _rank() == 0:
        done = {p for _, p in list_checkpoints(root.parent)}
        for stale in [p for p in root.iterdir() if p not in done] + ([final] if final in done else []):
            remove_tree(stale)  # a save cut off mid-upload (no trainer.json), or this step's older copy
    _barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    with tempfile.TemporaryDirectory(prefix="refinedweb-ckpt-") as local:
        _quiet(dcp.save, {"model": model_state, "optim": optim_state}, checkpoint_id=local)
        upload_tree(Path(local), final)
    _barrier()
    if _rank() == 0:
        (final / TRAINER_STATE).write_text(json.dumps({"step": step, **trainer_state}, indent=2))
        for _, old in list_checkpoints(root.parent)[:-keep]:
            remove_tree(old)
    _barrier()
    return final


def save_checkpoint(run_dir: StoragePath, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    trainer_state: dict[str, Any], keep: int) -> StoragePath:
    """Write checkpoint ``step`` atomically (a collective under torchrun) and prune to the newest ``keep``."""
    root = location(run_dir) / CHECKPOINTS
    if isinstance(root, Remote):
        return _save_remote(root, step, model, optimizer, trainer_state, keep)
    final, tmp = root / f"step_{step:08d}", root / f"step_{step:08d}.tmp"
    if _rank() == 0:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob("*.tmp"):
            shutil.rmtree(stale)
    _barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    _quiet(dcp.save, {"model": model_state, "optim": optim_state}, checkpoint_id=str(tmp))
    _barrier()
    if _rank() == 0:
        with open(tmp / TRAINER_STATE, "w", encoding="utf-8") as fh:
            json.dump({"step": step, **trainer_state}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
        for _, old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old)
    _barrier()
    return final


def load_checkpoint(path: StoragePath, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model and optimizer from a checkpoint folder; returns its trainer.json."""
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    _dcp_load(state, path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    return json.loads((location(path) / TRAINER_STATE).read_text(encoding="utf-8"))


def load_model_weights(path: StoragePath, model: torch.nn.Module) -> None:
    """Restore only the model's weights (single process; for export and generation)."""
    state = {"model": model.state_dict()}
    _dcp_load(state, path)
    model.load_state_dict(state["model"])



def load_run_model(run_dir: str | StoragePath, step: int | None = None, device: str | torch.device = "cpu") -> Falcon:
    """The ``Falcon`` of a run folder at its newest checkpoint (or ``step``), in eval mode."""
    run_dir = location(run_dir)
    cfg = from_dict(ModelConfig, read_run_config_dict(run_dir).get("model"), "model")
    path = find_checkpoint(run_dir, step)
    with torch.device("meta"):
        model = Falcon(cfg)
    model.to_empty(device=device)
    load_model_weights(path, model)
    model.init_buffers()
    return model.eval()
