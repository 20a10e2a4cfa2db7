"""The one input resolver: what files a user's paths, globs, folders and URLs name, for every command.

``run``, ``dedup``, ``tokenizer train``, ``tokenize`` and the benchmarks all take inputs this way,
with one rule (README "Inputs"):

* a URL (``http://``, ``https://``) passes through unchanged;
* a file named as such is taken whatever its name (the reader then judges its content);
* a folder stands for every data file of the command's kind below it, recursively;
* a glob (``*``, ``?``, ``[...]``, ``**`` recursive) stands for the data files it matches;
* in folders and globs, files of another kind (a ``stats.json`` beside the shards, notes) and
  hidden files and folders (``.name``: temporary names of atomic writes) are skipped;
* each pattern's files come sorted (a folder's path by path component), patterns in the order given, a file named twice once;
* a pattern that names no data file is a ``UserError`` naming it.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from refinedweb.config import UserError
from refinedweb.core.io import check_columns

URL_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class InputKind:
    """A kind of data file: what it is called in messages and the name endings that mark it."""

    label: str
    suffixes: tuple[str, ...]

    def matches(self, name: str) -> bool:
        return name.lower().endswith(self.suffixes)


CRAWL = InputKind("WARC/ARC/WET", (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz"))
PARQUET = InputKind("Parquet", (".parquet",))


def is_url(source: str) -> bool:
    """True for the URLs that are streamed rather than opened from disk."""
    return source.startswith(URL_SCHEMES)


def _hidden(path: str, root: str) -> bool:
    rel = os.path.relpath(path, root)
    return any(part.startswith(".") and part not in (".", "..") for part in Path(rel).parts)


def _folder_files(folder: str, kind: InputKind) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(os.path.join(dirpath, f) for f in filenames if not f.startswith(".") and kind.matches(f))
    return sorted(found, key=lambda p: Path(p).parts)  # folder by folder, as a tree is read


def _expand(pattern: str, kind: InputKind) -> list[str]:
    if is_url(pattern):
        return [pattern]
    path = os.path.expanduser(pattern.removeprefix("file://"))
    if glob.has_magic(path):
        root = path[: len(path) - len(path.lstrip("/"))] or "."
        matches = (p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        found = sorted(p for p in matches if kind.matches(p) and not _hidden(p, root))
        if not found:
            raise UserError(f"{pattern}: no {kind.label} file matches")
        return found
    if os.path.isdir(path):
        found = _folder_files(path, kind)
        if not found:
            raise UserError(f"{pattern}: no {kind.label} files in this folder")
        return found
    if os.path.isfile(path):
        return [path]
    raise UserError(f"{pattern}: input not found")


def resolve_inputs(patterns: str | Sequence[str], kind: InputKind = CRAWL) -> list[str]:
    """The data files ``patterns`` name, by the module's rule; local paths as given (``~`` expanded)."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [str(patterns)]
    resolved: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        for match in _expand(str(pattern), kind):
            key = match if is_url(match) else os.path.realpath(match)
            if key not in seen:
                seen.add(key)
                resolved.append(match)
    return resolved


def resolve_parquet(patterns: str | Sequence[str], columns: Sequence[str] = ()) -> list[Path]:
    """Local Parquet files named by ``patterns``, resolved, sorted, each checked for string ``columns``."""
    files = sorted({Path(p).resolve() for p in resolve_inputs(patterns, PARQUET)})
    for path in files:
        check_columns(path, columns)
    return files
