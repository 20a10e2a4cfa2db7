"""Starting or joining Ray: one helper for every phase (refine, dedup, tokenize), and where Ray's output goes.

Ray talks a lot on a driver's stderr: its Python loggers (INFO and WARNING lines of ``ray`` and
``ray.data``), its C++ core worker (e.g. ``core_worker.cc``'s ERROR line that an actor "has
constructor arguments in the object store and max_restarts > 0", logged for every actor of a Ray
Data actor pool: Ray Data hands each one its DataContext and map function as object-store
references and lets actors restart, ``max_restarts=-1``, which we keep) and, with
``log_to_driver``, whatever its workers print. None of it is the run's progress. Inside
``ray_logs_to(path)`` all of it goes to ``path``: file descriptor 2 of this process (which the C++
logger and every ``sys.stderr`` writer use) points at the file, and the workers' lines are written
there too; the terminal's stderr is handed to the console (core/console.py) instead.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, TextIO

_LOG_PATH: list[Path] = []  # the file Ray's output goes to, while ``ray_logs_to`` is active


@contextlib.contextmanager
def ray_logs_to(path: str | Path) -> Iterator[TextIO]:
    """Send this process's stderr (fd 2: Ray's loggers and C++ core worker) to ``path``; yields the terminal's stderr.

    The file is appended to, so a resumed run keeps the earlier runs' lines. On leaving, fd 2 is
    the terminal again, so an error the command ends with is seen there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    with open(path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 2)
        _LOG_PATH.append(path)
        try:
            yield terminal
        finally:
            _LOG_PATH.remove(path)
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()


def ray_log_path() -> Path | None:
    """The file Ray's output goes to now, if any."""
    return _LOG_PATH[-1] if _LOG_PATH else None


def _workers_output_to(path: Path) -> None:
    """Write what Ray's workers print (``log_to_driver``) to ``path`` instead of this process's stdout and stderr.

    Ray offers no public switch for it; its dispatcher of worker lines is private, so where it is
    missing (another Ray version) the workers' stderr still lands in the file through fd 2 and only
    their stdout reaches the terminal.
    """
    try:
        from ray._private import worker as ray_worker

        dispatcher, print_logs = ray_worker.global_worker_stdstream_dispatcher, ray_worker.print_worker_logs
    except (ImportError, AttributeError):
        return
    stream = open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - lives with Ray
    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("ray_print_logs", lambda data: print_logs(data, stream))


def init_ray(workers: int, address: str | None) -> None:
    """Join ``address`` or start a local Ray instance with ``workers`` CPUs (no dashboard)."""
    import ray

    if ray.is_initialized():
        return
    from refinedweb.core.storage import ray_env

    log_path = ray_log_path()
    level = logging.INFO if log_path else logging.WARNING  # a log file can hold Ray's INFO lines too
    # workers on other hosts read and write object storage as this process does (core/storage.py)
    env = ray_env()
    common = {"log_to_driver": True, "logging_level": level, "configure_logging": True,
              **({"runtime_env": {"env_vars": env}} if env else {})}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, **common)
    if log_path:
        _workers_output_to(log_path)


def shutdown_ray() -> None:
    """Disconnect from Ray (and stop a local instance): a command's last use of Ray.

    Nothing may touch Ray after it: a background thread of Ray Data or an ObjectRef freed late
    makes the core worker end the process with exit 1 and no traceback (seen in CI when the report
    rendered while Ray shut down in another thread). Reference cycles are collected first for that.
    """
    if "ray" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        gc.collect()
        ray.shutdown()


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
