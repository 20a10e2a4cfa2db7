"""Fixed-bin histograms of the threshold signals, counted in the fused executor like any other counter.

A user tuning a threshold wants to see where it cuts the distribution of its signal. Keeping every
document's signals to draw that later does not scale, so the executor bins each signal over the
documents entering the stage that computes and thresholds it (kept and dropped alike). Bins are fixed
here, not per run, so batches, files and resumed runs merge by adding counts. Each signal also names
the config fields that threshold it (dotted paths into the run's saved config), for the report to draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from refinedweb import schema


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

    @property
    def stage(self) -> str:
        """The stage that thresholds the signal: its config section, e.g. ``language``."""
        return self.thresholds[0].split(".", 1)[0]


_FRACTION = linear_edges(0.0, 1.0, 50)
_RATIO = linear_edges(0.0, 0.5, 50)
_REPETITION = [schema.DUP_LINE_FRAC, schema.DUP_PARA_FRAC, schema.DUP_LINE_CHAR_FRAC, schema.DUP_PARA_CHAR_FRAC]
_REPETITION += list(schema.TOP_NGRAM_CHAR_FRAC.values()) + list(schema.DUP_NGRAM_CHAR_FRAC.values())

SIGNALS: dict[str, SignalSpec] = {
    schema.URL_SOFT_WORDS: SignalSpec(linear_edges(0, 10, 10), ("url_filter.soft_word_threshold",)),
    schema.LANGUAGE_SCORE: SignalSpec(_FRACTION, ("language.min_score",)),
    # repetition signals are named after their config fields (filters/repetition.py)
    **{c: SignalSpec(_FRACTION, (f"repetition.{c}",)) for c in _REPETITION},
    schema.WORD_COUNT: SignalSpec(count_edges(1e6), ("quality.min_words", "quality.max_words"), log=True),
    schema.MEAN_WORD_LENGTH: SignalSpec(linear_edges(0, 20, 80), ("quality.min_mean_word_length", "quality.max_mean_word_length")),
    schema.HASH_RATIO: SignalSpec(_RATIO, ("quality.max_hash_ratio",)),
    schema.ELLIPSIS_RATIO: SignalSpec(_RATIO, ("quality.max_ellipsis_ratio",)),
    schema.BULLET_LINE_FRAC: SignalSpec(_FRACTION, ("quality.max_bullet_line_frac",)),
    schema.ELLIPSIS_LINE_FRAC: SignalSpec(_FRACTION, ("quality.max_ellipsis_line_frac",)),
    schema.ALPHA_WORD_FRAC: SignalSpec(_FRACTION, ("quality.min_alpha_word_frac",)),
    schema.STOP_WORD_COUNT: SignalSpec(count_edges(1e4), ("quality.min_stop_words",), log=True),
    schema.LINES_REMOVED_WORD_FRAC: SignalSpec(_FRACTION, ("lines.max_removed_word_frac",)),
}


def histogram(values: pa.ChunkedArray | pa.Array, edges: tuple[float, ...]) -> dict[str, Any]:
    """``{"edges", "counts", "missing"}``: counts per bin (clipped into the end bins); nulls and NaN are missing."""
    x = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(x)
    e = np.asarray(edges, dtype=np.float64)
    clipped = np.clip(x[finite], e[0], e[-1])
    counts, _ = np.histogram(clipped, bins=e)
    return {"edges": list(edges), "counts": counts.astype(int).tolist(), "missing": int(len(x) - finite.sum())}


def signal_histograms(stage: str, after: pa.Table) -> dict[str, dict[str, Any]]:
    """Histograms of the signals ``stage`` thresholds (its config section names them), over its rows.

    Owned by the thresholding stage, not by whichever stage first adds the column: the language
    screen fills ``language_score`` during extraction, but language ID is where it is thresholded.
    """
    owned = [c for c in after.column_names if c in SIGNALS and SIGNALS[c].stage == stage]
    return {c: histogram(after.column(c), SIGNALS[c].edges) for c in owned}


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
