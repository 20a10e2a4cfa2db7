"""The report's charts as PNG bytes (matplotlib, Agg backend: no display, no network).

* the funnel in the style of RefinedWeb Fig. 2: after each stage, the share of the input still kept
  (dark) and the share that stage removed (light), for documents and for characters;
* per stage, the drop reasons as horizontal bars;
* per stage, a histogram of each threshold signal over the documents entering it, the configured
  threshold(s) drawn as red lines.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.figure import Figure  # noqa: E402

from refinedweb.filters.rules import SIGNALS, drops_below  # noqa: E402
from refinedweb.report.funnel import Run, share  # noqa: E402

EXTRACT_STAGE = "extract"  # pipeline/extract.py Extractor.name: characters are HTML before it, text after
KEPT, REMOVED, THRESHOLD = "#1f5f8b", "#f2a65a", "#c0392b"
DPI = 100


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def char_bases(stages: list[dict[str, Any]]) -> list[int]:
    """The 100% of each stage's character bar: the HTML read before extraction, the extracted text after."""
    names = [s["name"] for s in stages]
    if EXTRACT_STAGE not in names or not stages:
        return [stages[0]["chars_in"] if stages else 0] * len(stages)
    cut = names.index(EXTRACT_STAGE)
    return [stages[0]["chars_in"] if i < cut else stages[cut]["chars_out"] for i in range(len(stages))]


def _funnel_panel(ax, names: list[str], kept: list[float], removed: list[float], ylabel: str) -> None:
    x = range(len(names))
    ax.bar(x, kept, color=KEPT, label="kept after the stage")
    ax.bar(x, removed, bottom=kept, color=REMOVED, label="removed by the stage")
    for i, (k, r) in enumerate(zip(kept, removed)):
        ax.text(i, k / 2, f"{k:.1%}", ha="center", va="center", color="white", fontsize=9, fontweight="bold")
        if r >= 0.0005:
            ax.text(i, k + r + 0.015, f"-{r:.1%}", ha="center", va="bottom", color="#9c4a00", fontsize=8)
    ax.set_xticks(list(x), names, rotation=20, ha="right")
    ax.set_ylim(0, 1.12)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def funnel_figure(run: Run) -> bytes:
    """RefinedWeb Fig. 2 for this run: documents (of the records read) and characters left per stage."""
    stages = run.stages
    names = [s["name"] for s in stages]
    total = run.stats["records_read"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(names) + 2), 8.5))
    kept = [share(s["docs_out"], total) for s in stages]
    removed = [(s["docs_in"] - s["docs_out"]) / total if total else 0.0 for s in stages]
    _funnel_panel(top, names, kept, removed, "documents (% of records read)")
    top.set_title(f"Documents: {total:,} records read, {run.stats['docs_written']:,} written", loc="left", fontsize=11)
    top.legend(loc="upper right", fontsize=8, frameon=False)
    bases = char_bases(stages)
    kept = [share(s["chars_out"], b) for s, b in zip(stages, bases)]
    removed = [max(s["chars_in"] - s["chars_out"], 0) / b if b else 0.0 for s, b in zip(stages, bases)]
    if EXTRACT_STAGE in names:  # extraction turns HTML into text: not a removal, no light bar
        removed[names.index(EXTRACT_STAGE)] = 0.0
        cut = names.index(EXTRACT_STAGE) - 0.5
        bottom.axvline(cut, color="grey", ls=":", lw=1)
        bottom.text(cut - 0.05, 1.08, "HTML characters", ha="right", va="center", fontsize=8, color="grey")
        bottom.text(cut + 0.05, 1.08, "extracted text (100% = text after extraction)", ha="left", va="center", fontsize=8, color="grey")
    _funnel_panel(bottom, names, kept, removed, "characters kept")
    bottom.set_title("Characters", loc="left", fontsize=11)
    fig.tight_layout()
    return png(fig)


def reasons_figure(stage: dict[str, Any]) -> bytes:
    """One stage's drop reasons as horizontal bars, largest on top, with counts and share of the stage."""
    items = sorted(stage["dropped"].items(), key=lambda kv: (kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(items) + 0.9))
    y = range(len(items))
    counts = [n for _, n in items]
    ax.barh(list(y), counts, color=REMOVED)
    ax.set_yticks(list(y), [r for r, _ in items], fontsize=9)
    for i, n in enumerate(counts):
        ax.text(n, i, f" {n:,} ({share(n, stage['docs_in']):.1%})", va="center", fontsize=8)
    ax.set_xlim(0, max(counts) * 1.3)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(f"documents dropped (of {stage['docs_in']:,} entering {stage['name']})")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return png(fig)


def _histogram_axes(ax, name: str, hist: dict[str, Any], thresholds: list[tuple[str, float]]) -> None:
    """One signal: its bins (log-like count axis, so the few documents near a threshold show), the
    threshold(s) as dashed lines and the side that is dropped shaded."""
    edges, counts = hist["edges"], hist["counts"]
    spec = SIGNALS.get(name)
    ax.stairs(counts, edges, fill=True, color=KEPT, alpha=0.85)
    if spec is not None and spec.log:
        ax.set_xscale("symlog", linthresh=10, linscale=0.6)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_yscale("symlog", linthresh=1, linscale=0.5)
    ax.set_ylim(0, max(max(counts, default=0), 1) * 3)
    for i, (field, value) in enumerate(thresholds):
        below = drops_below(field)
        ax.axvspan(edges[0] if below else value, value if below else edges[-1], color=THRESHOLD, alpha=0.08, lw=0)
        ax.axvline(value, color=THRESHOLD, lw=1.5, ls="--")
        # the label sits inside the axes, on the side of the line with more room
        frac = ax.transAxes.inverted().transform(ax.transData.transform((value, 1)))[0]
        ax.text(value, 0.97 - 0.1 * i, f" {field.rsplit('.', 1)[-1]}={value:g} ", transform=ax.get_xaxis_transform(),
                color=THRESHOLD, fontsize=7, va="top", ha="left" if frac < 0.5 else "right")  # fmt: skip
    n = sum(counts) + hist.get("missing", 0)
    ax.set_title(f"{name}  (n={n:,})", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))


def histograms_figure(run: Run, stage: dict[str, Any]) -> bytes:
    """A grid of the stage's signal histograms with the run's thresholds; missing config: no lines."""
    hists = stage.get("histograms") or {}
    names = list(hists)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False)
    # A fixed layout: the panels are alike, and tight_layout's text measuring was a third of the report.
    fig.subplots_adjust(left=0.55 / (3.4 * cols), right=1 - 0.1 / (3.4 * cols), bottom=0.4 / (2.5 * rows),
                        top=1 - 0.3 / (2.5 * rows), wspace=0.28, hspace=0.35 + 0.05 * rows)
    for ax, name in zip(axes.flat, names):
        spec = SIGNALS.get(name)
        found = [(f, run.setting(f)) for f in (spec.thresholds if spec else ())]
        _histogram_axes(ax, name, hists[name], [(f, float(v)) for f, v in found if isinstance(v, (int, float))])
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    return png(fig)
