"""Refined Parquet to token shards on Ray: ``refinedweb tokenize``.

The unit of work (and of resume) is a slice of ``docs_per_shard`` rows of one input file, fixed by
the inputs and the config alone, so the output is byte-for-byte the same whatever the number of
workers. A Ray task tokenizes one unit single-threaded (one task = one core), appends the
end-of-text token to every document, sends each document to ``train`` or ``val`` by a hash of its
id, writes ``train/NAME.parquet`` and ``val/NAME.parquet`` under temporary names, renames them, and
writes ``state/NAME.json`` last: its presence marks the unit done, so re-running skips it. When all
units are done the driver writes ``manifest.json`` (refinedweb-tokens/1, see ``manifest.py``) from
the state files, with the SHA-256 of the tokenizer, which is copied to ``OUTPUT/tokenizer/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from refinedweb import schema
from refinedweb.config import UserError, check
from refinedweb.core import console
from refinedweb.core.cluster import check_shared, init_ray
from refinedweb.core.io import parquet_file, read_rows, write_json_atomic
from refinedweb.core.output import OutputConfig, write_parquet_atomic
from refinedweb.core.storage import StoragePath, location, stat_key
from refinedweb.tokenize import manifest as mf
from refinedweb.tokenize.bpe import EOT, copy_tokenizer, load_tokenizer
from refinedweb.tokenize.corpus import corpus_files

TRAIN, VAL = "train", "val"
STATE_DIR, TOKENIZER_DIR = "state", "tokenizer"


@dataclass(frozen=True)
class TokenizeConfig:
    """How refined text becomes token shards (``refinedweb tokenize``)."""

    val_fraction: float = 0.005
    """Share of documents held out for validation, chosen by a hash of the document id (the paper
    gives none; 0.5% of a web-scale corpus is far more than a validation loss needs)."""
    split_seed: int = 0
    """Salt of the id hash: another seed draws another validation set."""
    eot_token: str = EOT
    """Appended to every document (Falcon: ``<|endoftext|>``); must be in the tokenizer's vocabulary."""
    docs_per_shard: int = 20_000
    """Documents per unit of work and output shard; the trainer reads a whole shard into memory at once."""
    batch_docs: int = 1024
    """Documents per ``encode_batch`` call inside a task."""
    workers: int | None = None
    """Tasks in flight at once, one core each; null = every CPU of the machine or cluster."""

    def __post_init__(self) -> None:
        check(0 <= self.val_fraction < 1, "val_fraction", "must be in [0, 1)")
        check(self.docs_per_shard >= 1, "docs_per_shard", "must be >= 1")
        check(self.batch_docs >= 1, "batch_docs", "must be >= 1")
        check(self.workers is None or self.workers >= 1, "workers", "must be >= 1 or null")


@dataclass(frozen=True)
class Unit:
    """Rows ``[start, stop)`` of one input file: one Ray task, one output shard per split."""

    source: str
    start: int
    stop: int
    name: str


def plan_units(files: Sequence[StoragePath], docs_per_shard: int) -> list[Unit]:
    """The units of ``files`` in order; shard names are the input's stem and the slice number."""
    stems: dict[str, StoragePath] = {}
    units = []
    for path in files:
        if path.stem in stems:
            raise UserError(f"{path}: same file name as {stems[path.stem]}; output shards would collide")
        stems[path.stem] = path
        rows = parquet_file(path).metadata.num_rows
        for k, start in enumerate(range(0, rows, docs_per_shard)):
            units.append(Unit(str(path), start, min(rows, start + docs_per_shard), f"{path.stem}-{k:05d}"))
    return units


def is_validation(doc_ids: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask: the documents whose id hashes (BLAKE2b, salted by ``seed``) below ``fraction``."""
    if fraction <= 0:
        return np.zeros(len(doc_ids), dtype=bool)
    salt, limit = f"{seed}\x00".encode(), int(fraction * 2**64)
    return np.fromiter((int.from_bytes(hashlib.blake2b(salt + d.encode(), digest_size=8).digest(), "big") < limit
                        for d in doc_ids), dtype=bool, count=len(doc_ids))


_TOKENIZERS: dict[str, Any] = {}


def _tokenizer(sha256: str, tokenizer_json: str):
    """The tokenizer, parsed once per worker process."""
    if sha256 not in _TOKENIZERS:
        from tokenizers import Tokenizer

        _TOKENIZERS[sha256] = Tokenizer.from_str(tokenizer_json)
    return _TOKENIZERS[sha256]


def encode(tok, texts: list[str], eot_id: int, dtype: str, batch_docs: int) -> pa.Array:
    """The documents' token ids, EOT appended to each, as one Arrow list array (single-threaded)."""
    lengths = np.zeros(len(texts), dtype=np.int64)
    parts = []
    for i in range(0, len(texts), batch_docs):
        ids = [e.ids for e in tok.encode_batch_fast(texts[i : i + batch_docs], add_special_tokens=False)]
        lengths[i : i + len(ids)] = [len(x) + 1 for x in ids]
        with_eot = chain.from_iterable(chain.from_iterable(zip(ids, repeat([eot_id]))))
        parts.append(np.fromiter(with_eot, dtype=dtype, count=int(lengths[i : i + len(ids)].sum())))
    values = pa.array(np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values)


def tokenize_unit(unit: Unit, tokenizer_json: str, settings: dict[str, Any], config: TokenizeConfig, out: str) -> dict:
    """Ray task: tokenize one unit, write its shards and then its state file; returns the state."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one task = one core; Ray runs one task per CPU
    start, cpu = time.perf_counter(), time.process_time()
    table = read_rows(unit.source, unit.start, unit.stop, (schema.ID, schema.TEXT))
    doc_ids, texts = table.column(schema.ID).to_pylist(), table.column(schema.TEXT).to_pylist()
    for i, (d, t) in enumerate(zip(doc_ids, texts)):
        if d is None or t is None:
            return {"error": f"{unit.source}: row {unit.start + i} has a null {schema.ID if d is None else schema.TEXT}"}
    tok = _tokenizer(settings["sha256"], tokenizer_json)
    input_ids = encode(tok, texts, settings["eot_id"], settings["dtype"], config.batch_docs)
    tokens = table.select([schema.ID]).append_column(schema.INPUT_IDS, input_ids)
    val = is_validation(doc_ids, config.val_fraction, config.split_seed)
    state: dict[str, Any] = {"source": unit.source, "source_bytes": stat_key(unit.source)[0],
                             "rows": [unit.start, unit.stop], "settings": settings}
    root = location(out)
    for split, keep in ((TRAIN, ~val), (VAL, val)):
        shard = tokens.filter(pa.array(keep))
        rel = f"{split}/{unit.name}.parquet"
        if len(shard):
            write_parquet_atomic(shard, root / rel, OutputConfig())
        n_tokens = int(pc.sum(pc.list_value_length(shard.column(schema.INPUT_IDS))).as_py() or 0)
        state[split] = {"path": rel, "documents": len(shard), "tokens": n_tokens}
    state["seconds"], state["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
    write_json_atomic(root / STATE_DIR / f"{unit.name}.json", state)
    return state


def _prepare(tokenizer: str | StoragePath, output: StoragePath, config: TokenizeConfig) -> tuple[StoragePath, dict[str, Any], str]:
    """Check the tokenizer and copy it to OUTPUT/tokenizer/; (its folder, the settings units record, its JSON)."""
    tok = load_tokenizer(tokenizer)
    eot_id = tok.token_to_id(config.eot_token)
    if eot_id is None:
        raise UserError(f"{tokenizer}: the tokenizer has no end-of-text token {config.eot_token!r}")
    vocab = tok.get_vocab_size(with_added_tokens=True)
    sha = mf.tokenizer_sha256(tokenizer)
    settings = {"sha256": sha, "vocab_size": vocab, "eot_id": eot_id, "dtype": "uint16" if vocab <= 1 << 16 else "uint32",
                "val_fraction": config.val_fraction, "split_seed": config.split_seed,
                "docs_per_shard": config.docs_per_shard}
    for state_file in sorted((output / STATE_DIR).glob("*.json")):
        theirs = json.loads(state_file.read_text(encoding="utf-8")).get("settings", {})
        diff = sorted(k for k in settings if theirs.get(k) != settings[k])
        if diff:
            raise UserError(f"{output}: holds shards made with another {', '.join(diff)} ({state_file.name}); "
                            "choose another --output")
    tok_dir = copy_tokenizer(tokenizer, output / TOKENIZER_DIR, config.eot_token)
    return tok_dir, settings, (tok_dir / mf.TOKENIZER_FILE).read_text(encoding="utf-8")


def _run_units(todo: list[Unit], tokenizer_json: str, settings: dict, config: TokenizeConfig, output: StoragePath,
               workers: int) -> None:
    """Run the units as Ray tasks, at most ``workers`` at a time; input errors become a ``UserError``."""
    import ray

    task = ray.remote(num_cpus=1, max_retries=0)(tokenize_unit)
    json_ref = ray.put(tokenizer_json)
    pending, queue = [], list(todo)
    with console.current().phase("tokenize", len(todo), unit="docs", of="shards") as phase:
        while queue or pending:
            while queue and len(pending) < workers:
                pending.append(task.remote(queue.pop(0), json_ref, settings, config, str(output)))
            ready, pending = ray.wait(pending, num_returns=1)
            state = ray.get(ready[0])
            if "error" in state:
                for ref in pending:
                    ray.cancel(ref)
                raise UserError(state["error"])
            docs = state[TRAIN]["documents"] + state[VAL]["documents"]
            phase.add(items=docs, kept=docs)
            phase.file_done(f"{state['source'].rsplit('/', 1)[-1]} rows {state['rows'][0]}-{state['rows'][1]}: "
                            f"{state[TRAIN]['tokens'] + state[VAL]['tokens']} tokens")


def _done(unit: Unit, output: StoragePath) -> bool:
    """Whether the unit's state file exists; one made from a file of another size is a ``UserError``."""
    path = output / STATE_DIR / f"{unit.name}.json"
    if not path.is_file():
        return False
    recorded = json.loads(path.read_text(encoding="utf-8")).get("source_bytes")
    if recorded != stat_key(unit.source)[0]:
        raise UserError(f"{unit.source}: changed since it was tokenized into {output} ({path.name}); "
                        "choose another --output")
    return True


def tokenize(inputs: str | Sequence[str], tokenizer: str | StoragePath, output: str | StoragePath,
             config: TokenizeConfig = TokenizeConfig(), address: str | None = None) -> dict[str, Any]:
    """Tokenize ``inputs`` into ``output`` (units already done are skipped); returns a summary."""

    start = time.perf_counter()
    out = location(output)
    files = corpus_files(inputs)
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    for split in (TRAIN, VAL):
        (out / split).mkdir(exist_ok=True)
    tok_dir, settings, tokenizer_json = _prepare(tokenizer, out, config)
    units = plan_units(files, config.docs_per_shard)
    todo = [u for u in units if not _done(u, out)]
    if len(todo) < len(units):
        console.current().info(f"resuming: {len(units) - len(todo)} of {len(units)} shards already done in {out}")
    workers = config.workers or os.cpu_count() or 1
    if todo:
        init_ray(workers, address)
        check_shared([str(out), todo[0].source], console.current().info)
        _run_units(todo, tokenizer_json, settings, config, out, workers)
    states = [json.loads((out / STATE_DIR / f"{u.name}.json").read_text(encoding="utf-8")) for u in units]
    splits = {split: [s[split] for s in states if s[split]["documents"]] for split in (TRAIN, VAL)}
    mf.write_manifest(out, sha256=settings["sha256"], vocab_size=settings["vocab_size"], eot_id=settings["eot_id"],
                      dtype=settings["dtype"], splits=splits, tokenizer_path=str(tok_dir.resolve()))
    manifest = mf.read_manifest(out)
    return {"files": len(files), "shards": len(units), "skipped": len(units) - len(todo),
            "documents": {k: v.documents for k, v in manifest.splits.items()},
            "tokens": {k: v.tokens for k, v in manifest.splits.items()},
            "vocab_size": settings["vocab_size"], "dtype": settings["dtype"],
            "seconds": time.perf_counter() - start, "workers": workers}
