"""All-to-all exchange of blocks between Ray tasks in a number of objects linear in the tasks: a radix shuffle.

A direct shuffle has each of ``M`` producers return one block per destination: ``M x P`` objects.
Both grow with the corpus (a producer and a destination each hold a memory-sized share), so the
count grows with its square: the exact-substring shuffle of 1M documents in 64 MiB tasks made
160 x 1,158 objects per exchange, and Ray's bookkeeping of them (most small enough to be inlined
in the driver) doubled the time per document between 100k and 1M documents (bench/dedup_growth.py).

Here a destination ``d`` is written in ``L`` digits of base ``r`` (``r ** L >= P``, ``r <= FANOUT``)
and blocks travel one digit per hop, as in a butterfly network or the merge stage of Exoshuffle
(Luan et al., SIGCOMM '23): a producer splits its rows by the first digit into ``r`` blocks, and on
each later hop a task takes ``r`` blocks that share a prefix, from ``r`` different senders, and
splits them by the next digit. Every hop makes ``M x r`` objects, so an exchange makes about
``M x r x L``; each hop task holds about what one producer sent (``r`` blocks of a ``1/r`` share).
With ``P <= FANOUT`` there is one hop, which is the direct shuffle. Rows arrive at the same
destination as in a direct shuffle, but blocks may arrive in a different order: consumers must
not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

FANOUT = 64
"""Most blocks one task splits into, or merges from, per hop. Fewer means more hops (each copies the
data once); more means more objects per hop."""
EMPTY = np.empty((2, 0), np.int64)


def split(parts: int, part: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Rows of ``cols`` grouped by ``part``: one ``(len(cols), m)`` int64 block per partition."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    stacked = np.stack([c[order] for c in cols]) if len(part) else np.empty((len(cols), 0), np.int64)
    return [np.ascontiguousarray(stacked[:, bounds[j] : bounds[j + 1]]) for j in range(parts)]


def split_table(parts: int, part: np.ndarray, table: pa.Table) -> list[pa.Table]:
    """Rows of ``table`` grouped by ``part``, each group copied out (a slice would carry the whole buffers)."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    return [table.take(pa.array(order[bounds[j] : bounds[j + 1]])) for j in range(parts)]


def concat(blocks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The two rows of ``(2, m)`` blocks, concatenated."""
    blocks = [b for b in blocks if b.shape[1]]
    if not blocks:
        return EMPTY[0], EMPTY[1]
    both = np.concatenate(blocks, axis=1)
    return both[0], both[1]


def as_list(refs: Any) -> list[Any]:
    """Ray gives one ref for ``num_returns=1`` and a list otherwise: always a list."""
    return refs if isinstance(refs, list) else [refs]


def returned(blocks: Sequence[Any]) -> Any:
    """What a task with ``num_returns=len(blocks)`` returns: the block itself when there is one."""
    return blocks[0] if len(blocks) == 1 else tuple(blocks)


@dataclass(frozen=True)
class Plan:
    """An exchange to ``parts`` destinations in ``levels`` hops of ``radix`` ways each."""

    parts: int
    """Destinations (partitions or chunks)."""
    radix: int
    """Blocks per split, and senders merged per hop task."""
    levels: int
    """Hops, the producers' split included."""

    @classmethod
    def of(cls, parts: int, fanout: int | None = None) -> "Plan":
        """The fewest hops of at most ``fanout`` (default ``FANOUT``) ways that reach ``parts`` destinations, ways balanced."""
        fanout = fanout or FANOUT
        if parts <= fanout:
            return cls(parts, parts, 1)
        levels = math.ceil(math.log(parts) / math.log(fanout) - 1e-9)
        radix = math.ceil(parts ** (1 / levels) - 1e-9)
        while radix**levels < parts:
            radix += 1
        return cls(parts, radix, levels)

    def digit(self, dest: np.ndarray, level: int) -> np.ndarray:
        """The digit of each destination that hop ``level`` (0 = the producer) splits on."""
        return (dest // self.radix ** (self.levels - 1 - level)) % self.radix


def outbox(plan: Plan, dest: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Producer side: rows of ``cols`` as ``plan.radix`` blocks by their destination's first digit."""
    return split(plan.radix, plan.digit(dest, 0), *cols)


def send(plan: Plan, dest: np.ndarray, *cols: np.ndarray) -> Any:
    """``outbox`` as a task with ``num_returns=plan.radix`` returns it."""
    return returned(outbox(plan, dest, *cols))


def send_table(plan: Plan, dest: np.ndarray, table: pa.Table) -> Any:
    """``send`` for an Arrow table."""
    return returned(split_table(plan.radix, plan.digit(dest, 0), table))


@dataclass(frozen=True)
class ByHash:
    """Destination of a block's rows: its 64-bit hash in row ``row``, modulo the destinations."""

    parts: int
    row: int = 0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        return (block[self.row].view(np.uint64) % np.uint64(self.parts)).astype(np.int64)


@dataclass(frozen=True)
class ByBounds:
    """Destination of a block's rows: the range of ``bounds`` their global document (row 0) falls in."""

    bounds: np.ndarray

    def __call__(self, block: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, block[0], side="right") - 1


@dataclass(frozen=True)
class ByColumn:
    """Destination of a table's rows: an int64 column the producer wrote."""

    name: str

    def __call__(self, table: pa.Table) -> np.ndarray:
        return table.column(self.name).to_numpy()


def _hop(plan: Plan, level: int, route: Callable[[Any], np.ndarray], *blocks: Any) -> Any:
    """One hop: blocks that share a destination prefix, merged and split by the next digit."""
    if isinstance(blocks[0], pa.Table):
        table = pa.concat_tables(blocks)
        return returned(split_table(plan.radix, plan.digit(route(table), level), table))
    block = np.concatenate(blocks, axis=1)
    return returned(split(plan.radix, plan.digit(route(block), level), *block))


def deliver(plan: Plan, sent: Sequence[Sequence[Any]], route: Callable[[Any], np.ndarray]) -> list[list[Any]]:
    """Driver side: each destination's blocks, given every producer's ``plan.radix`` sent blocks.

    ``route(block)`` recomputes its rows' destinations on the later hops (so no column carries them
    unless the producer wrote one, ``ByColumn``).
    """
    buckets = [[s[d] for s in sent] for d in range(plan.radix)]
    if plan.levels == 1:
        return buckets
    import ray

    hop = ray.remote(num_cpus=1, max_retries=1)(_hop).options(num_returns=plan.radix)
    for level in range(1, plan.levels):
        span = plan.radix ** (plan.levels - level)  # destinations under one prefix of this level's buckets
        nxt: list[list[Any]] = []
        for prefix, refs in enumerate(buckets):
            if prefix * span >= plan.parts or not refs:
                nxt.extend([] for _ in range(plan.radix))
                continue
            outs = [as_list(hop.remote(plan, level, route, *refs[g : g + plan.radix])) for g in range(0, len(refs), plan.radix)]
            nxt.extend([o[d] for o in outs] for d in range(plan.radix))
        buckets = nxt
    return buckets[: plan.parts]
