"""What a person sees while a phase runs: one live progress line, plain log lines, or nothing.

Each phase (refine, dedup, tokenize) reports files (or shards) done of its total, the pages (or
documents) it has read, their rate, the documents kept and an ETA. On a terminal that is one line
redrawn in place (tqdm); when stdout is not a terminal (a batch job's log) it is a plain line per
file done and one per minute while none finishes; ``--quiet`` shows neither, only errors and the
command's final summary. Ray's own output goes to a log file instead (``core/cluster.py``,
``ray_logs_to``), so these lines are all the terminal shows while a run works.

The commands set the console with ``use_console``; code below them asks ``current()``, so the
phases need no console argument. Without one set, the console writes plain lines to stderr.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterator, TextIO

LIVE, PLAIN, QUIET = "live", "plain", "quiet"
HEARTBEAT_S = 60.0  # a plain line at least this often while a phase runs
REFRESH_S = 0.5  # the live line is redrawn this often


@dataclass(frozen=True)
class Counts:
    """A phase's progress at one moment."""

    done: int
    """Files (or shards) finished."""
    total: int
    """Files (or shards) the phase has to do."""
    items: int
    """Pages (or documents) read so far, of finished and unfinished files."""
    kept: int
    """Documents kept so far."""
    seconds: float
    """Since the phase started."""


def format_eta(counts: Counts) -> str:
    """``H:MM:SS`` left at the rate files have finished so far; ``?`` before the first one."""
    if counts.done >= counts.total:
        return "0:00:00"
    if counts.done <= 0 or counts.seconds <= 0:
        return "?"
    left = round(counts.seconds * (counts.total - counts.done) / counts.done)
    return f"{left // 3600}:{left % 3600 // 60:02d}:{left % 60:02d}"


def format_progress(phase: str, counts: Counts, unit: str = "pages", of: str = "files") -> str:
    """The progress line: ``refine: 3/10 files, 1,234 pages (56.7 pages/s), 345 kept, ETA 0:02:10``."""
    rate = counts.items / counts.seconds if counts.seconds > 0 else 0.0
    return (f"{phase}: {counts.done}/{counts.total} {of}, {counts.items:,} {unit} ({rate:,.1f} {unit}/s), "
            f"{counts.kept:,} kept, ETA {format_eta(counts)}")


class Phase:
    """One phase's progress line: counts go in as results arrive, the console draws them."""

    def __init__(self, console: "Console", name: str, total: int, unit: str, of: str) -> None:
        self.console, self.name, self.total, self.unit, self.of = console, name, total, unit, of
        self.done = self.items = self.kept = 0
        self.start = self.last_line = time.monotonic()
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.bar = None
        if console.mode == LIVE:
            from tqdm import tqdm

            sized = min(shutil.get_terminal_size((0, 0))) > 0  # tqdm shows nothing on a terminal of unknown size
            self.bar = tqdm(total=None, bar_format="{desc}", file=console.stream, dynamic_ncols=sized,
                            ncols=None if sized else 160, nrows=None if sized else 24, leave=True)
        if console.mode != QUIET:
            threading.Thread(target=self._tick, name=f"progress-{name}", daemon=True).start()

    def counts(self) -> Counts:
        return Counts(self.done, self.total, self.items, self.kept, time.monotonic() - self.start)

    def line(self) -> str:
        return format_progress(self.name, self.counts(), self.unit, self.of)

    def add(self, items: int = 0, kept: int = 0) -> None:
        """Pages (or documents) read and documents kept, of a file not yet done or just done."""
        with self.lock:
            self.items += items
            self.kept += kept

    def file_done(self, note: str = "") -> None:
        """One more file finished; a plain console prints the line with ``note`` (which file, what came of it)."""
        with self.lock:
            self.done += 1
            self._draw(note, force=True)

    def rename(self, name: str) -> None:
        """A new step of the same phase (``dedup minhash`` -> ``dedup apply``); its rate and ETA count from now."""
        with self.lock:
            self.name, self.start = name, time.monotonic()
            if self.bar is not None:
                self._draw("", force=True)
            elif self.console.mode == PLAIN:
                self.console.write(f"{name}: {self.done}/{self.total} {self.of}")
                self.last_line = time.monotonic()

    def _draw(self, note: str, force: bool) -> None:
        """Redraw the live line, or print a plain one (always when ``force``, else once a heartbeat)."""
        if self.bar is not None:
            self.bar.set_description_str(self.line(), refresh=True)
        elif self.console.mode == PLAIN and (force or time.monotonic() - self.last_line >= self.console.heartbeat_s):
            self.console.write(self.line() + (f" | {note}" if note else ""))
            self.last_line = time.monotonic()

    def _tick(self) -> None:
        interval = REFRESH_S if self.bar is not None else min(self.console.heartbeat_s, 5.0)
        while not self.closed.wait(interval):
            with self.lock:
                self._draw("", force=False)

    def message(self, text: str) -> None:
        """A line above the live one (or among the plain ones); nothing when quiet."""
        if self.bar is not None:
            self.bar.write(text, file=self.console.stream)
        else:
            self.console.info(text)

    def close(self) -> None:
        self.closed.set()
        with self.lock:
            if self.bar is not None:
                self.bar.set_description_str(self.line(), refresh=True)
                self.bar.close()

    def __enter__(self) -> "Phase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Console:
    """Where progress and status lines go (``stream``; None: stderr at each write) and how (``mode``)."""

    def __init__(self, mode: str = PLAIN, stream: TextIO | None = None, heartbeat_s: float = HEARTBEAT_S) -> None:
        if mode not in (LIVE, PLAIN, QUIET):
            raise ValueError(f"console mode: one of {LIVE}, {PLAIN}, {QUIET}, got {mode!r}")
        self.mode, self._stream, self.heartbeat_s = mode, stream, heartbeat_s

    @classmethod
    def auto(cls, quiet: bool = False, stream: TextIO | None = None) -> "Console":
        """Quiet if asked; a live line when stdout and the stream are terminals; plain lines otherwise."""
        if quiet:
            return cls(QUIET, stream)
        target = stream or sys.stderr
        live = sys.stdout.isatty() and target.isatty()
        return cls(LIVE if live else PLAIN, stream)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def info(self, text: str) -> None:
        """A status line (resuming, a lock taken over); not shown when quiet."""
        if self.mode != QUIET:
            self.write(text)

    def error(self, text: str) -> None:
        """A line that is always shown (a file failed or quarantined)."""
        self.write(text)

    def phase(self, name: str, total: int, unit: str = "pages", of: str = "files") -> Phase:
        """A progress line for a phase of ``total`` files (``of``), reading ``unit``; use it as a context manager."""
        return Phase(self, name, total, unit, of)


_CURRENT: list[Console] = []  # the command's console (a process-wide setting, seen from every thread)


def current() -> Console:
    """The console the command set, or plain lines to stderr."""
    return _CURRENT[-1] if _CURRENT else Console()


@contextlib.contextmanager
def use_console(console: Console) -> Iterator[Console]:
    """Make ``console`` the one ``current()`` returns inside the block."""
    _CURRENT.append(console)
    try:
        yield console
    finally:
        _CURRENT.remove(console)
