"""Per-stage counters, their merge across batches and files, and the run's accounting invariant.

The runner counts, never the stages: for each stage, documents and characters in and out, drops per
reason and seconds spent. Counters from batches, actors and input files are summed into one funnel;
``records_read == docs_written + sum(dropped)`` is checked at the end of every run. The per-file and
per-run records (``FileMeta``, ``FileState``, ``RunStats``) are typed here once; only their JSON
forms (state files, stats.json) are dicts.
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
    languages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per ``language`` label, ``{docs_in, docs_out, chars_out, dropped}`` (runs of several target
    languages, from the language stage on); in stats.json only when set."""

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
        for lang, counts in other.languages.items():
            mine = self.languages.setdefault(lang, {"docs_in": 0, "docs_out": 0, "chars_out": 0, "dropped": {}})
            for key in ("docs_in", "docs_out", "chars_out"):
                mine[key] += counts[key]
            for reason, n in counts["dropped"].items():
                mine["dropped"][reason] = mine["dropped"].get(reason, 0) + n

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
        if not self.languages:
            del d["languages"]  # single-language runs keep the earlier shape
        else:
            d["languages"] = dict(sorted(self.languages.items()))
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StageStats":
        fields = {k: d[k] for k in ("name", "docs_in", "docs_out", "chars_in", "chars_out", "dropped", "seconds")}
        histograms = {k: dict(h) for k, h in (d.get("histograms") or {}).items()}
        languages = {k: {**v, "dropped": dict(v["dropped"])} for k, v in (d.get("languages") or {}).items()}
        return cls(**fields, histograms=histograms, extra=dict(d.get("extra") or {}), languages=languages)


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


@dataclass
class FileMeta:
    """The reader's counters of one input file, sent after its last block (the driver's sign it is complete)."""

    records: int = 0
    html_docs: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    read_seconds: float = 0.0
    failure: str | None = None
    """Why reading stopped with an exception (open failure, 404, ...): the file's rows are discarded and it is tried again."""
    transient: bool = False
    """The failure is transient (a network outage): the file is left not done, for a resume to retry."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "FileMeta":
        return cls(**d)


@dataclass
class FileState:
    """One input file of a run: its state file under ``state/`` and its entry in stats.json's ``files``.

    ``docs_refined`` counts its documents before dedup (its ``refined/`` shard); ``shard`` and
    ``docs_written`` are the final corpus's, set by the dedup phase (README "Output"). A
    standalone dedup's files have only ``path``, ``records``, ``shard`` and ``docs_written``.
    """

    path: str
    records: int
    docs_refined: int | None = None
    html_docs: int | None = None
    errors: int | None = None
    error_messages: list[str] | None = None
    stages: list[StageStats] = field(default_factory=list)
    shard: str | list[str] | None = None  # several files: the final rows split by language (data/<language>/)
    docs_written: int | None = None

    def state_json(self) -> dict[str, Any]:
        """The state file: the file's counters before dedup (its final counts depend on every other file)."""
        keys = ("path", "records", "html_docs", "errors", "error_messages", "docs_refined")
        return {**{k: getattr(self, k) for k in keys}, "stages": [s.to_json() for s in self.stages]}

    @classmethod
    def from_state_json(cls, d: dict[str, Any]) -> "FileState":
        refined = d["docs_refined"] if "docs_refined" in d else d["docs_written"]  # state files before docs_refined
        return cls(d["path"], d["records"], refined, d["html_docs"], d["errors"], d["error_messages"], stages_from_json(d["stages"]))

    def files_json(self) -> dict[str, Any]:
        """The file's entry in stats.json (fields a standalone dedup does not know are left out)."""
        keys = ("path", "shard", "records", "html_docs", "docs_written", "errors", "error_messages", "docs_refined")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass
class RunStats:
    """A run's stats.json: the funnel over every file (resumed ones included), then each file's entry."""

    files: list[FileState]
    stages: list[StageStats]
    wall_seconds: float | None = None
    phase_seconds: dict[str, float] | None = None
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    """Files that failed on every try (``path``, ``reason``, ``tries``): skipped by resumes until their record is deleted."""
    not_done: list[dict[str, Any]] = field(default_factory=list)
    """Files that hit a transient input error (``path``, ``reason``): a resume retries them."""

    @classmethod
    def of_files(cls, states: list[FileState]) -> "RunStats":
        """The refinery's part: every file's stages merged into one funnel, files in path order."""
        states = sorted(states, key=lambda s: s.path)
        stages: list[StageStats] = []
        for st in states:
            merge_stages(stages, st.stages)
        return cls(states, stages)

    @property
    def records_read(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def docs_written(self) -> int:
        return sum(f.docs_written or 0 for f in self.files)

    def check(self, where: str) -> None:
        check_accounting(self.records_read, self.docs_written, self.stages, where)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records_read": self.records_read, "docs_written": self.docs_written,
                               "stages": [s.to_json() for s in self.stages], "files": [f.files_json() for f in self.files]}
        if self.wall_seconds is not None:
            out["wall_seconds"] = round(self.wall_seconds, 2)
        if self.phase_seconds is not None:
            out["phase_seconds"] = {k: round(v, 2) for k, v in self.phase_seconds.items()}
        for key in ("quarantined", "not_done"):  # only when there are any: a clean run keeps the documented shape
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out
