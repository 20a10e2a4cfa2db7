"""``refinedweb dedup``: the dedup phase over any folder of Parquet files with a `text` column.

For deduplicating across runs and snapshots: point ``--input`` at a folder holding several runs'
``data/`` folders (or any Parquet with `text`, and `id`, `url` where present). Files are taken in
sorted path order, which is the global order that decides which copy is kept; each lands under
``OUT/data/`` at the same relative path. ``OUT/stats.json`` has the dedup stages' funnel. For a new
snapshot, ``--against OLD`` also removes what an earlier dedup output already holds, from the
fingerprints stored under ``OLD/dedup/index/``; OLD is only read.
"""

from __future__ import annotations

import time
from typing import Any

from refinedweb import schema
from refinedweb.config import UserError
from refinedweb.core import console
from refinedweb.core.inputs import PARQUET, resolve_inputs
from refinedweb.core.io import check_columns, parquet_file, write_json_atomic
from refinedweb.core.output import DATA_DIR, REJECTED_DIR, STATS_FILE, OutputConfig, OutputDir, output_lock
from refinedweb.core.stats import FileState, RunStats
from refinedweb.core.storage import StoragePath, location
from refinedweb.dedup.config import DedupConfig
from refinedweb.dedup.phase import Shard, dedup_phase


def find_shards(input_dir: str | StoragePath, output: str | StoragePath) -> list[Shard]:
    """The Parquet files under ``input_dir`` (a folder or a storage prefix) in sorted order; bad input is a ``UserError`` naming it."""
    root = location(input_dir)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    out = location(output).resolve()
    if out == root.resolve() or root.resolve() in out.parents:
        raise UserError(f"{output}: the output folder must not be inside the input folder {root}")
    paths = [location(p) for p in resolve_inputs(str(root), PARQUET)]
    shards = []
    for p in paths:
        check_columns(p, (schema.TEXT,))
        shards.append(Shard(str(p), p.relative_to(root).as_posix()))
    return shards


def dedup_folder(
    config: DedupConfig,
    output_config: OutputConfig,
    input_dir: str | StoragePath,
    output: str | StoragePath,
    workers: int,
    address: str | None = None,
    against: str | StoragePath | None = None,
) -> dict[str, Any]:
    """Deduplicate every Parquet file under ``input_dir`` into ``output``; returns its stats.json.

    ``against``: an earlier dedup output folder; documents and spans already in it are removed too.
    """
    start = time.perf_counter()
    shards = find_shards(input_dir, output)
    if against is not None and (not location(against).is_dir() or location(against).resolve() == location(output).resolve()):
        raise UserError(f"--against {against}: must be an earlier dedup output folder, not this run's output")
    with output_lock(output, console.current().info):
        return _dedup(config, output_config, shards, output, workers, address, start, against)


def _dedup(config: DedupConfig, output_config: OutputConfig, shards: list[Shard], output: str | StoragePath, workers: int,
           address: str | None, start: float, against: str | StoragePath | None) -> dict[str, Any]:
    """``dedup_folder`` once it holds the output's lock."""
    result = dedup_phase(shards, output, config, output_config, workers, address, output_config.rejected_per_reason, against)
    OutputDir(output, subdirs=(REJECTED_DIR,)).absorb_rejected(output_config)
    if result.skipped:
        console.current().info(f"dedup: already done for these {len(shards)} files in {output}")
    files = [FileState(s.path, parquet_file(s.path).metadata.num_rows, shard=f"{DATA_DIR}/{s.name}", docs_written=result.written[s.name])
             for s in shards]
    stats = RunStats(files, result.stages, wall_seconds=time.perf_counter() - start)
    stats.check(str(output))
    write_json_atomic(location(output) / STATS_FILE, stats.to_json())
    return stats.to_json()
