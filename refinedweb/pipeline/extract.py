"""Main-content extraction with trafilatura under a wall-clock budget, then RefinedWeb's clean-up.

RefinedWeb (§3.1, App. G) extracts text from WARC HTML with trafilatura, keeping main content only,
then allows at most two consecutive newlines and removes URLs from the text. trafilatura can spend
seconds or hang on pathological pages; the budget is enforced from outside the extraction by running
it in a child process that is killed and restarted when a page overruns, so a page never stalls a
worker (it becomes ``extract_timeout``).
"""

from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.config import check
from refinedweb.filters.screen import LanguageScreen
from refinedweb.core.stage import annotate

# Both run outside the extraction's timeout, so both are linear in the text (issue 18): a URL scheme
# is at most MAX_SCHEME_CHARS long (an unbounded one made "a.a.a..." quadratic: 20 KB took a second,
# 1 MB most of an hour), and a run of spaces is matched from its start only.
MAX_SCHEME_CHARS = 40
_URL_RE = re.compile(r"(?:\b[a-z][a-z0-9+.\-]{0,%d}://|\bwww\.)[^\s<>\"'()\[\]{}]+" % (MAX_SCHEME_CHARS - 1), re.IGNORECASE)
_SPACES_BEFORE_NEWLINE = re.compile(r"(?<![ \t])[ \t]+\n")
_MANY_SPACES = re.compile(r"[ \t]{2,}")
_WWW = re.compile(r"www\.", re.IGNORECASE)  # every match of _URL_RE holds "://" or this


@dataclass(frozen=True)
class ExtractConfig:
    """trafilatura extraction and RefinedWeb's text clean-up (RefinedWeb §3.1, App. G)."""

    enabled: bool = True
    """Extract text from HTML; when off, only records that already carry text (WET) go on."""
    timeout_s: float = 5.0
    """Wall-clock budget per page; an overrun kills the extraction process (drop: extract_timeout)."""
    max_html_bytes: int = 5_000_000
    """Pages larger than this are not parsed at all (drop: extract_html_too_large)."""
    favor_precision: bool = True
    """trafilatura's precision mode: less boilerplate, as RefinedWeb wants only the main content."""
    include_comments: bool = False
    """Keep user comments below articles (RefinedWeb keeps main content only)."""
    include_tables: bool = True
    """Keep text inside <table> elements (trafilatura's default)."""
    deduplicate: bool = True
    """trafilatura's removal of repeated text segments inside a page (its cache is reset per page, so
    a page's text does not depend on the pages its worker extracted before)."""
    remove_urls: bool = True
    """Delete URLs from the extracted text (RefinedWeb §3.1)."""
    max_consecutive_newlines: int = 2
    """Longer runs of newlines are shortened to this (RefinedWeb §3.1: at most two)."""

    def __post_init__(self) -> None:
        check(0 < self.timeout_s <= 3600, "timeout_s", f"must be > 0 and <= 3600, got {self.timeout_s}")  # inf overflows poll()
        check(self.max_html_bytes > 0, "max_html_bytes", "must be > 0")
        check(self.max_consecutive_newlines >= 1, "max_consecutive_newlines", "must be >= 1")

    def trafilatura_options(self) -> dict:
        """Keyword arguments for ``trafilatura.extract``."""
        return {
            "favor_precision": self.favor_precision,
            "include_comments": self.include_comments,
            "include_tables": self.include_tables,
            "deduplicate": self.deduplicate,
            "include_images": False,
            "include_links": False,
            "with_metadata": False,
            "output_format": "txt",
        }


def clean_text(text: str, remove_urls: bool = True, max_newlines: int = 2) -> str:
    """RefinedWeb's clean-up of extracted text: URLs removed, at most ``max_newlines`` newlines in a row.

    Linear in the text (see ``MAX_SCHEME_CHARS``): it runs in the worker, outside the extraction's
    wall-clock budget, on whatever trafilatura returned.
    """
    # Each pattern runs only where the literal text it needs is present: most texts have no URL and
    # no run of blanks, and a substring test is ten times cheaper than the scan.
    if remove_urls:
        if "://" in text or _WWW.search(text):
            text = _URL_RE.sub("", text)
        if "  " in text or "\t" in text:
            text = _MANY_SPACES.sub(" ", text)
    if " \n" in text or "\t\n" in text:
        text = _SPACES_BEFORE_NEWLINE.sub("\n", text)
    text = re.sub("\n{%d,}" % (max_newlines + 1), "\n" * max_newlines, text)  # re caches the pattern
    return text.strip()


# Pages sent to the extraction process together. One at a time, the two processes interleave page
# by page: on one core (bench/pipeline.py --cores 1) pages-A then took 4.63 s against 4.20 s with
# the whole batch sent at once, but the whole batch leaves the child idle while the screen runs:
# with a free core 4.05 s against 3.45 s one at a time. Groups of 8 gave 4.32 s and 3.49 s
# (AMD EPYC, 2 runs each, 2026-12-04).
PAGES_PER_SEND = 8


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity: a container's or ``taskset``'s limit), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class ExtractionWorker:
    """A child process running trafilatura (pipeline/extract_child.py) under a per-page wall-clock budget.

    The child is a fresh interpreter (not a fork: Ray workers are multi-threaded) talking over a
    socketpair. ``submit`` sends pages in groups of ``PAGES_PER_SEND``, so the child extracts while
    the caller screens the next ones; ``collect`` sends the rest and waits for the answers in order.
    A page's budget starts when the child can start it (it was sent and the page before was
    finished); on an overrun the child is killed and a new one takes over the pages still waiting.
    """

    def __init__(self, options: dict) -> None:
        self.options = options
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.restarts = 0
        self.waiting: collections.deque[tuple[str | bytes, float]] = collections.deque()  # (page, sent at), in order
        self.unsent: list[str | bytes] = []  # submitted, not sent yet
        # Sending early pays only where the child can run beside this process; on one CPU it only
        # makes the two interleave, so everything waits for ``collect``.
        self.overlap = _usable_cpus() > 1

    def start(self) -> None:
        """Start the child now (its trafilatura import then overlaps the wait for the first batch)."""
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._start()

    def _start(self) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "refinedweb.pipeline.extract_child", str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(self.options)

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if self.conn is not None:
            self.conn.close()
        self.proc, self.conn = None, None

    def submit(self, html: str | bytes) -> None:
        """Queue one page (text, or UTF-8 bytes the child decodes); every ``PAGES_PER_SEND`` pages (on one CPU: at ``collect``) the queued ones are sent."""
        self.unsent.append(html)
        if self.overlap and len(self.unsent) >= PAGES_PER_SEND:
            self._send()

    def _send(self) -> None:
        """Send the queued pages in one message; the child starts on them once it has finished the pages before."""
        if not self.unsent:
            return
        self.start()
        try:
            self.conn.send(self.unsent)
        except OSError:  # the child died since: collect meets its end and resends what it had not answered
            pass
        now = time.monotonic()
        self.waiting.extend((html, now) for html in self.unsent)
        self.unsent = []

    def collect(self, timeout_s: float) -> list[tuple[str, str | None]]:
        """One ``(status, text)`` per page submitted since the last call: "ok", "timeout" or "error" (text: the message)."""
        self._send()
        results: list[tuple[str, str | None]] = []
        finished = 0.0  # when the child finished the page before (CLOCK_MONOTONIC, the same in both processes)
        while self.waiting:
            deadline = max(self.waiting[0][1], finished) + timeout_s
            answer = None
            if self.conn.poll(max(deadline - time.monotonic(), 0.0)):
                try:
                    answer = self.conn.recv()
                except (EOFError, OSError) as exc:  # the child died (e.g. out of memory)
                    results.append(("error", f"extraction process died: {exc}"))
                    self._resend_waiting(count_restart=False)
                    finished = 0.0
                    continue
            if answer is None or answer[2] > deadline:  # still running, or finished after its budget
                results.append(("timeout", None))
                self._resend_waiting(count_restart=True)
                finished = 0.0
                continue
            self.waiting.popleft()
            status, text, finished = answer
            results.append((status, text))
        return results

    def _resend_waiting(self, count_restart: bool) -> None:
        """Give up the first waiting page, replace the child and send it the pages after that one."""
        self.waiting.popleft()
        self._kill()
        self.restarts += count_restart
        self.unsent = [html for html, _ in self.waiting] + self.unsent
        self.waiting.clear()
        self._send()

    def close(self) -> None:
        self.waiting.clear()
        self.unsent = []
        self._kill()

    def __del__(self) -> None:
        try:
            self._kill()
        except Exception:
            pass


class Extractor:
    """HTML -> main-content text (trafilatura), cleaned as RefinedWeb does; WET text passes through.

    With a ``screen`` (filters/screen.py), pages clearly not in the target languages are not
    extracted: they go on with null text, ``schema.SCREENED`` set and the screen's language, and
    the language stage drops them.
    """

    name = "extract"
    reasons = (schema.EXTRACT_HTML_TOO_LARGE, schema.EXTRACT_DISABLED, schema.EXTRACT_TIMEOUT, schema.EXTRACT_ERROR, schema.EXTRACT_EMPTY)

    def __init__(self, config: ExtractConfig, screen: LanguageScreen | None = None) -> None:
        self.config = config
        self.screen = screen
        self.worker = ExtractionWorker(config.trafilatura_options())

    def start(self) -> None:
        """Start the trafilatura process ahead of the first batch (Ray actors, the local runner)."""
        if self.config.enabled:
            self.worker.start()

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        html_col = batch.column(schema.HTML) if schema.HTML in batch.column_names else pa.nulls(len(batch), pa.string())
        raw = html_col.cast(pa.binary()).to_pylist()  # UTF-8 bytes: the screen parses them, only extracted pages are decoded
        out = batch.column(schema.TEXT).to_pylist()
        sizes = pc.fill_null(pc.binary_length(html_col), 0).to_pylist()  # UTF-8 bytes, counted in C
        reasons: list[str | None] = [None] * len(batch)
        screened: list[tuple[str, float] | None] = [None] * len(batch)
        todo = []
        try:
            for i, (html, size) in enumerate(zip(raw, sizes)):
                if html is None:
                    continue  # WET text is used as is
                if size > cfg.max_html_bytes:
                    reasons[i] = schema.EXTRACT_HTML_TOO_LARGE
                elif not cfg.enabled:
                    reasons[i] = schema.EXTRACT_DISABLED
                else:
                    screened[i] = self.screen.screen(html) if self.screen is not None else None
                    if screened[i] is None:  # sent in groups: trafilatura runs while the next pages are screened
                        self.worker.submit(html)  # UTF-8 bytes, decoded by the child
                        todo.append(i)
            results = self.worker.collect(cfg.timeout_s) if todo else []
        except BaseException:  # no page of this batch may be answered to the next one
            self.worker.close()
            raise
        for i, (status, text) in zip(todo, results):
            if status == "timeout":
                reasons[i] = schema.EXTRACT_TIMEOUT
            elif status == "error":
                reasons[i] = schema.EXTRACT_ERROR
            else:
                out[i] = clean_text(text or "", cfg.remove_urls, cfg.max_consecutive_newlines)
        for i, text in enumerate(out):
            if reasons[i] is None and not text and screened[i] is None:
                reasons[i] = schema.EXTRACT_EMPTY
        if schema.HTML in batch.column_names:
            batch = batch.drop_columns([schema.HTML])
        batch = batch.set_column(batch.schema.get_field_index(schema.TEXT), schema.TEXT, pa.array(out, pa.string()))
        signals: dict[str, list] = {schema.HTML_BYTES: sizes}
        types = {schema.HTML_BYTES: pa.int32()}
        if self.screen is not None:
            signals[schema.LANGUAGE] = [s[0] if s else None for s in screened]
            signals[schema.LANGUAGE_SCORE] = [s[1] if s else None for s in screened]
            signals[schema.SCREENED] = [s is not None for s in screened]
            types.update({schema.LANGUAGE: pa.string(), schema.LANGUAGE_SCORE: pa.float32(), schema.SCREENED: pa.bool_()})
        return annotate(batch, reasons, signals, types)
