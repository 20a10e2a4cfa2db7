"""Starting or joining Ray: one helper for every phase (refine, dedup, tokenize)."""

from __future__ import annotations

import logging
from typing import Callable


def init_ray(workers: int, address: str | None) -> None:
    """Join ``address`` or start a local Ray instance with ``workers`` CPUs (no dashboard)."""
    import ray

    if ray.is_initialized():
        return
    from refinedweb.core.storage import ray_env

    # workers on other hosts read and write object storage as this process does (core/storage.py)
    env = ray_env()
    common = {"log_to_driver": True, "logging_level": logging.WARNING, "configure_logging": True,
              **({"runtime_env": {"env_vars": env}} if env else {})}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, **common)


def check_shared(paths: list[str], log: Callable[[str], None]) -> None:
    """Warn when tasks on a multi-node Ray cluster will read or write a local path.

    Tasks hand data over only through the object store or the output storage; a local output
    (or input) is one node's disk, which the others do not see unless it is a shared mount, so a
    run where nodes share no disk needs ``s3://`` paths (core/storage.py).
    """
    import ray

    from refinedweb.core.storage import is_remote

    local = [p for p in paths if not is_remote(str(p))]
    if not local or not ray.is_initialized():
        return
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if nodes > 1:
        log(f"warning: {local[0]} is a local path, but the Ray cluster has {nodes} nodes: each task reads and writes "
            "it on its own node's disk; use an s3:// path unless it is a disk every node mounts")
