"""Running a parsed command line: a ``UserError`` is one line on stderr and exit status 2.

Commands that run on Ray also run inside ``ray_console``: Ray's output to ``<output>/logs/ray.log``,
the terminal left to the progress lines (core/console.py) and the command's summary.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from refinedweb.config import UserError
from refinedweb.core.cluster import ray_logs_to
from refinedweb.core.console import Console, use_console

LOG_DIR, RAY_LOG = "logs", "ray.log"


def ray_log_file(output: str | Path) -> Path:
    """``<output>/logs/ray.log``; for an output in object storage, a local file named after it (logs are appended line by line)."""
    if "://" in str(output):
        digest = hashlib.sha256(str(output).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / "refinedweb-logs" / digest / RAY_LOG
    return Path(output) / LOG_DIR / RAY_LOG


@contextlib.contextmanager
def ray_console(output: str | Path, quiet: bool) -> Iterator[Path]:
    """Ray's output to ``ray_log_file(output)`` and the command's console on the terminal; yields the log's path."""
    log = ray_log_file(output)
    with ray_logs_to(log) as terminal, use_console(Console.auto(quiet, terminal)):
        yield log


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; a ``UserError`` is one line on stderr and exit 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"refinedweb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
