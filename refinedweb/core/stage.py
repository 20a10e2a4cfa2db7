"""The stage contract: a batch in, the same rows out with signal columns and one drop reason each.

A stage is a small class: heavy state is loaded once in ``__init__`` (so Ray Data keeps it once per
actor) and ``__call__(batch: pa.Table) -> pa.Table`` is pure. It returns every input row, in order,
with its signal columns added and ``schema.DROP_REASON`` set (null = kept); it may rewrite
``schema.TEXT`` of kept rows. The runner, never the stage, splits kept from dropped and counts them.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import pyarrow as pa

from refinedweb import schema


class Stage(Protocol):
    """What the runner needs of a stage: a name for the funnel and a pure batch function."""

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
