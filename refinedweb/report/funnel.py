"""A run's funnel: per stage, documents and characters in and out, shares kept, top drop reasons.

Reads only ``OUT/stats.json`` (and ``OUT/config.json`` for thresholds), whatever stages and reasons
it lists, so stages added later (deduplication) appear without changes here. Two runs side by side
show both runs' numbers per stage and per reason and their difference, to compare thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from refinedweb.core.storage import StoragePath, location
from refinedweb.core.io import read_json_file
from refinedweb.core.output import CONFIG_FILE, STATS_FILE

TOP_REASONS = 3


@dataclass(frozen=True)
class Run:
    """One run's output folder, its stats.json and (where saved) its resolved config."""

    path: StoragePath
    stats: dict[str, Any]
    config: dict[str, Any] | None

    @classmethod
    def load(cls, path: str | StoragePath) -> "Run":
        root = location(path)
        stats = read_json_file(root / STATS_FILE, f"no {STATS_FILE} (is {path} a refinedweb run's output?)")
        config_path = root / CONFIG_FILE
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
        return cls(root, stats, config)

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.stats["stages"]

    def setting(self, dotted: str) -> Any:
        """A config value by dotted path (``language.min_score``); None where unknown."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def reasons(self) -> dict[str, int]:
        """Every drop reason of the run with its count, in stage order."""
        return {r: n for st in self.stages for r, n in st["dropped"].items()}


def share(part: int, whole: int) -> float:
    """``part / whole``, 1.0 when nothing came in (a stage that saw no documents removed none)."""
    return part / whole if whole else 1.0


def funnel_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Per stage: the counters of stats.json plus the shares kept of the stage and of the input."""
    total = stats["records_read"]
    rows = []
    for st in stats["stages"]:
        rows.append(
            {
                "name": st["name"],
                "docs_in": st["docs_in"],
                "docs_out": st["docs_out"],
                "docs_dropped": sum(st["dropped"].values()),
                "kept_of_stage": share(st["docs_out"], st["docs_in"]),
                "kept_of_input": share(st["docs_out"], total),
                "chars_in": st["chars_in"],
                "chars_out": st["chars_out"],
                "chars_kept_of_stage": share(st["chars_out"], st["chars_in"]),
                "seconds": st.get("seconds", 0.0),
                "dropped": dict(st["dropped"]),
            }
        )
    return rows


def language_rows(stats: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """RefinedWeb-Europe's funnel per language: (stage names, a row per language kept by language ID).

    Each row has ``language``, ``docs_out`` per stage (from the language stage on), the documents and
    characters written and the share of the language-ID'd documents that was written. Empty for
    single-language runs, whose stats.json carries no per-language counts.
    """
    stages = [st for st in stats["stages"] if st.get("languages")]
    if not stages:
        return [], []
    first = stages[0]["languages"]
    rows = []
    for lang in sorted((k for k, v in first.items() if v["docs_out"]), key=lambda k: -first[k]["docs_out"]):
        outs = [st["languages"].get(lang, {"docs_out": 0, "chars_out": 0}) for st in stages]
        rows.append({"language": lang, "docs_out": [o["docs_out"] for o in outs], "docs_written": outs[-1]["docs_out"],
                     "chars_written": outs[-1]["chars_out"], "kept": share(outs[-1]["docs_out"], outs[0]["docs_out"])})
    return [st["name"] for st in stages], rows


def format_languages(stats: dict[str, Any]) -> str:
    """``language_rows`` as a terminal table (empty string for single-language runs)."""
    names, rows = language_rows(stats)
    if not rows:
        return ""
    lines = ["per language: documents out of each stage", f"{'language':<9}" + "".join(f" {n[:10]:>10}" for n in names)
             + f" {'kept':>7} {'chars out':>12}"]
    for r in rows:
        lines.append(f"{r['language']:<9}" + "".join(f" {n:>10}" for n in r["docs_out"]) + f" {r['kept']:>7.1%} {r['chars_written']:>12}")
    return "\n".join(lines)


def funnel_json(run: Run) -> dict[str, Any]:
    """The funnel for scripts: run totals and ``funnel_rows`` (no per-file detail, no histograms)."""
    keys = ("records_read", "docs_written", "wall_seconds")
    out = {"output": str(run.path), **{k: run.stats[k] for k in keys if k in run.stats}, "stages": funnel_rows(run.stats)}
    names, rows = language_rows(run.stats)
    if rows:
        out["languages"] = {"stages": names, "rows": rows}
    return out


def format_funnel(stats: dict[str, Any]) -> str:
    """The funnel as a terminal table: per stage, documents and characters in/out and top drop reasons."""
    head = f"{'stage':<14} {'docs in':>10} {'docs out':>10} {'kept':>7} {'of input':>8} {'chars in':>14} {'chars out':>14} {'s':>7}  top drop reasons"
    lines = [head]
    for r in funnel_rows(stats):
        reasons = ", ".join(f"{k} {n}" for k, n in list(r["dropped"].items())[:TOP_REASONS])
        more = len(r["dropped"]) - TOP_REASONS
        reasons += f" (+{more} more)" if more > 0 else ""
        lines.append(
            f"{r['name']:<14} {r['docs_in']:>10} {r['docs_out']:>10} {r['kept_of_stage']:>7.1%} {r['kept_of_input']:>8.1%}"
            f" {r['chars_in']:>14} {r['chars_out']:>14} {r['seconds']:>7.1f}  {reasons}"
        )
    lines.append(f"records read {stats['records_read']}, documents written {stats['docs_written']}")
    per_language = format_languages(stats)
    return "\n".join(lines + ([per_language] if per_language else []))


def _union(a: list[str], b: list[str]) -> list[str]:
    """Names of both lists, ``a``'s order first, ``b``'s extras where they first appear."""
    return list(dict.fromkeys(a + b))


def compare_json(a: Run, b: Run) -> dict[str, Any]:
    """Two runs per stage and per reason: A's numbers, B's numbers, and B - A."""
    rows_a = {r["name"]: r for r in funnel_rows(a.stats)}
    rows_b = {r["name"]: r for r in funnel_rows(b.stats)}
    empty = {"docs_in": 0, "docs_out": 0, "chars_in": 0, "chars_out": 0, "kept_of_stage": None, "kept_of_input": None, "dropped": {}}
    stages = []
    for name in _union(list(rows_a), list(rows_b)):
        ra, rb = rows_a.get(name, empty), rows_b.get(name, empty)
        reasons = {
            reason: {"a": ra["dropped"].get(reason, 0), "b": rb["dropped"].get(reason, 0),
                     "diff": rb["dropped"].get(reason, 0) - ra["dropped"].get(reason, 0)}
            for reason in _union(list(ra["dropped"]), list(rb["dropped"]))
        }  # fmt: skip
        side = lambda r: {k: r[k] for k in ("docs_in", "docs_out", "chars_in", "chars_out", "kept_of_stage", "kept_of_input")}
        diff = {k: rb[k] - ra[k] for k in ("docs_in", "docs_out", "chars_in", "chars_out")}
        stages.append({"name": name, "a": side(ra), "b": side(rb), "diff": diff, "reasons": reasons})
    totals = {k: {"a": a.stats[k], "b": b.stats[k], "diff": b.stats[k] - a.stats[k]} for k in ("records_read", "docs_written")}
    return {"a": str(a.path), "b": str(b.path), **totals, "stages": stages}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def format_compare(a: Run, b: Run) -> str:
    """Two runs side by side: per stage docs in/out and shares kept, per reason the counts, and B - A."""
    cmp = compare_json(a, b)
    lines = [f"A = {a.path}", f"B = {b.path}", "(indented rows: a drop reason, its documents dropped under 'out')"]
    head = (f"{'stage / drop reason':<40} {'in A':>9} {'in B':>9} {'out A':>10} {'out B':>10} {'B - A':>8}"
            f" {'kept A':>7} {'kept B':>7} {'of inp A':>8} {'of inp B':>8} {'chars out A':>13} {'chars out B':>13}")  # fmt: skip
    lines.append(head)
    for st in cmp["stages"]:
        sa, sb = st["a"], st["b"]
        lines.append(
            f"{st['name']:<40} {sa['docs_in']:>9} {sb['docs_in']:>9} {sa['docs_out']:>10} {sb['docs_out']:>10} {st['diff']['docs_out']:>+8}"
            f" {_pct(sa['kept_of_stage']):>7} {_pct(sb['kept_of_stage']):>7} {_pct(sa['kept_of_input']):>8} {_pct(sb['kept_of_input']):>8}"
            f" {sa['chars_out']:>13} {sb['chars_out']:>13}"
        )
        for reason, c in st["reasons"].items():
            lines.append(f"  {reason:<38} {'':>9} {'':>9} {c['a']:>10} {c['b']:>10} {c['diff']:>+8}")
    for key in ("records_read", "docs_written"):
        t = cmp[key]
        lines.append(f"{key.replace('_', ' ')}: A {t['a']}, B {t['b']}, B - A {t['diff']:+}")
    return "\n".join(lines)
