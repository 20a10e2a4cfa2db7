"""MFU arithmetic, the GPU peak table and the metrics sinks."""

from __future__ import annotations

import json

import pytest
import torch

from refinedweb.trainer.metrics import MetricsLogger, flops_per_token, gpu_peak_tflops, mfu, peak_flops


def test_flops_per_token_is_6n_plus_attention():
    # PaLM App. B: 6N + 12 L d T
    assert flops_per_token(1_000_000, n_layer=2, d_model=64, seq_len=128) == 6e6 + 12 * 2 * 64 * 128


def test_mfu_against_a_configured_peak():
    assert mfu(1000.0, 6e9, peak=1e13) == pytest.approx(0.6)
    assert mfu(1000.0, 6e9, peak=None) is None
    assert peak_flops(torch.device("cpu"), 2.5) == 2.5e12
    assert peak_flops(torch.device("cpu")) is None


@pytest.mark.parametrize("name, tflops", [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                                          ("NVIDIA H200", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0)])
def test_known_gpus_resolve_to_their_bf16_peak(name, tflops):
    assert gpu_peak_tflops(name) == tflops
    assert gpu_peak_tflops("NVIDIA GeForce GTX 1080") is None


def test_logger_writes_json_lines_and_tensorboard_and_truncates_on_resume(tmp_path):
    log = MetricsLogger(tmp_path, enabled=True, total_steps=5, progress=False)
    for step in range(1, 5):
        log.log({"step": step, "loss": 1.0 / step, "lr": 0.1, "tokens_per_s": 10.0, "mfu": None})
    log.log({"step": 4, "val_loss": 0.5, "val_ppl": 1.6})
    log.close()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4, 4] and "mfu" not in lines[0]
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    MetricsLogger(tmp_path, enabled=True, total_steps=5, start_step=2, progress=False).close()
    assert [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_disabled_logger_writes_nothing(tmp_path):
    log = MetricsLogger(tmp_path, enabled=False, total_steps=1)
    log.log({"step": 1, "loss": 1.0})
    log.close()
    assert not (tmp_path / "metrics.jsonl").exists()
