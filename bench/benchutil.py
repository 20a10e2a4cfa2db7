"""What the benchmarks share: finding their input with the project's one input resolver."""

from __future__ import annotations

from pathlib import Path


def one_input(pattern: Path) -> Path:
    """The one WARC file ``pattern`` names, by the project's input resolver (refinedweb.core.inputs)."""
    from refinedweb.config import UserError
    from refinedweb.core.inputs import resolve_inputs

    try:
        files = resolve_inputs(str(pattern))
    except UserError as exc:
        raise SystemExit(str(exc)) from None
    if len(files) != 1:
        raise SystemExit(f"{pattern}: names {len(files)} input files; this benchmark takes one")
    return Path(files[0])


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's processor string), and the core count."""
    import os
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    return f"{name or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def first_cpus(n: int) -> set[int]:
    """The first ``n`` CPUs this process may run on (its affinity), for pinning a measured run."""
    import os

    available = sorted(os.sched_getaffinity(0))
    if not 1 <= n <= len(available):
        raise SystemExit(f"{n} CPUs asked: this process may use 1 to {len(available)}")
    return set(available[:n])


def pin_to(cpus: set[int] | None):
    """A ``preexec_fn`` running the child on ``cpus`` (its own children inherit it); None leaves it unpinned."""
    import os

    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)
