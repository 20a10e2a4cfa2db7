"""The stage contract: a batch in, the same rows out with signal columns and one drop reason each.

A stage is a small class: heavy state is loaded once in ``__init__`` (so Ray Data keeps it once per
actor) and ``__call__(batch: pa.Table) -> pa.Table`` is pure. It returns every input row, in order,
with its signal columns added and ``schema.DROP_REASON`` set (null = kept); it may rewrite
``schema.TEXT`` of kept rows. The runner, never the stage, splits kept from dropped and counts them.

Most filters judge one document at a time: they subclass ``DocumentFilter``, write
``judge(doc) -> (reason | None, signals)`` and declare their threshold rules once, in a table of
``Rule`` lines (signal, config field, direction, drop reason, bins). The table gives the drop reason
(first failing rule wins, in the table's order: the paper's), the histograms the executor bins and
the direction the report shades; the batch loop and the column plumbing (``annotate``) live here.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

import pyarrow as pa

from refinedweb import schema
from refinedweb.core.histogram import SignalSpec


class Stage(Protocol):
    """What the runner needs of a stage: a name for the funnel and a pure batch function.

    A stage that thresholds signals also has ``histogram_specs`` (``{signal: SignalSpec}``, see
    ``DocumentFilter``): the executor bins those signals over the documents entering the stage.
    """

    name: str

    def __call__(self, batch: pa.Table) -> pa.Table: ...


def set_column(batch: pa.Table, name: str, values: Any, type: pa.DataType | None = None) -> pa.Table:
    """Add ``name`` or replace it if present (Arrow tables are immutable; this returns a new one)."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=type)
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.set_column(index, name, array)
    return batch.append_column(name, array)


def annotate(
    batch: pa.Table,
    reasons: Sequence[str | None],
    signals: Mapping[str, Sequence[Any]] | None = None,
    signal_types: Mapping[str, pa.DataType] | None = None,
) -> pa.Table:
    """Return ``batch`` with ``signals`` as columns and ``reasons`` as the drop-reason column.

    Float signals are stored as float32 unless ``signal_types`` says otherwise: they are audit data,
    not arithmetic, and half the bytes of float64 in every shard.
    """
    signal_types = signal_types or {}
    for name, values in (signals or {}).items():
        tp = signal_types.get(name)
        if tp is None and values and isinstance(next((v for v in values if v is not None), None), float):
            tp = pa.float32()
        batch = set_column(batch, name, values, tp)
    return set_column(batch, schema.DROP_REASON, list(reasons), pa.string())


def texts(batch: pa.Table) -> list[str]:
    """The ``text`` column as Python strings (null becomes the empty string)."""
    return [t or "" for t in batch.column(schema.TEXT).to_pylist()]


_OPS: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Rule:
    """One threshold rule: drop a document when ``signal <op> config.<field>``, under ``reason``.

    Declared once per rule in its filter's table; everything else about the rule (the reason
    function, the histogram, the report's shaded side, the reason tests) is derived from the line.
    """

    signal: str
    """The signal column compared (a ``schema`` constant)."""
    field: str
    """The config field of the filter's section holding the threshold, e.g. ``min_words``."""
    op: str
    """How the signal fails: ``<`` (drops below), ``>`` (drops above) or ``>=`` (drops at or above)."""
    reason: str
    """The drop reason when it fails (a ``schema`` constant)."""
    edges: tuple[float, ...]
    """Histogram bins of the signal (fixed, so counts merge across batches and runs)."""
    log: bool = False
    """Draw the signal's histogram on a log-like axis (counts spanning decades)."""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"rule {self.reason}: op must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def drops_below(self) -> bool:
        """True when documents below the threshold are dropped (the report shades that side)."""
        return self.op == "<"


class RuleChecks:
    """A rule table bound to one config: ``first_failing(signals)`` is the filter's reason function."""

    def __init__(self, rules: Sequence[Rule], config: Any) -> None:
        self.checks = [(r.signal, _OPS[r.op], getattr(config, r.field), r.reason) for r in rules]

    def first_failing(self, signals: Mapping[str, Any]) -> str | None:
        """The reason of the first rule ``signals`` fail, in table order; None when all pass."""
        for signal, fails, threshold, reason in self.checks:
            if fails(signals[signal], threshold):
                return reason
        return None


def histogram_specs(section: str, rules: Iterable[Rule]) -> dict[str, SignalSpec]:
    """``{signal: SignalSpec}`` of a rule table; a signal with two rules (min and max) gets both fields."""
    specs: dict[str, SignalSpec] = {}
    for r in rules:
        dotted = f"{section}.{r.field}"
        known = specs.get(r.signal)
        if known is not None and (known.edges, known.log) != (r.edges, r.log):
            raise ValueError(f"rules on {r.signal} disagree on its bins")
        specs[r.signal] = SignalSpec(r.edges, (known.thresholds if known else ()) + (dotted,), r.log)
    return specs


class DocumentFilter:
    """A filter judging one document at a time: ``judge(doc) -> (reason | None, signals)``.

    Subclasses set ``name`` (its config section), ``rules`` (its threshold table, in the paper's
    order), ``signal_types`` (every column ``judge`` returns, in write order, with its Arrow type;
    ``schema.TEXT`` there rewrites the text) and ``reasons`` (the drop reasons outside the table).
    ``documents`` picks what ``judge`` gets per row: the text by default.
    """

    name: str
    rules: tuple[Rule, ...] = ()
    signal_types: Mapping[str, pa.DataType] = {}
    reasons: tuple[str, ...] = ()
    histogram_specs: dict[str, SignalSpec] = {}
    """The signals this stage thresholds, binned by the executor over every document entering it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.histogram_specs = histogram_specs(cls.name, cls.rules)

    def __init__(self, config: Any) -> None:
        self.config = config
        self.checks = RuleChecks(self.rules, config)

    def documents(self, batch: pa.Table) -> tuple[pa.Table, Iterable[Any]]:
        """The batch to annotate and one item per row for ``judge``: here the texts."""
        return batch, texts(batch)

    def judge(self, doc: Any) -> tuple[str | None, Mapping[str, Any]]:
        """(drop reason or None, ``{column: value}`` for every column of ``signal_types``, in its order)."""
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch, docs = self.documents(batch)
        columns: dict[str, list[Any]] = {c: [] for c in self.signal_types}
        appends = [values.append for values in columns.values()]
        reasons: list[str | None] = []
        for doc in docs:
            reason, signals = self.judge(doc)
            if not reasons and list(signals) != list(columns):
                raise ValueError(f"stage {self.name}: judge returned {list(signals)}, signal_types declare {list(columns)}")
            reasons.append(reason)
            for append, value in zip(appends, signals.values()):
                append(value)
        return annotate(batch, reasons, columns, self.signal_types)
