"""Per-stage counters, their merge across batches and files, and the run's accounting invariant.

The runner counts, never the stages: for each stage, documents and characters in and out, drops per
reason and seconds spent. Counters from batches, actors and input files are summed into one funnel;
``records_read == docs_written + sum(dropped)`` is checked at the end of every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from refinedweb.core.histogram import merge_histograms


@dataclass
class StageStats:
    """One stage's counters; characters are HTML characters before extraction, text characters after."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Signal name -> fixed-bin histogram over the documents entering the stage (core/histogram.py)."""
    extra: dict[str, int] = field(default_factory=dict)
    """Stage-specific counters (e.g. exact dedup's spans and characters cut); in stats.json only when set."""

    def add(self, other: "StageStats") -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        self.seconds += other.seconds
        for reason, n in other.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + n
        merge_histograms(self.histograms, other.histograms)
        for key, n in other.extra.items():
            self.extra[key] = self.extra.get(key, 0) + n

    @property
    def docs_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dropped"] = dict(sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])))
        d["seconds"] = round(self.seconds, 3)
        if not self.histograms:
            del d["histograms"]  # stages without threshold signals keep the original shape
        if not self.extra:
            del d["extra"]  # stats.json keeps its earlier shape for stages without extra counters
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StageStats":
        fields = {k: d[k] for k in ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped", "seconds")}
        histograms = {k: dict(h) for k, h in (d.get("histograms") or {}).items()}
        return cls(**fields, histograms=histograms, extra=dict(d.get("extra") or {}))


def merge_stages(into: list[StageStats], more: Iterable[StageStats]) -> list[StageStats]:
    """Add ``more`` into ``into`` stage by stage (matched by name, order of first appearance kept)."""
    by_name = {s.name: s for s in into}
    for s in more:
        if s.name in by_name:
            by_name[s.name].add(s)
        else:
            copy = StageStats(s.name)
            copy.add(s)
            into.append(copy)
            by_name[s.name] = copy
    return into


def stages_from_json(items: Iterable[dict[str, Any]]) -> list[StageStats]:
    return [StageStats.from_json(d) for d in items]


class AccountingError(RuntimeError):
    """records read != documents written + documents dropped: a record was lost or counted twice."""


def check_accounting(records_read: int, docs_written: int, stages: list[StageStats], where: str) -> None:
    """Raise ``AccountingError`` unless every record read was written or dropped under a reason."""
    dropped = sum(s.docs_dropped for s in stages)
    if records_read != docs_written + dropped:
        raise AccountingError(
            f"{where}: records read ({records_read}) != documents written ({docs_written}) + dropped ({dropped})"
        )
    for prev, nxt in zip(stages, stages[1:]):
        if prev.docs_out != nxt.docs_in:
            raise AccountingError(f"{where}: stage {prev.name} put out {prev.docs_out} but {nxt.name} took {nxt.docs_in}")


def run_stats(file_states: list[dict[str, Any]], wall_seconds: float | None = None) -> dict[str, Any]:
    """The run's stats.json from the per-file state records (resumed files included)."""
    stages: list[StageStats] = []
    files = []
    for st in sorted(file_states, key=lambda s: s["path"]):
        merge_stages(stages, stages_from_json(st["stages"]))
        files.append({k: st[k] for k in ("path", "shard", "records", "html_docs", "docs_written", "errors", "error_messages")})
    records = sum(f["records"] for f in files)
    written = sum(f["docs_written"] for f in files)
    out: dict[str, Any] = {
        "records_read": records,
        "docs_written": written,
        "stages": [s.to_json() for s in stages],
        "files": files,
    }
    if wall_seconds is not None:
        out["wall_seconds"] = round(wall_seconds, 2)
    return out
