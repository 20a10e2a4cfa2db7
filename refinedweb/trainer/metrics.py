"""Watching a run: each step's metrics dict goes to metrics.jsonl, TensorBoard and a progress bar.

MFU follows PaLM (Chowdhery et al. 2022, App. B): model FLOPs per token are 6N (forward and
backward of every weight, the tied embedding counted once as the output layer) plus 12 x layers x
width x sequence for attention, over the device's peak dense bf16 FLOP/s.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from refinedweb.core.storage import Remote, StoragePath, copy_file, location, upload_tree

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tb"

# Peak dense (no sparsity) bf16 tensor-core TFLOP/s per GPU, from NVIDIA's datasheets. Matched in
# order against torch.cuda.get_device_name(), so the specific names come first.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H200", 989.4),
    ("H100", 989.4),
    ("A100", 312.0),
)


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device: the configured value, else the table for known GPUs, else None."""
    if override_tflops is not None:
        return override_tflops * 1e12
    if device.type == "cuda":
        tflops = gpu_peak_tflops(torch.cuda.get_device_name(device))
        return tflops * 1e12 if tflops is not None else None
    return None


def gpu_peak_tflops(name: str) -> float | None:
    """Peak dense bf16 TFLOP/s for a GPU name as CUDA reports it, e.g. "NVIDIA H100 80GB HBM3"."""
    return next((tflops for key, tflops in PEAK_BF16_TFLOPS if key in name), None)


def flops_per_token(n_params: int, n_layer: int, d_model: int, seq_len: int) -> float:
    """Training FLOPs per token: 6N + 12 L d T (PaLM App. B)."""
    return 6.0 * n_params + 12.0 * n_layer * d_model * seq_len


def mfu(tokens_per_s_per_device: float, flops_per_tok: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation in [0, 1], or None when the peak is unknown."""
    if not peak:
        return None
    return tokens_per_s_per_device * flops_per_tok / peak


def _truncate_after(path: Path, step: int) -> None:
    """Drop lines of metrics.jsonl logged after ``step`` (a resumed run logs them again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


class MetricsLogger:
    """One sink for every metrics dict: JSON lines, TensorBoard scalars and the progress bar (rank 0)."""

    def __init__(self, run_dir: StoragePath, *, enabled: bool, total_steps: int, start_step: int = 0, progress: bool = True):
        self.enabled = enabled
        self._file = self._tb = self._bar = None
        self._shown: dict[str, str] = {}
        self._remote: Remote | None = None
        if not enabled:
            return
        run_dir = location(run_dir)
        if isinstance(run_dir, Remote):  # logs are appended locally and uploaded by sync() (object storage has no append)
            self._remote, run_dir = run_dir, Path(tempfile.mkdtemp(prefix="refinedweb-metrics-"))
            if (self._remote / METRICS_FILE).is_file():
                copy_file(self._remote / METRICS_FILE, run_dir / METRICS_FILE)
        self._local = run_dir
        path = Path(run_dir) / METRICS_FILE
        _truncate_after(path, start_step)
        self._file = path.open("a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=start_step + 1)
        except ImportError:  # tensorboard is optional at run time
            self._tb = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)

    def log(self, metrics: dict[str, Any]) -> None:
        """Record one metrics dict (must hold ``step``)."""
        if not self.enabled:
            return
        clean = {k: v for k, v in metrics.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        step = int(metrics["step"])
        if self._tb is not None:
            for key, value in clean.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(("val/" if key.startswith("val_") else "train/") + key, value, step)
        if self._bar is not None:
            self._shown.update(_postfix(clean))
            self._bar.set_postfix(self._shown, refresh=False)
            self._bar.update(step - self._bar.n)

    def write(self, message: str) -> None:
        """Print a line without breaking the progress bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(message)
        else:
            print(message, flush=True)

    def sync(self) -> None:
        """Upload metrics.jsonl and the TensorBoard events to a run folder on object storage (else nothing to do)."""
        if self._remote is None:
            return
        if self._tb is not None:
            self._tb.flush()
        upload_tree(self._local, self._remote)

    def close(self) -> None:
        """Flush and close every sink."""
        for sink in (self._bar, self._tb, self._file):
            if sink is not None:
                sink.close()
        if self._remote is not None:
            self.sync()
            shutil.rmtree(self._local, ignore_errors=True)
            self._remote = None


def _postfix(m: dict[str, Any]) -> dict[str, str]:
    out = {}
    if "loss" in m:
        out["loss"] = f"{m['loss']:.3f}"
    if "val_loss" in m:
        out["val"] = f"{m['val_loss']:.3f}"
    if "tokens_per_s" in m:
        out["tok/s"] = f"{m['tokens_per_s']:,.0f}"
    if m.get("mfu") is not None:
        out["mfu"] = f"{100 * m['mfu']:.1f}%"
    return out
