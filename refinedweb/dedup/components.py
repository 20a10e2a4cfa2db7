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

from typing import Any

import numpy as np

EMPTY = np.empty((2, 0), np.int64)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def partition_of(nodes: np.ndarray, parts: int) -> np.ndarray:
    """The partition (0 .. parts-1) of each node id: a multiplicative hash, so runs of ids spread out."""
    return (((nodes.astype(np.uint64) * _GOLDEN) >> np.uint64(33)) % np.uint64(parts)).astype(np.int64)


def split(parts: int, part: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Rows of ``cols`` grouped by ``part``: one ``(len(cols), m)`` int64 block per partition."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    stacked = np.stack([c[order] for c in cols]) if len(part) else np.empty((len(cols), 0), np.int64)
    return [np.ascontiguousarray(stacked[:, bounds[j] : bounds[j + 1]]) for j in range(parts)]


def concat(blocks: list[np.ndarray] | tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The two rows of ``(2, m)`` blocks, concatenated."""
    blocks = [b for b in blocks if b.shape[1]]
    if not blocks:
        return EMPTY[0], EMPTY[1]
    both = np.concatenate(blocks, axis=1)
    return both[0], both[1]


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


def adjacency_blocks(child: np.ndarray, parent: np.ndarray, parts: int) -> list[np.ndarray]:
    """Large-star input blocks: both records of each edge, in the partition of their node."""
    node, nbr = unique_pairs(*adjacency(child, parent))
    return split(parts, partition_of(node, parts), node, nbr)


def _large_star_task(parts: int, *blocks: np.ndarray) -> tuple[Any, ...]:
    c, p, count, checksum = large_star(*concat(blocks))
    return (*split(parts, partition_of(c, parts), c, p), (count, checksum))


def _small_star_task(parts: int, *blocks: np.ndarray) -> Any:
    out = adjacency_blocks(*small_star(*concat(blocks)), parts)
    return out[0] if parts == 1 else tuple(out)


def as_list(refs: Any) -> list[Any]:
    """Ray gives one ref for ``num_returns=1`` and a list otherwise: always a list."""
    return refs if isinstance(refs, list) else [refs]


def connected_components(blocks: list[list[Any]], parts: int, max_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Components over partitioned records: ``blocks[i][j]`` is producer ``i``'s block for partition ``j``.

    Returns ``(node, root)`` for every node that is not its component's smallest, ``root`` being
    that smallest node. Only the final stars come back to the caller.
    """
    import ray

    large = ray.remote(_large_star_task)
    small = ray.remote(_small_star_task)
    previous = None
    for _ in range(max_rounds):
        out = [large.options(num_returns=parts + 1).remote(parts, *[b[j] for b in blocks]) for j in range(parts)]
        stats = ray.get([o[parts] for o in out])
        current = (sum(s[0] for s in stats), sum(s[1] for s in stats) % 2**64)
        if current[0] == 0 or current == previous:
            return unique_pairs(*concat(ray.get([o[j] for o in out for j in range(parts)])))
        previous = current
        blocks = [as_list(small.options(num_returns=parts).remote(parts, *[o[j] for o in out])) for j in range(parts)]
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds (minhash.max_rounds)")
