"""Token shards to training batches: deterministic shuffle, packing, rank sharding, an exact resume point.

The documents of a split form one endless token stream: epoch by epoch, the shards in an order
drawn from (seed, epoch) and, inside each shard, the documents in an order drawn from (seed, epoch,
shard). Every document already ends with the end-of-text token, so concatenating them packs them
with EOT between (GPT-3 App. B style packing, no padding, attention not reset at boundaries).
Sequence ``g`` is the ``seq_len + 1`` tokens starting ``g x seq_len`` tokens into the stream
(inputs and targets overlap by one token) and goes to rank ``g mod world_size``.

The position is (shard ordinal counted across epochs, token offset inside that shard's shuffled
stream, sequences handed out); saved with a checkpoint it resumes the stream exactly, with no
replay, and stays valid under a different world size.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from refinedweb.config import UserError, check
from refinedweb.core.io import read_table
from refinedweb.core.storage import StoragePath
from refinedweb.tokenize.manifest import Manifest, Shard

INPUT_IDS = "input_ids"


SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ON_EXHAUSTED = ("repeat", "stop")
SINGLE_SOURCE = "data"  # the name of the one source of ``data.path`` / ``--data``


@dataclass(frozen=True)
class SourceConfig:
    """One token folder of a mixture and its share of the training sequences."""

    path: str
    """Token folder with manifest.json; every source must come from the same tokenizer (hash checked)."""
    weight: float = 1.0
    """Relative share of sequences drawn from this source (normalised over the sources)."""
    name: str | None = None
    """Name in metrics and checkpoints (letters, digits, ``_.-``); null = the folder's name."""

    def __post_init__(self) -> None:
        check(math.isfinite(self.weight) and self.weight > 0, "weight", "must be a finite number > 0")
        check(self.name is None or bool(SOURCE_NAME.match(self.name)), "name",
              "must be letters, digits, '_', '.' or '-', starting with a letter or digit")

    @property
    def label(self) -> str:
        """The name, or the folder's name sanitised."""
        return self.name or (re.sub(r"[^A-Za-z0-9_.-]", "_", Path(self.path).name.lstrip("._-")) or SINGLE_SOURCE)


@dataclass(frozen=True)
class DataConfig:
    """Where the token shards are and how they are packed into training sequences."""

    path: str | None = None
    """Token folder with manifest.json (``--data`` overrides); a one-source mixture named ``data``."""
    sources: tuple[SourceConfig, ...] = ()
    """Several token folders mixed by weight, instead of ``path`` (Falcon's web + curated mixtures)."""
    on_exhausted: str = "repeat"
    """When a source's train split runs out: ``repeat`` it (its epochs are logged) or ``stop`` the run."""
    eval_sources: tuple[SourceConfig, ...] = ()
    """Token folders only validated on (their ``val_split``), each reported as ``val_loss_<name>``."""
    tokenizer: str | None = None
    """Folder with the tokenizer.json the shards were made with; null = the manifest's recorded path."""
    seq_len: int = 2048
    """Tokens per training sequence (Falcon: 2048, model cards)."""
    shuffle: bool = True
    """Shuffle shard order and documents within a shard, per epoch, from ``train.seed``."""
    train_split: str = "train"
    """Manifest split to train on."""
    val_split: str = "val"
    """Manifest split for validation loss; skipped when the manifest lacks it."""

    def __post_init__(self) -> None:
        check(self.seq_len >= 2, "seq_len", "must be >= 2")
        check(self.on_exhausted in ON_EXHAUSTED, "on_exhausted", f"must be one of {', '.join(ON_EXHAUSTED)}")
        check(not (self.path and self.sources), "sources", "give data.path or data.sources, not both")
        labels = [s.label for s in self.sources]
        check(len(set(labels)) == len(labels), "sources", f"names must be unique, got {labels}")
        evals = [s.label for s in self.eval_sources]
        check(len(set(evals)) == len(evals) and not set(evals) & set(labels) and SINGLE_SOURCE not in evals,
              "eval_sources", f"names must be unique and differ from the training sources', got {evals}")

    def source_list(self, override: str | None = None) -> tuple[SourceConfig, ...]:
        """The mixture to train on: ``override`` (``--data``) or ``path`` as one source, else ``sources``."""
        if override is not None or self.path is not None:
            return (SourceConfig(path=str(override or self.path), name=SINGLE_SOURCE),)
        return self.sources


def shards_sha256(manifest: Manifest) -> str:
    """SHA-256 of a token folder's shard list (split, path, documents, tokens) and its tokenizer hash.

    What a saved data position refers to: another folder with the same list is the same stream, so
    a moved folder still resumes; a folder tokenized from other text (same tokenizer) does not.
    """
    listing = {"tokenizer": manifest.sha256,
               "splits": {name: [[s.path, s.documents, s.tokens] for s in split.shards]
                          for name, split in sorted(manifest.splits.items())}}
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


@dataclass
class StreamState:
    """Where the next sequence starts: shard ordinal (across epochs), token offset, sequences so far."""

    shard: int = 0
    offset: int = 0
    sequences: int = 0


def read_shard(path: StoragePath, expected: Shard | None = None,
               vocab_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, offsets) of one Parquet shard: all documents' ids flat, and where each document starts.

    Checks the shard against its manifest entry and the vocabulary: a mismatch means the token
    folder and the manifest (or the model) disagree, a ``UserError``.
    """
    if not path.is_file():
        raise UserError(f"{path}: token shard listed in manifest.json not found")
    column = read_table(path, columns=[INPUT_IDS]).column(INPUT_IDS).combine_chunks()
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        raise UserError(f"{path}: column {INPUT_IDS} must be a list of integers, got {column.type}")
    tokens = column.flatten().to_numpy(zero_copy_only=False)
    lengths = column.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if expected is not None and (len(lengths) != expected.documents or len(tokens) != expected.tokens):
        raise UserError(f"{path}: has {len(lengths)} documents / {len(tokens)} tokens, manifest.json says "
                        f"{expected.documents} / {expected.tokens} (manifest mismatch)")
    if vocab_size is not None and len(tokens) and int(tokens.max()) >= vocab_size:
        raise UserError(f"{path}: token id {int(tokens.max())} outside the vocabulary of {vocab_size} "
                        "(manifest mismatch)")
    return tokens, offsets


def shuffled_stream(tokens: np.ndarray, offsets: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """The shard's documents concatenated in a permuted order (identity without ``rng``), as one array."""
    if rng is None:
        return tokens
    lengths = np.diff(offsets)
    order = rng.permutation(len(lengths))
    new_lengths = lengths[order]
    new_starts = np.zeros(len(order), dtype=np.int64)
    np.cumsum(new_lengths[:-1], out=new_starts[1:])
    # token i of the output comes from old_start[doc] + (i - new_start[doc]) of its document
    index = np.arange(int(new_lengths.sum()), dtype=np.int64) + np.repeat(offsets[:-1][order] - new_starts, new_lengths)
    return tokens[index]


class SequenceBatches:
    """Batches of (inputs, targets) from ``next_sequence()``: each rank takes every world_size-th sequence."""

    batch_size: int
    rank: int
    world_size: int

    def next_sequence(self) -> np.ndarray | None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for _ in range(self.batch_size):  # one round = one sequence per rank, so all ranks stay in step
            for owner in range(self.world_size):
                seq = self.next_sequence()
                if seq is None:
                    break
                if owner == self.rank:
                    rows.append(seq.astype(np.int64))
        if not rows:
            raise StopIteration
        batch = torch.from_numpy(np.stack(rows))  # (B, T + 1)
        return batch[:, :-1], batch[:, 1:]  # inputs, targets: (B, T) each


class PackedBatches(SequenceBatches):
    """Endless (or, with ``loop=False``, one-pass) iterator of (inputs, targets) int64 batches (B, T)."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        loop: bool = True,
        shards: Sequence[Shard] | None = None,
        vocab_size: int | None = None,
    ) -> None:
        if not paths:
            raise UserError("the split has no shards")
        total = sum(s.tokens for s in shards) if shards is not None else None
        if total is not None and total < seq_len + 1:
            raise UserError(f"the split holds {total} tokens, fewer than one sequence of {seq_len + 1}")
        self.paths, self.shards = list(paths), list(shards) if shards is not None else None
        self.seq_len, self.batch_size, self.seed, self.shuffle = seq_len, batch_size, seed, shuffle
        self.rank, self.world_size, self.loop, self.vocab_size = rank, world_size, loop, vocab_size
        self.state = StreamState()
        self._cache: dict[int, np.ndarray] = {}
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-prefetch")

    # --- position --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The resume point: a plain dict for the checkpoint."""
        return asdict(self.state)

    def load_state_dict(self, state: dict) -> None:
        """Continue from a ``state_dict`` (possibly saved under another world size)."""
        self.state = StreamState(**state)
        self._cache.clear()

    # --- shards ----------------------------------------------------------------------------------
    def _locate(self, ordinal: int) -> tuple[int, int] | None:
        """(epoch, shard index) of the ordinal-th shard of the stream; None past the end of a one-pass read."""
        n = len(self.paths)
        epoch, k = divmod(ordinal, n)
        if epoch > 0 and not self.loop:
            return None
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        return epoch, int(order[k])

    def _load(self, ordinal: int) -> np.ndarray | None:
        where = self._locate(ordinal)
        if where is None:
            return None
        epoch, index = where
        expected = self.shards[index] if self.shards is not None else None
        tokens, offsets = read_shard(self.paths[index], expected, self.vocab_size)
        rng = np.random.default_rng([self.seed, epoch, index]) if self.shuffle else None
        return shuffled_stream(tokens, offsets, rng)

    def _shard(self, ordinal: int) -> np.ndarray | None:
        """The shuffled stream of a shard (cached; the next one is read ahead in a thread)."""
        if ordinal not in self._cache:
            future = self._pending.pop(ordinal, None)
            self._cache[ordinal] = future.result() if future is not None else self._load(ordinal)
        nxt = ordinal + 1
        if nxt not in self._cache and nxt not in self._pending:
            self._pending[nxt] = self._pool.submit(self._load, nxt)
        return self._cache[ordinal]

    # --- sequences -------------------------------------------------------------------------------
    def next_sequence(self) -> np.ndarray | None:
        """seq_len + 1 tokens from the current position, which moves on by seq_len; None at the end."""
        need, parts = self.seq_len + 1, []
        ordinal, offset = self.state.shard, self.state.offset
        while need > 0:
            stream = self._shard(ordinal)
            if stream is None:
                return None
            piece = stream[offset : offset + need]
            parts.append(piece)
            need -= len(piece)
            ordinal, offset = (ordinal + 1, 0) if need > 0 else (ordinal, offset)
        advance, ordinal, offset = self.seq_len, self.state.shard, self.state.offset
        while offset + advance >= len(self._shard(ordinal)):
            advance -= len(self._shard(ordinal)) - offset
            ordinal, offset = ordinal + 1, 0
        self.state = StreamState(ordinal, offset + advance, self.state.sequences + 1)
        for stale in [k for k in self._cache if k < ordinal]:
            del self._cache[stale]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def close(self) -> None:
        """Stop the read-ahead thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class DataExhausted(StopIteration):
    """A source of a ``stop`` mixture ran out of training sequences."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


class Mixture(SequenceBatches):
    """Training batches drawn from several sources by weight; deterministic by seed, resumable exactly.

    Sequence ``g`` of the run (counted over all ranks) comes from the source that a generator seeded
    with (seed, g // BLOCK) draws at ``g mod BLOCK``: a pure function of the seed and the position,
    so the position (``g`` and each source's ``StreamState``) is all a checkpoint needs. Each source
    is one stream as ``PackedBatches`` reads it; sequence ``g`` goes to rank ``g mod world_size``.
    """

    BLOCK = 4096

    def __init__(self, sources: dict[str, PackedBatches], weights: Sequence[float], *, batch_size: int,
                 seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.sources, self.names = sources, list(sources)
        w = np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.sequences = 0
        self._block: tuple[int, np.ndarray] | None = None

    def choice(self, g: int) -> int:
        """Index of the source of sequence ``g``."""
        if len(self.names) == 1:
            return 0
        block = g // self.BLOCK
        if self._block is None or self._block[0] != block:
            rng = np.random.default_rng([self.seed, 0x6D6978, block])  # 0x6D6978: "mix", apart from data seeds
            self._block = (block, rng.choice(len(self.names), size=self.BLOCK, p=self.p))
        return int(self._block[1][g % self.BLOCK])

    def next_sequence(self) -> np.ndarray:
        """The next sequence of the mixture; ``DataExhausted`` when its source (read once) has run out."""
        name = self.names[self.choice(self.sequences)]
        seq = self.sources[name].next_sequence()
        if seq is None:
            raise DataExhausted(name)
        self.sequences += 1
        return seq

    def seen(self) -> dict[str, int]:
        """Training sequences drawn so far from each source (all ranks)."""
        return {name: src.state.sequences for name, src in self.sources.items()}

    def state_dict(self) -> dict:
        """The resume point: sequences drawn and each source's stream position."""
        return {"sequences": self.sequences, "sources": {n: s.state_dict() for n, s in self.sources.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a ``state_dict``; a single stream's position (runs before mixtures) fits one source."""
        if "sources" not in state:
            if len(self.names) != 1:
                raise UserError("the checkpoint holds the position of one token folder, the config a mixture")
            state = {"sequences": state["sequences"], "sources": {self.names[0]: state}}
        if set(state["sources"]) != set(self.names):
            raise UserError(f"the checkpoint's sources {sorted(state['sources'])} are not the config's {self.names}")
        self.sequences = int(state["sequences"])
        for name, pos in state["sources"].items():
            self.sources[name].load_state_dict(pos)

    def close(self) -> None:
        """Stop every source's read-ahead thread."""
        for src in self.sources.values():
            src.close()
