"""Starting or joining Ray: one helper for every phase (refine, dedup, tokenize)."""

from __future__ import annotations

import logging


def init_ray(workers: int, address: str | None) -> None:
    """Join ``address`` or start a local Ray instance with ``workers`` CPUs (no dashboard)."""
    import ray

    if ray.is_initialized():
        return
    common = {"log_to_driver": True, "logging_level": logging.WARNING, "configure_logging": True}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, **common)
