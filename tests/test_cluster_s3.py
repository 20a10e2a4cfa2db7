"""Issue 13 items 4-5: the whole chain on a two-node Ray cluster over S3, clean and under faults.

refine (with dedup) -> tokenizer train -> tokenize -> a few training steps, every path on moto's S3
server (tests/s3server.py), the Ray phases on the two-node cluster (tests/raycluster.py), must give
the refined shards, the deduplicated corpus and the token shards of a local one-node run on the same
input. Then the same chain through a proxy (tests/faultproxy.py) that answers a share of the
requests with 503 SlowDown or a reset connection, with the second node's raylet killed while it
refines a file: same output again, and the faults are counted and asserted. Each run prints its
figures (wall time, pages/s, bytes read from and written to the store, faults survived).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refinedweb import schema
from refinedweb.core.io import read_table
from refinedweb.core.storage import location
from tests.pipeline.test_runner import split_warc

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "refinedweb.cli"]
FILES = 8  # at least runner.files_per_worker (2) per worker: whole files on actors, one per node
PAGES = 64
FAULTS = {"slowdown": 0.12, "reset": 0.06, "seed": 13}
REFINING = "ray::FileRefineActor.refine_file"  # Ray's process title of a worker inside refine_file
pytestmark = pytest.mark.slow

RUN_YAML = "output:\n  report: false\n"
TRAIN_YAML = """model: {n_layer: 2, d_model: 64, n_head: 4, n_kv_head: 1, max_seq_len: 64}
data: {seq_len: 64}
optim: {warmup_steps: 2}
train: {max_steps: 3, batch_size: 4, micro_batch_size: 4, seed: 7, log_every: 1, eval_every: 0, checkpoint_every: 3}
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """The demo's sample WARC (English prose, duplicates, spam, other languages) cut into FILES files."""
    root = tmp_path_factory.mktemp("cluster-in")
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_warc.py"), "--output", str(root / "sample.warc.gz"),
                    "--pages", str(PAGES)], check=True, capture_output=True, timeout=120)
    return split_warc(root / "sample.warc.gz", root / "in", parts=FILES)


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cluster-cfg")
    (root / "run.yaml").write_text(RUN_YAML)
    (root / "train.yaml").write_text(TRAIN_YAML)
    return root / "run.yaml", root / "train.yaml"


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    start = time.perf_counter()
    res = subprocess.run(CLI + args, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    print(f"  {time.perf_counter() - start:5.1f} s  refinedweb {args[0]} {args[1]}", flush=True)
    assert res.returncode == 0, f"refinedweb {' '.join(args)}:\n{res.stderr[-4000:]}"
    return res


def _downstream(base: str, configs, env, address: str | None, workers: str, steps: bool = True) -> None:
    """tokenizer train -> tokenize (on the cluster where ``address``) -> three training steps with a checkpoint."""
    ray = ["--address", address] if address else []
    _cli(["tokenizer", "train", "--input", f"{base}/out/data", "--vocab-size", "384", "--output", f"{base}/tok"], env)
    _cli(["tokenize", "--input", f"{base}/out/data", "--tokenizer", f"{base}/tok", "--output", f"{base}/tokens",
          "--workers", workers, "--val-fraction", "0.1", "--docs-per-shard", "8", *ray], env)
    if steps:
        _cli(["train", str(configs[1]), "--data", f"{base}/tokens", "--out", f"{base}/run"], env)


def _rows(folder) -> list[list[dict]]:
    """Each Parquet shard of ``folder`` (sorted by name: the input's name leads it) as rows without the path columns."""
    shards = sorted(location(folder).rglob("*.parquet"), key=lambda p: p.name)
    assert shards, f"no shards under {folder}"
    return [[{k: v for k, v in r.items() if k != schema.SOURCE} for r in read_table(p).to_pylist()] for p in shards]


def _losses(run) -> list[float]:
    lines = [json.loads(x) for x in (location(run) / "metrics.jsonl").read_text().splitlines()]
    return [x["loss"] for x in lines if "loss" in x]


def _output(base: str, steps: bool = True) -> dict:
    """What must not depend on where the chain ran: refined shards, the final corpus, token shards, losses."""
    out = {"refined": _rows(f"{base}/out/refined"), "data": _rows(f"{base}/out/data"),
           "train": _rows(f"{base}/tokens/train"), "val": _rows(f"{base}/tokens/val")}
    return {**out, "losses": _losses(f"{base}/run")} if steps else out


def _upload(files: list[Path], prefix: str) -> None:
    for path in files:
        (location(prefix) / path.name).write_bytes(path.read_bytes())


@pytest.fixture(scope="module")
def local_output(inputs, configs, tmp_path_factory) -> dict:
    """The chain on local disk in one process (``--workers 1``: no Ray)."""
    base = str(tmp_path_factory.mktemp("cluster-local"))
    _cli(["run", str(configs[0]), "--input", *map(str, inputs), "--output", f"{base}/out", "--workers", "1"])
    _downstream(base, configs, None, None, "1")
    out = _output(base)
    assert sum(map(len, out["data"])) > 10 and out["train"] and len(out["losses"]) == 3
    return out


def _env(cluster, endpoint: str) -> dict[str, str]:
    return {**cluster.env, "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}


def _figures(label: str, stats: dict, wall: float, counts: dict) -> None:
    pages = sum(f["html_docs"] for f in stats["files"])
    print(f"\n[{label}] refine+dedup {stats['wall_seconds']:.1f} s for {stats['records_read']} records, {pages} HTML pages "
          f"({pages / stats['wall_seconds']:.1f} pages/s; refine {stats['phase_seconds']['refine']:.1f} s, dedup "
          f"{stats['phase_seconds']['dedup']:.1f} s); whole chain {wall:.1f} s; S3 requests {counts['requests']}, "
          f"read {counts['bytes_down']} B, written {counts['bytes_up']} B; faults: {counts['slowdown']} SlowDown, "
          f"{counts['reset']} resets", flush=True)


def test_two_node_cluster_over_s3_equals_a_local_run(ray_cluster, s3_bucket, fault_proxy_factory, inputs, configs, local_output):
    ray_cluster.ensure_two_nodes()
    proxy = fault_proxy_factory(s3_bucket.server.endpoint)  # no faults: it only counts the traffic
    env, base = _env(ray_cluster, proxy.endpoint_url), s3_bucket.url("clean")
    _upload(inputs, f"{base}/in")
    start = time.perf_counter()
    _cli(["run", str(configs[0]), "--input", f"{base}/in", "--output", f"{base}/out", "--address", ray_cluster.address,
          "--workers", "2"], env)
    _downstream(base, configs, env, ray_cluster.address, "2")
    wall = time.perf_counter() - start
    stats = json.loads((location(base) / "out" / "stats.json").read_text())
    _figures("two nodes, S3", stats, wall, proxy.counts())
    assert ray_cluster.alive_nodes() == 2
    assert [Path(f["path"]).name for f in stats["files"]] == [p.name for p in inputs]
    assert _output(base) == local_output
    assert location(f"{base}/run/checkpoints/step_00000003/trainer.json").is_file()


def _run_killing_the_worker(cluster, args: list[str], env: dict[str, str], log: Path) -> str:
    """``refinedweb run`` with the second node's raylet killed while that node refines a file; returns its stderr."""
    with open(log, "w") as sink:
        proc = subprocess.Popen(CLI + args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=sink, text=True, env=env)
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and not cluster.worker_running(REFINING) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None, f"the run ended before the second node refined a file:\n{log.read_text()[-3000:]}"
            assert cluster.worker_running(REFINING), "the second node never refined a file"
            cluster.kill_worker_raylet()
            assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    return log.read_text()


def test_faults_and_a_lost_node_change_nothing(ray_cluster, s3_bucket, fault_proxy_factory, inputs, configs, local_output,
                                               tmp_path):
    ray_cluster.ensure_two_nodes()
    proxy = fault_proxy_factory(s3_bucket.server.endpoint, **FAULTS)
    env, base = _env(ray_cluster, proxy.endpoint_url), s3_bucket.url("faults")
    _upload(inputs, f"{base}/in")
    start = time.perf_counter()
    stderr = _run_killing_the_worker(ray_cluster, ["run", str(configs[0]), "--input", f"{base}/in", "--output",
                                                   f"{base}/out", "--address", ray_cluster.address, "--workers", "2"],
                                     env, tmp_path / "run.log")
    refined = proxy.counts()
    _downstream(base, configs, env, ray_cluster.address, "2", steps=False)  # training on S3: the clean test's
    wall = time.perf_counter() - start
    counts = proxy.counts()
    stats = json.loads((location(base) / "out" / "stats.json").read_text())
    _figures(f"faults {FAULTS}, second raylet killed", stats, wall, counts)
    assert "the file is redone on a new one" in stderr, stderr[-3000:]
    assert ray_cluster.alive_nodes() == 1
    assert refined["slowdown"] > 0 and refined["reset"] > 0, refined  # the refine phase itself met both kinds
    assert counts["slowdown"] > refined["slowdown"] and counts["reset"] > refined["reset"], counts
    assert "quarantined" not in stats and "not_done" not in stats
    assert _output(base, steps=False) == {k: v for k, v in local_output.items() if k != "losses"}
