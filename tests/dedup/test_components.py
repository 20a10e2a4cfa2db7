"""Large-star / small-star connected components against a plain union-find, in one process and on Ray."""

from __future__ import annotations

import numpy as np
import pytest

from refinedweb.dedup.components import ByNode, adjacency_blocks, components_local, connected_components, large_star, small_star
from refinedweb.dedup.exchange import Plan, deliver


def union_find_roots(n: int, child: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Smallest node of each node's component, by union-find."""
    up = list(range(n))

    def find(x: int) -> int:
        while up[x] != x:
            up[x] = up[up[x]]
            x = up[x]
        return x

    for a, b in zip(child.tolist(), parent.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            up[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


def random_graph(rng: np.random.Generator, kind: str) -> tuple[int, np.ndarray, np.ndarray]:
    """``(n, child, parent)``: sparse random edges, or one long chain in shuffled node order."""
    n = int(rng.integers(50, 2000))
    if kind == "chain":
        order = rng.permutation(n)
        a, b = order[:-1], order[1:]
    else:
        m = int(rng.integers(1, n))
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    distinct = a != b
    return n, np.maximum(a, b)[distinct], np.minimum(a, b)[distinct]


def _roots(n: int, node: np.ndarray, root: np.ndarray) -> np.ndarray:
    assert len(np.unique(node)) == len(node), "one root per node"
    out = np.arange(n)
    out[node] = root
    return out


@pytest.mark.parametrize("kind", ["sparse", "chain"])
def test_local_rounds_match_union_find(kind):
    rng = np.random.default_rng(11 if kind == "sparse" else 12)
    for _ in range(15):
        n, child, parent = random_graph(rng, kind)
        assert np.array_equal(_roots(n, *components_local(child, parent)), union_find_roots(n, child, parent))


def test_steps_keep_edges_oriented_and_never_grow():
    rng = np.random.default_rng(5)
    n, child, parent = random_graph(rng, "sparse")
    c, p, count, _ = large_star(np.concatenate([child, parent]), np.concatenate([parent, child]))
    assert (c > p).all() and len(c) == count <= len(child)
    c2, p2 = small_star(c, p)
    assert (c2 > p2).all() and len(c2) <= len(c)


def test_too_few_rounds_is_an_error_naming_the_setting():
    order = np.random.default_rng(1).permutation(5000)
    with pytest.raises(RuntimeError, match="max_rounds"):
        components_local(np.maximum(order[:-1], order[1:]), np.minimum(order[:-1], order[1:]), max_rounds=2)


@pytest.mark.slow
def test_partitioned_rounds_on_ray_match_union_find():
    from refinedweb.core.cluster import init_ray

    init_ray(2, None)
    rng = np.random.default_rng(21)
    # fanout 2 sends 5 partitions' blocks in 3 hops of 2 ways (exchange.py's radix shuffle)
    for kind, parts, fanout in (("chain", 3, 64), ("chain", 5, 2), ("sparse", 2, 64), ("sparse", 1, 64)):
        n, child, parent = random_graph(rng, kind)
        half = len(child) // 2  # two producers, as the bucket tasks are
        plan = Plan.of(parts, fanout)
        blocks = [adjacency_blocks(child[:half], parent[:half], plan), adjacency_blocks(child[half:], parent[half:], plan)]
        import ray

        blocks = [[ray.put(b) for b in producer] for producer in blocks]
        node, root = connected_components(deliver(plan, blocks, ByNode(parts)), plan, max_rounds=100)
        assert np.array_equal(_roots(n, node, root), union_find_roots(n, child, parent))
