"""What a whole snapshot costs: core-hours, wall time, object-store peak and output size, before running it.

Arithmetic only: per-unit costs measured by ``bench/plan_costs.py`` (``refinedweb/plan_costs.json``:
core-seconds per page of each refine stage, core-seconds per document of each dedup kind, shuffle
bytes per document, output bytes per kept document, the shares kept, and the machine they were
measured on) times the snapshot's size, which is assumed (``PlanConfig``: 90,000 WARC files of
40,000 pages, about what a Common Crawl snapshot holds) unless the user gives it. The model:

- refine: every page costs the sum of its stages; a file runs on one core, files are spread over
  ``nodes x cpus_per_node`` cores in rounds, so the wall time is ``ceil(files / cores)`` files'
  time (files of equal size);
- the driver writes every refined shard itself, one after another: its seconds are a floor on the
  refine's wall time at many cores;
- dedup: each kind's core-seconds spread evenly over the cores (its shuffles assumed to scale);
- object store: the largest of what each phase holds at once: every core's finished file result
  waiting for the driver (refine), and the corpus's band entries (MinHash), window fingerprints
  (exact) and URL keys (url) waiting for their shuffle (the dedup modules' own accounting).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refinedweb.config import UserError, check, from_dict

COSTS_FILE = Path(__file__).with_name("plan_costs.json")
ASSUMED_WARC_FILES = 90_000  # files in a Common Crawl snapshot, roughly (assumed, not measured here)
ASSUMED_PAGES_PER_FILE = 40_000  # pages (response records) per WARC file, roughly (assumed)
GIB, TIB = 2**30, 2**40


@dataclass(frozen=True)
class PlanConfig:
    """The cluster and the snapshot's size."""

    nodes: int
    """Machines in the Ray cluster."""
    cpus_per_node: int
    """Cores each machine gives Ray (one refining actor or dedup task each)."""
    warc_files: int = ASSUMED_WARC_FILES
    """WARC files in the snapshot: assumed 90,000 unless given (--warc-files, or counted from a warc.paths.gz)."""
    pages_per_file: int = ASSUMED_PAGES_PER_FILE
    """Pages (HTTP responses) per WARC file: assumed 40,000."""

    def __post_init__(self) -> None:
        for name in ("nodes", "cpus_per_node", "warc_files", "pages_per_file"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, name, f"must be an integer >= 1, got {value!r}")

    @property
    def cores(self) -> int:
        return self.nodes * self.cpus_per_node


@dataclass(frozen=True)
class Costs:
    """Per-unit costs as ``bench/plan_costs.py`` writes them."""

    stage_core_seconds_per_page: dict[str, float]
    """Refine stage -> core-seconds per page read (one worker, the stage's seconds in stats.json / pages)."""
    dedup_core_seconds_per_doc: dict[str, float]
    """Dedup kind -> core-seconds per document entering dedup."""
    shuffle_bytes_per_doc: dict[str, float]
    """Dedup kind -> bytes each document puts in the object store for the kind's shuffle."""
    refine_kept_fraction: float
    """Documents out of the refine per page read."""
    dedup_kept_fraction: float
    """Documents out of dedup per document in."""
    data_bytes_per_kept_doc: float
    """Bytes of the final corpus (``data/``) per document kept."""
    refined_bytes_per_doc: float
    """Bytes of the refined shards (``refined/``, kept beside ``data/``) per refined document."""
    result_bytes_per_refined_doc: float
    """Bytes of a file's result in the object store (its kept rows as Arrow) per refined document."""
    driver_seconds_per_refined_doc: float
    """The driver's seconds writing a refined shard, per document in it."""
    measured: dict[str, Any] = field(default_factory=dict)
    """Where, when and on what the costs were measured (machine, date, input, load)."""

    def __post_init__(self) -> None:
        for name in ("refine_kept_fraction", "dedup_kept_fraction"):
            check(0 <= getattr(self, name) <= 1, name, f"must be in [0, 1], got {getattr(self, name)}")
        for name, values in (("stage_core_seconds_per_page", self.stage_core_seconds_per_page),
                             ("dedup_core_seconds_per_doc", self.dedup_core_seconds_per_doc),
                             ("shuffle_bytes_per_doc", self.shuffle_bytes_per_doc)):
            for key, v in values.items():
                check(v >= 0, f"{name}.{key}", f"must be >= 0, got {v}")


def load_costs(path: str | Path = COSTS_FILE) -> Costs:
    """The measured costs; a missing or malformed file is a ``UserError`` naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the measured costs ({exc}); run bench/plan_costs.py") from None
    return from_dict(Costs, data, str(Path(path).name))


def count_warc_paths(path: str | Path) -> int:
    """Lines of a ``warc.paths.gz`` (or plain) listing: the snapshot's WARC files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--warc-paths {path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--warc-paths {path}: cannot read it ({exc})") from None


def make_plan(cfg: PlanConfig, costs: Costs) -> dict[str, Any]:
    """The snapshot's figures: pages, documents, core-hours, wall hours, object-store peak, output bytes."""
    pages = cfg.warc_files * cfg.pages_per_file
    per_page = sum(costs.stage_core_seconds_per_page.values())
    refined = pages * costs.refine_kept_fraction
    kept = refined * costs.dedup_kept_fraction
    refine_core_s = pages * per_page
    file_s = cfg.pages_per_file * per_page
    rounds = math.ceil(cfg.warc_files / cfg.cores)
    driver_s = refined * costs.driver_seconds_per_refined_doc
    refine_wall_s = max(rounds * file_s, driver_s)
    dedup_core = {k: refined * v for k, v in costs.dedup_core_seconds_per_doc.items()}
    dedup_wall_s = sum(dedup_core.values()) / cfg.cores
    store = {"refine": min(cfg.cores, cfg.warc_files) * cfg.pages_per_file * costs.refine_kept_fraction
             * costs.result_bytes_per_refined_doc}
    store.update({f"dedup {k}": refined * v for k, v in costs.shuffle_bytes_per_doc.items()})
    peak_phase = max(store, key=store.get)
    return {
        "pages": pages, "refined_docs": refined, "kept_docs": kept, "cores": cfg.cores,
        "refine_core_hours": refine_core_s / 3600, "dedup_core_hours": {k: v / 3600 for k, v in dedup_core.items()},
        "core_hours": (refine_core_s + sum(dedup_core.values())) / 3600,
        "file_hours": file_s / 3600, "rounds": rounds, "driver_hours": driver_s / 3600,
        "refine_wall_hours": refine_wall_s / 3600, "dedup_wall_hours": dedup_wall_s / 3600,
        "wall_hours": (refine_wall_s + dedup_wall_s) / 3600,
        "object_store_bytes": store, "object_store_peak_bytes": store[peak_phase], "object_store_peak_phase": peak_phase,
        "data_bytes": kept * costs.data_bytes_per_kept_doc, "refined_bytes": refined * costs.refined_bytes_per_doc,
    }


def _h(hours: float) -> str:
    return f"{hours:,.1f} h" if hours >= 1 else f"{hours * 60:,.1f} min"


def format_plan(name: str, cfg: PlanConfig, costs: Costs, plan: dict[str, Any], assumed: list[str]) -> str:
    """The plan as a person reads it: what it costs, then which figures are measured and which assumed."""
    per_page = ", ".join(f"{k} {1e3 * v:.2f}" for k, v in costs.stage_core_seconds_per_page.items())
    dedup = ", ".join(f"{k} {v:,.0f}" for k, v in plan["dedup_core_hours"].items())
    store = ", ".join(f"{k} {v / GIB:,.0f}" for k, v in plan["object_store_bytes"].items())
    m = costs.measured
    lines = [
        f"plan for {name} on {cfg.nodes} nodes x {cfg.cpus_per_node} cores ({cfg.cores:,} cores)",
        f"  input         {cfg.warc_files:,} WARC files x {cfg.pages_per_file:,} pages = {plan['pages']:,} pages",
        f"  refine        {plan['refine_core_hours']:,.0f} core-hours; wall {_h(plan['refine_wall_hours'])} "
        f"({plan['rounds']} rounds of one file per core x {_h(plan['file_hours'])} = {_h(plan['rounds'] * plan['file_hours'])}; "
        f"the driver writing every shard: {_h(plan['driver_hours'])}"
        f"{', the bound' if plan['driver_hours'] > plan['rounds'] * plan['file_hours'] else ''})",
        f"                per page, ms of one core: {per_page}",
        f"  dedup         {sum(plan['dedup_core_hours'].values()):,.0f} core-hours ({dedup}); wall {_h(plan['dedup_wall_hours'])}",
        f"  total         {plan['core_hours']:,.0f} core-hours; wall {_h(plan['wall_hours'])}",
        f"  documents     {plan['refined_docs']:,.0f} after the refine, {plan['kept_docs']:,.0f} after dedup",
        f"  object store  peak {plan['object_store_peak_bytes'] / GIB:,.0f} GiB ({plan['object_store_peak_phase']}), "
        f"{plan['object_store_peak_bytes'] / cfg.nodes / GIB:,.1f} GiB per node; by phase, GiB: {store}",
        f"  output        data/ {plan['data_bytes'] / TIB:,.2f} TiB, refined/ {plan['refined_bytes'] / TIB:,.2f} TiB",
        f"measured: per-unit costs by bench/plan_costs.py on {m.get('machine', '?')}, {m.get('date', '?')} "
        f"({m.get('input', '?')}); dedup per document on {m.get('dedup_input', '?')}",
        f"assumed: {'; '.join(assumed)}",
    ]
    return "\n".join(lines)


def assumptions(cfg: PlanConfig, warc_files_given: bool, costs: Costs | None = None) -> list[str]:
    """What the plan takes on trust rather than from a measurement."""
    out = [] if warc_files_given else [f"{cfg.warc_files:,} WARC files in the snapshot (give --warc-files or --warc-paths)"]
    if cfg.pages_per_file == ASSUMED_PAGES_PER_FILE:
        out.append(f"{cfg.pages_per_file:,} pages per WARC file (--pages-per-file)")
    out.append("a snapshot's pages cost, keep and weigh what the measured pages did")
    if costs is not None:
        out.append(f"dedup keeps {100 * costs.dedup_kept_fraction:.0f}% of the refined documents, as on the measured pages"
                   + (" (which hold no duplicates: data/ is an upper bound)" if costs.dedup_kept_fraction == 1 else ""))
    out += [
            "dedup and its shuffles scale evenly over every core; the object store spreads evenly over the nodes",
            "no stragglers, retries or network limits"]
    return out
