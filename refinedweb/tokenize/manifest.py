"""The token-shard manifest: the contract between the tokenizer (writer) and the trainer (reader).

A token folder holds ``manifest.json`` and Parquet shards with columns ``id`` (string) and
``input_ids`` (list<uint16> or list<uint32>, the end-of-text token already appended to every
document). The manifest records the SHA-256 of the ``tokenizer.json`` that made the shards, so a
trainer pointed at another tokenizer refuses to start instead of silently learning garbage.

Format ``refinedweb-tokens/1``::

    {"format": "refinedweb-tokens/1",
     "tokenizer": {"sha256": "...", "vocab_size": 50304, "eot_id": 0, "path": "tok/"},
     "dtype": "uint16",
     "splits": {"train": {"documents": 10, "tokens": 5000,
                          "shards": [{"path": "train/00000.parquet", "documents": 10, "tokens": 5000}]},
                "val": {...}}}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from refinedweb.config import UserError
from refinedweb.core.io import read_json_file, write_json_atomic
from refinedweb.core.storage import StoragePath, location

FORMAT = "refinedweb-tokens/1"
MANIFEST_NAME = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
DTYPES = ("uint16", "uint32")


@dataclass(frozen=True)
class Shard:
    """One Parquet file of a split, its path relative to the token folder."""

    path: str
    documents: int
    tokens: int


@dataclass(frozen=True)
class Split:
    """The shards of one split (``train``, ``val``) and their totals."""

    documents: int
    tokens: int
    shards: tuple[Shard, ...]


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``; ``root`` is the folder it was read from (shard paths are relative)."""

    sha256: str
    vocab_size: int
    eot_id: int
    dtype: str
    splits: dict[str, Split]
    tokenizer_path: str | None = None
    root: StoragePath | None = field(default=None, compare=False)

    def split(self, name: str) -> Split:
        """The split ``name``; a missing split is a ``UserError`` listing the ones present."""
        if name not in self.splits:
            have = ", ".join(sorted(self.splits))
            raise UserError(f"{self.root}: no split {name!r} in {MANIFEST_NAME} (has: {have})")
        return self.splits[name]

    def shard_paths(self, name: str) -> list[StoragePath]:
        """Absolute paths of the shards of split ``name``, in manifest order."""
        root = self.root or location(".")
        return [root / shard.path for shard in self.split(name).shards]


def _tokenizer_json(path: str | os.PathLike | StoragePath) -> StoragePath:
    p = location(path)
    return p / TOKENIZER_FILE if p.is_dir() else p


def tokenizer_sha256(tokenizer_dir_or_json: str | os.PathLike | StoragePath) -> str:
    """SHA-256 of the ``tokenizer.json`` bytes (given the file or the folder holding it)."""
    p = _tokenizer_json(tokenizer_dir_or_json)
    if not p.is_file():
        raise UserError(f"{p}: tokenizer.json not found")
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_dict(shards: Iterable[Mapping[str, Any] | Shard]) -> dict[str, Any]:
    items = [dataclasses.asdict(s) if isinstance(s, Shard) else dict(s) for s in shards]
    for item in items:
        missing = {"path", "documents", "tokens"} - set(item)
        if missing:
            raise ValueError(f"shard entry {item!r} lacks {sorted(missing)}")
    return {
        "documents": sum(int(s["documents"]) for s in items),
        "tokens": sum(int(s["tokens"]) for s in items),
        "shards": [{"path": str(s["path"]), "documents": int(s["documents"]), "tokens": int(s["tokens"])}
                   for s in items],
    }


def write_manifest(
    directory: str | os.PathLike | StoragePath,
    *,
    sha256: str,
    vocab_size: int,
    eot_id: int,
    dtype: str,
    splits: Mapping[str, Iterable[Mapping[str, Any] | Shard]],
    tokenizer_path: str | os.PathLike | None = None,
) -> StoragePath:
    """Write ``directory/manifest.json`` atomically (one upload on object storage); ``splits`` maps a split name to its shard entries.

    Split totals are summed from the shards so they cannot disagree. ``tokenizer_path`` (optional) is
    stored so a trainer can find the tokenizer without being told.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "uint16" and vocab_size > 1 << 16:
        raise ValueError(f"vocab_size {vocab_size} does not fit uint16")
    if not 0 <= eot_id < vocab_size:
        raise ValueError(f"eot_id {eot_id} outside the vocabulary of {vocab_size}")
    tokenizer: dict[str, Any] = {"sha256": sha256, "vocab_size": int(vocab_size), "eot_id": int(eot_id)}
    if tokenizer_path is not None:
        tokenizer["path"] = str(tokenizer_path)
    doc = {"format": FORMAT, "tokenizer": tokenizer, "dtype": dtype,
           "splits": {name: _split_dict(shards) for name, shards in splits.items()}}
    out = location(directory)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / MANIFEST_NAME, doc)
    return out / MANIFEST_NAME


def _parse_split(name: str, raw: Any, where: StoragePath) -> Split:
    if not isinstance(raw, dict) or not isinstance(raw.get("shards"), list):
        raise UserError(f"{where}: split {name!r} must be a mapping with a 'shards' list")
    try:
        shards = tuple(Shard(str(s["path"]), int(s["documents"]), int(s["tokens"])) for s in raw["shards"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: split {name!r} has a malformed shard entry ({exc})") from None
    return Split(sum(s.documents for s in shards), sum(s.tokens for s in shards), shards)


def read_manifest(directory: str | os.PathLike | StoragePath) -> Manifest:
    """Read and validate ``directory/manifest.json``; every problem is a ``UserError`` naming the file."""
    path = location(directory) / MANIFEST_NAME
    raw = read_json_file(path, f"not found (is {directory} a token folder written by `refinedweb tokenize`?)")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else raw
        raise UserError(f"{path}: format must be {FORMAT!r}, got {got!r}")
    tok = raw.get("tokenizer")
    if not isinstance(tok, dict) or not {"sha256", "vocab_size", "eot_id"} <= set(tok):
        raise UserError(f"{path}: 'tokenizer' must hold sha256, vocab_size and eot_id")
    if raw.get("dtype") not in DTYPES:
        raise UserError(f"{path}: dtype must be one of {DTYPES}, got {raw.get('dtype')!r}")
    splits = raw.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise UserError(f"{path}: 'splits' must be a non-empty mapping")
    return Manifest(
        sha256=str(tok["sha256"]),
        vocab_size=int(tok["vocab_size"]),
        eot_id=int(tok["eot_id"]),
        dtype=raw["dtype"],
        splits={name: _parse_split(name, s, path) for name, s in splits.items()},
        tokenizer_path=tok.get("path"),
        root=location(directory),
    )


def check_tokenizer(manifest: Manifest, tokenizer_path: str | os.PathLike | StoragePath) -> None:
    """Refuse a tokenizer whose ``tokenizer.json`` is not the one the shards were made with."""
    actual = tokenizer_sha256(tokenizer_path)
    if actual != manifest.sha256:
        raise UserError(
            f"tokenizer mismatch: {_tokenizer_json(tokenizer_path)} has sha256 {actual[:12]}…, but the shards in "
            f"{manifest.root} were tokenized with {manifest.sha256[:12]}… (pass the tokenizer that made them)"
        )


def resolve_tokenizer(manifest: Manifest, override: str | os.PathLike | None = None) -> StoragePath:
    """The tokenizer folder to use: ``override`` if given, else the manifest's recorded path (checked)."""
    if override is not None:
        path = location(override)
    elif manifest.tokenizer_path:
        path = location(manifest.tokenizer_path)
        if not path.is_absolute() and manifest.root is not None and not path.exists():
            path = manifest.root / path
    else:
        raise UserError(f"{manifest.root}: the manifest records no tokenizer path; pass --tokenizer DIR")
    folder = path.parent if path.is_file() else path
    check_tokenizer(manifest, folder)
    return folder
