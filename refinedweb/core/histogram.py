"""Fixed-bin histograms of the threshold signals, counted in the fused executor like any other counter.

A user tuning a threshold wants to see where it cuts the distribution of its signal. Keeping every
document's signals to draw that later does not scale, so the executor bins each signal over the
documents entering the stage that computes and thresholds it (kept and dropped alike). Bins are fixed
here, not per run, so batches, files and resumed runs merge by adding counts. Each signal also names
the config fields that threshold it (dotted paths into the run's saved config), for the report to draw.
The specs come from the filters' rule tables (``core.stage.Rule``): the stage hands its own to the
executor, and the report reads the tables (``filters.rules``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa


def linear_edges(lo: float, hi: float, bins: int) -> tuple[float, ...]:
    """``bins`` equal bins from ``lo`` to ``hi`` (rounded, so JSON round-trips and merges compare equal)."""
    return tuple(round(lo + (hi - lo) * i / bins, 6) for i in range(bins + 1))


def count_edges(top: float, per_decade: int = 10) -> tuple[float, ...]:
    """Unit bins for 0..10 (small counts matter: a threshold of 2 stop words), then log-spaced to ``top``."""
    decades = math.log10(top) - 1
    logs = [round(10 ** (1 + i / per_decade), 3) for i in range(1, int(round(decades * per_decade)) + 1)]
    return tuple(float(i) for i in range(11)) + tuple(logs)


@dataclass(frozen=True)
class SignalSpec:
    """How one signal is binned, and which config fields (dotted paths) threshold it."""

    edges: tuple[float, ...]
    """Bin edges; values beyond the range are counted in the first or last bin."""
    thresholds: tuple[str, ...]
    """Config fields that threshold the signal, e.g. ``language.min_score``."""
    log: bool = False
    """Draw on a log-like axis (counts spanning decades)."""


FRACTION = linear_edges(0.0, 1.0, 50)
"""Bins of a share in [0, 1]."""
RATIO = linear_edges(0.0, 0.5, 50)
"""Bins of a per-word ratio (Gopher's symbol ratios)."""


def histogram(values: pa.ChunkedArray | pa.Array, edges: tuple[float, ...]) -> dict[str, Any]:
    """``{"edges", "counts", "missing"}``: counts per bin (clipped into the end bins); nulls and NaN are missing."""
    x = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(x)
    e = np.asarray(edges, dtype=np.float64)
    clipped = np.clip(x[finite], e[0], e[-1])
    counts, _ = np.histogram(clipped, bins=e)
    return {"edges": list(edges), "counts": counts.astype(int).tolist(), "missing": int(len(x) - finite.sum())}


def signal_histograms(specs: Mapping[str, SignalSpec], after: pa.Table) -> dict[str, dict[str, Any]]:
    """Histograms of the signals in ``specs`` (the stage's own, see ``core.stage.Rule``) over its rows.

    Owned by the thresholding stage, not by whichever stage first adds the column: the language
    screen fills ``language_score`` during extraction, but language ID is where it is thresholded.
    """
    return {c: histogram(after.column(c), specs[c].edges) for c in after.column_names if c in specs}


def merge_histograms(into: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> None:
    """Add ``more``'s counts into ``into`` (same bins required: bins are fixed per signal)."""
    for name, h in more.items():
        mine = into.get(name)
        if mine is None:
            into[name] = {"edges": list(h["edges"]), "counts": list(h["counts"]), "missing": h.get("missing", 0)}
            continue
        if mine["edges"] != h["edges"]:
            raise ValueError(f"histogram {name}: bins differ between the parts being merged")
        mine["counts"] = [a + b for a, b in zip(mine["counts"], h["counts"])]
        mine["missing"] = mine.get("missing", 0) + h.get("missing", 0)
