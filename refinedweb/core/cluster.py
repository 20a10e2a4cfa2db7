"""Starting or joining Ray: one helper for every phase (refine, dedup, tokenize)."""

from __future__ import annotations

import logging


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
