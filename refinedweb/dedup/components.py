"""Connected components of a graph too large for one machine: alternating large-star / small-star.

MinHash deduplication links documents that share a band; its clusters are the connected components
of that graph. Gathering every edge in one union-find (as datatrove's single clustering task does)
bounds the corpus by one machine's memory, so we follow Kiveris et al. 2014, "Connected Components
in MapReduce and Beyond" (SoCC '14), over hash-partitioned edges, one Ray task per partition:

* edges are kept oriented ``child -> parent`` with ``parent < child``;
* **large-star**, keyed by node ``u``: ``m(u) = min(u, neighbours of u)``; every neighbour ``v > u``
  is re-linked to ``m(u)``;
* **small-star**, keyed by child ``c``: ``m = min(parents of c)``; ``c`` and every parent of ``c``
  are re-linked to ``m``.

Neither step adds edges or changes the components, and alternating them converges to stars in which
every node points at the smallest node of its component (Kiveris et al., Thm. 3; O(log^2 n) rounds).
A round whose input edge set equals the previous round's (its size and an order-free checksum,
summed over partitions) is that fixed point. Every task holds one partition only: with ``E`` edges
and ``P`` partitions a large-star task holds about ``2E/P`` records and a small-star task ``E/P``,
16 bytes each, plus the sort index and outputs (a few times that in transient arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from refinedweb.dedup.exchange import EMPTY, Plan, as_list, concat, deliver, outbox, returned
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def partition_of(nodes: np.ndarray, parts: int) -> np.ndarray:
    """The partition (0 .. parts-1) of each node id: a multiplicative hash, so runs of ids spread out."""
    return (((nodes.astype(np.uint64) * _GOLDEN) >> np.uint64(33)) % np.uint64(parts)).astype(np.int64)


def unique_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(x, y)`` pairs sorted by ``x`` then ``y``."""
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    keep = np.ones(len(x), bool)
    keep[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    return x[keep], y[keep]


def _groups(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index of each run of equal keys, and each row's run number."""
    first = np.ones(len(sorted_keys), bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.flatnonzero(first), np.cumsum(first) - 1


def _checksum(a: np.ndarray, b: np.ndarray) -> int:
    """An order-free 64-bit checksum of a set of pairs (sum of mixed pair hashes, wrapping)."""
    h = (a.astype(np.uint64) * _GOLDEN) ^ (b.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return int(h.sum(dtype=np.uint64))


def adjacency(child: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each edge as two ``(node, neighbour)`` records, one per endpoint: the large-star input."""
    return np.concatenate([child, parent]), np.concatenate([parent, child])


def large_star(node: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Large-star over all records of some nodes: ``(child, parent)`` out, and the input's size and checksum."""
    node, nbr = unique_pairs(node, nbr)
    if not len(node):
        return EMPTY[0], EMPTY[1], 0, 0
    starts, gid = _groups(node)
    low = np.minimum(np.minimum.reduceat(nbr, starts), node[starts])
    up = nbr > node  # each edge once, from its parent's side
    return nbr[up], low[gid[up]], int(up.sum()), _checksum(node[up], nbr[up])


def small_star(child: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Small-star over all edges of some children: each child and its parents re-linked to the least parent."""
    child, parent = unique_pairs(child, parent)
    if not len(child):
        return EMPTY[0], EMPTY[1]
    starts, gid = _groups(child)
    low = np.minimum.reduceat(parent, starts)
    moved = parent != low[gid]
    return np.concatenate([child[starts], parent[moved]]), np.concatenate([low, low[gid][moved]])


def components_local(child: np.ndarray, parent: np.ndarray, max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The same rounds in one process (one partition): ``(node, root)`` for every non-root node."""
    node, nbr = adjacency(child, parent)
    previous = None
    for _ in range(max_rounds):
        c, p, count, checksum = large_star(node, nbr)
        if count == 0 or (count, checksum) == previous:
            return unique_pairs(c, p)
        previous = (count, checksum)
        node, nbr = adjacency(*small_star(c, p))
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds (minhash.max_rounds)")


# --- on Ray: one task per partition and step, blocks passed through the object store ---------------


def adjacency_blocks(child: np.ndarray, parent: np.ndarray, plan: Plan) -> list[np.ndarray]:
    """Large-star input blocks: both records of each edge, sent towards the partition of their node."""
    node, nbr = unique_pairs(*adjacency(child, parent))
    return outbox(plan, partition_of(node, plan.parts), node, nbr)


@dataclass(frozen=True)
class ByNode:
    """Destination of a block's records: the partition of their node (row 0)."""

    parts: int

    def __call__(self, block: np.ndarray) -> np.ndarray:
        return partition_of(block[0], self.parts)


def _large_star_task(plan: Plan, *blocks: np.ndarray) -> tuple[Any, ...]:
    c, p, count, checksum = large_star(*concat(blocks))
    return (*outbox(plan, partition_of(c, plan.parts), c, p), (count, checksum))


def _small_star_task(plan: Plan, *blocks: np.ndarray) -> Any:
    return returned(adjacency_blocks(*small_star(*concat(blocks)), plan))


def connected_components(inbox: list[list[Any]], plan: Plan, max_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Components over partitioned records: ``inbox[j]`` holds partition ``j``'s blocks (``exchange.deliver``).

    Returns ``(node, root)`` for every node that is not its component's smallest, ``root`` being
    that smallest node. Only the final stars come back to the caller.
    """
    import ray

    large = ray.remote(_large_star_task).options(num_returns=plan.radix + 1)
    small = ray.remote(_small_star_task).options(num_returns=plan.radix)
    route = ByNode(plan.parts)
    previous = None
    for _ in range(max_rounds):
        out = [large.remote(plan, *refs) for refs in inbox]
        stats = ray.get([o[-1] for o in out])
        current = (sum(s[0] for s in stats), sum(s[1] for s in stats) % 2**64)
        if current[0] == 0 or current == previous:
            return unique_pairs(*concat(ray.get([r for o in out for r in o[:-1]])))
        previous = current
        stars = deliver(plan, [o[:-1] for o in out], route)
        inbox = deliver(plan, [as_list(small.remote(plan, *refs)) for refs in stars], route)
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds (minhash.max_rounds)")
