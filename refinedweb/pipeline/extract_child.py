"""The trafilatura process behind ``ExtractionWorker`` (pipeline/extract.py): pages in, texts out.

A module of its own so that the child imports trafilatura and nothing of the refinery: importing
pipeline/extract.py brought pyarrow and the screen's parser along, 0.1 s of every start measured
with ``python -X importtime``.

The parent sends the pages the screen has passed in small groups while the child is still
extracting earlier ones, so the screen's time overlaps trafilatura's (issue 17). A reader thread
takes pages off the socket as they arrive and queues them: the child never stops reading while it
answers, so neither side's send can wait on the other's and the two cannot deadlock on full
socket buffers. Each answer carries the time the page was finished (``time.monotonic``, the
system-wide CLOCK_MONOTONIC on Linux), from which the parent starts the next page's budget.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from multiprocessing.connection import Connection


def _read_pages(conn: Connection, pages: queue.SimpleQueue) -> None:
    """Queue every page the parent sends (a message is a list of pages); ``None`` once it has closed its end."""
    while True:
        try:
            group = conn.recv()
        except (EOFError, OSError):
            pages.put(None)
            return
        for html in group:
            pages.put(html)


# extract()'s keyword arguments (ExtractConfig.trafilatura_options) as trafilatura's Extractor fields.
_EXTRACTOR_FIELDS = {
    "favor_precision": "precision",
    "include_comments": "comments",
    "include_tables": "tables",
    "deduplicate": "dedup",
    "include_images": "images",
    "include_links": "links",
    "with_metadata": "with_metadata",
    "output_format": "output_format",
}


def extractor(options: dict):
    """trafilatura's ``Extractor`` for ``extract``'s keyword arguments, built once for every page.

    ``extract(html, **options)`` builds one per call, which reads eight settings through
    configparser: 0.07 s of the 2.5 s trafilatura spent on the CC-like input's 623 extracted pages.
    An option without a field here is an error, not a silent default.
    """
    from trafilatura.settings import Extractor

    unknown = sorted(set(options) - set(_EXTRACTOR_FIELDS))
    if unknown:
        raise ValueError(f"trafilatura options without an Extractor field: {unknown}")
    return Extractor(**{_EXTRACTOR_FIELDS[key]: value for key, value in options.items()})


def serve(fd: int) -> None:
    """Receive the options, then answer ``(status, text, finished_at)`` for each page, in order."""
    import trafilatura
    from trafilatura.deduplication import LRUCache
    from trafilatura.settings import LRU_SIZE

    from refinedweb.pipeline import fast_xpaths

    fast_xpaths.install()  # the same elements selected, without lxml calling back into Python per element
    logging.disable(logging.WARNING)  # trafilatura logs every empty page
    conn = Connection(fd)
    options = extractor(conn.recv())
    dedup = bool(options.dedup)
    pages: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read_pages, args=(conn, pages), daemon=True).start()
    while (html := pages.get()) is not None:
        try:
            if dedup:
                # A cache per page: repeats inside the page only. trafilatura's default cache is
                # process-wide, which made a page's text depend on what its worker extracted before.
                options.dedup = LRUCache(maxsize=LRU_SIZE)
            if isinstance(html, bytes):  # UTF-8 from the reader: decoded here, once
                html = html.decode("utf-8", "surrogatepass")
            answer = ("ok", trafilatura.extract(html, options=options))
        except Exception as exc:  # one bad page must not end the worker
            answer = ("error", f"{type(exc).__name__}: {exc}")
        conn.send((*answer, time.monotonic()))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    serve(int(sys.argv[1]))
