"""Whether two runs refined the same documents: ids and texts of ``refined/``, and the drop counts.

A speed-up must not change what the refinery writes: run the same command before and after it (e.g.
``bench/pipeline.py --keep DIR`` on each side) and compare the two ``ours`` outputs::

    .venv/bin/python bench/compare_outputs.py BEFORE_OUT AFTER_OUT

prints the documents only one side kept, those whose text differs (first few ids), the drop counts
per stage and reason that differ, and ends with ``identical: yes`` or ``identical: no`` (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def documents(out: Path) -> dict[str, str]:
    """id -> text over every refined shard of one run."""
    import pyarrow.parquet as pq

    table = pq.read_table(out / "refined", columns=["id", "text"])
    return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def drops(out: Path) -> dict[tuple[str, str], int]:
    """(stage, reason) -> documents dropped, from stats.json."""
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    return {(s["name"], reason): n for s in stats["stages"] for reason, n in s["dropped"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    a, b = documents(args.before), documents(args.after)
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    changed = sorted(i for i in a.keys() & b.keys() if a[i] != b[i])
    print(f"documents: {len(a)} before, {len(b)} after; only before {len(only_a)} {only_a[:3]}, "
          f"only after {len(only_b)} {only_b[:3]}, text differs {len(changed)} {changed[:3]}")
    da, db = drops(args.before), drops(args.after)
    moved = {k: (da.get(k, 0), db.get(k, 0)) for k in sorted(da.keys() | db.keys()) if da.get(k, 0) != db.get(k, 0)}
    print(f"drop counts that differ (stage, reason): before -> after: {moved or 'none'}")
    same = not (only_a or only_b or changed)
    print(f"identical: {'yes' if same else 'no'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
