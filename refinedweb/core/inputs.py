"""The one input resolver: what files a user's paths, globs, folders and URLs name, for every command.

``run``, ``dedup``, ``tokenizer train``, ``tokenize`` and the benchmarks all take inputs this way,
with one rule (README "Inputs"):

* a web URL (``http://``, ``https://``) passes through unchanged (it is streamed, never listed);
* an object-storage URL (``s3://bucket/key``, ``gs://``, ...; ``core/storage.py``) follows the same
  rules as a local path, its key prefixes standing for folders;
* a file named as such is taken whatever its name (the reader then judges its content);
* a folder stands for every data file of the command's kind below it, recursively;
* a glob (``*``, ``?``, ``[...]``, ``**`` recursive) stands for the data files it matches;
* in folders and globs, files of another kind (a ``stats.json`` beside the shards, notes) and
  hidden files and folders (``.name``: temporary names of atomic writes) are skipped;
* each pattern's files come sorted (a folder's path by path component), patterns in the order given, a file named twice once;
* a pattern that names no data file is a ``UserError`` naming it.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from refinedweb.config import UserError
from refinedweb.core.io import check_columns
from refinedweb.core.storage import Remote, StoragePath, location, scheme_of

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


def _hidden_key(key: str, root: str) -> bool:
    return any(part.startswith(".") for part in key[len(root):].strip("/").split("/"))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``glob``'s rule as a regex over whole keys: ``*`` and ``?`` stay in a folder, ``**/`` spans any depth."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            out.append(fnmatch.translate(pattern[i:end + 1])[4:-3])  # the class alone, out of (?s:...)\Z
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _remote_glob(pattern: str, kind: InputKind) -> list[str]:
    """A glob over object storage: keys below the pattern's literal prefix, matched like ``glob`` (``**`` any depth)."""
    parts = pattern.split("/")
    first = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    root = "/".join(parts[:first])
    regex = _glob_regex(pattern)
    try:
        keys = location(root).walk_files()
    except FileNotFoundError:
        keys = []
    return sorted(str(k) for k in keys if regex.match(str(k)) and kind.matches(k.name) and not _hidden_key(str(k), root))


def _expand_remote(pattern: str, kind: InputKind) -> list[str]:
    if glob.has_magic(pattern.split("://", 1)[1]):
        found = _remote_glob(pattern, kind)
        if not found:
            raise UserError(f"{pattern}: no {kind.label} file matches")
        return found
    where = location(pattern)
    assert isinstance(where, Remote)
    try:
        if where.is_file():
            return [where.url]
        found = [str(k) for k in where.walk_files() if kind.matches(k.name) and not _hidden_key(str(k), where.url)]
    except OSError as exc:
        raise UserError(f"{pattern}: cannot list it ({exc})") from None
    if not found:
        raise UserError(f"{pattern}: input not found (no such key, nor {kind.label} files below it)")
    return sorted(found, key=lambda k: k.split("/"))


def _expand(pattern: str, kind: InputKind) -> list[str]:
    if is_url(pattern):
        return [pattern]
    if scheme_of(pattern) is not None:
        return _expand_remote(pattern, kind)
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
            key = match if scheme_of(match) is not None else os.path.realpath(match)
            if key not in seen:
                seen.add(key)
                resolved.append(match)
    return resolved


def resolve_parquet(patterns: str | Sequence[str], columns: Sequence[str] = ()) -> list[StoragePath]:
    """Parquet files named by ``patterns`` (local ones resolved), sorted, each checked for string ``columns``."""
    found = {location(p) for p in resolve_inputs(patterns, PARQUET)}
    files = sorted((p.resolve() for p in found), key=lambda p: p.parts)
    for path in files:
        check_columns(path, columns)
    return files
