"""Radix shuffle (dedup/exchange.py): hop plans, rows reach the direct shuffle's destination, objects linear in the producers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from refinedweb.dedup import exchange
from refinedweb.dedup.exchange import ByBounds, ByColumn, ByHash, Plan, as_list, concat, deliver, send, send_table


@pytest.mark.parametrize(
    ("parts", "fanout", "radix", "levels"),
    [(1, 64, 1, 1), (64, 64, 64, 1), (65, 64, 9, 2), (1158, 64, 35, 2), (4096, 64, 64, 2), (4097, 64, 17, 3), (5, 2, 2, 3)],
)
def test_plan_takes_the_fewest_balanced_hops(parts, fanout, radix, levels):
    plan = Plan.of(parts, fanout)
    assert (plan.radix, plan.levels) == (radix, levels)
    assert plan.radix <= fanout and plan.radix**plan.levels >= parts
    if plan.levels > 1:
        assert (plan.radix - 1) ** plan.levels < parts  # no smaller radix reaches every destination in as many hops


@pytest.mark.parametrize("parts", [7, 100, 1158])
def test_digits_spell_the_destination(parts):
    plan = Plan.of(parts, 8)
    dest = np.arange(parts)
    rebuilt = sum(plan.digit(dest, level) * plan.radix ** (plan.levels - 1 - level) for level in range(plan.levels))
    assert np.array_equal(rebuilt, dest)


@pytest.fixture(scope="module")
def ray_local():
    """A local two-CPU Ray, as the dedup phase starts it."""
    from refinedweb.core.cluster import init_ray

    init_ray(2, None)
    import ray

    return ray


def _producers(rng: np.random.Generator, senders: int, rows: int) -> list[np.ndarray]:
    """Each producer's (2, rows) block: a random 64-bit hash and a payload naming producer and row."""
    return [
        np.stack([rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64), np.arange(rows, dtype=np.int64) + s * 10**6])
        for s in range(senders)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("senders", "parts", "fanout"), [(3, 5, 64), (6, 5, 2), (9, 30, 4), (4, 64, 8)])
def test_deliver_sends_every_row_where_a_direct_shuffle_would(ray_local, senders, parts, fanout):
    rng = np.random.default_rng(senders * parts)
    blocks = _producers(rng, senders, 200)
    plan = Plan.of(parts, fanout)
    route = ByHash(parts)
    task = ray_local.remote(send).options(num_returns=plan.radix)
    sent = [as_list(task.remote(plan, route(b), *b)) for b in blocks]
    got = deliver(plan, sent, route)
    assert len(got) == parts
    every = np.concatenate(blocks, axis=1)
    for dest, refs in enumerate(got):
        hashes, payload = concat(ray_local.get(refs)) if refs else (np.empty(0), np.empty(0))
        want = every[:, route(every) == dest]
        assert sorted(payload.tolist()) == sorted(want[1].tolist())
        assert set(hashes.tolist()) == set(want[0].tolist())


@pytest.mark.slow
def test_deliver_routes_tables_by_a_column_and_bounds_by_document(ray_local):
    plan = Plan.of(6, 2)
    assert plan.levels == 3
    bounds = np.array([0, 10, 20, 30, 40, 50, 60])
    docs = np.arange(60, dtype=np.int64)
    table = pa.table({"doc": docs, "part": ByBounds(bounds)(np.stack([docs, docs])), "text": [f"t{d}" for d in docs]})
    task = ray_local.remote(send_table).options(num_returns=plan.radix)
    slices = [table.slice(i, 20) for i in (0, 20, 40)]
    sent = [as_list(task.remote(plan, part.column("part").to_numpy(), part)) for part in slices]
    got = deliver(plan, sent, ByColumn("part"))
    for dest, refs in enumerate(got):
        rows = pa.concat_tables(ray_local.get(refs))
        assert sorted(rows.column("doc").to_pylist()) == list(range(dest * 10, dest * 10 + 10))
        assert sorted(rows.column("text").to_pylist()) == sorted(f"t{d}" for d in range(dest * 10, dest * 10 + 10))


@pytest.mark.slow
def test_objects_grow_linearly_with_producers(ray_local, monkeypatch):
    """Producers and destinations grow together (both hold a memory-sized share): objects stay ~M x r x L, not M x P."""
    counted: list[int] = []
    real_remote = ray_local.remote

    def counting_remote(**opts):
        def decorate(fn):
            real = real_remote(**opts)(fn)

            class Counted:
                def options(self, num_returns):
                    inner = real.options(num_returns=num_returns)

                    class Call:
                        def remote(self, *args):
                            counted.append(num_returns)
                            return inner.remote(*args)

                    return Call()

            return Counted()

        return decorate

    monkeypatch.setattr(ray_local, "remote", counting_remote)
    rng = np.random.default_rng(0)
    per_producer = []
    for senders in (16, 64):
        counted.clear()
        plan = Plan.of(senders * 4, 16)  # 64 -> 2 hops of 8, 256 -> 2 hops of 16
        route = ByHash(plan.parts)
        blocks = _producers(rng, senders, 50)
        sent = [as_list(real_remote(send).options(num_returns=plan.radix).remote(plan, route(b), *b)) for b in blocks]
        got = deliver(plan, sent, route)
        assert sum(len(ray_local.get(refs)) for refs in got) > 0
        objects = senders * plan.radix + sum(counted)
        assert objects < senders * plan.parts / 2  # the direct shuffle makes M x P
        per_producer.append(objects / senders)
    assert per_producer[1] <= 2.5 * per_producer[0]  # a direct shuffle's M x 4M would quadruple it


def test_fanout_is_the_default(monkeypatch):
    monkeypatch.setattr(exchange, "FANOUT", 3)
    assert Plan.of(9) == Plan(9, 3, 2)
