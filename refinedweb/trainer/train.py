"""The training loop, top to bottom: open the data, build the model, restore, then step, log, validate, save.

Reads like nanoGPT's train.py, but as a class that tests can drive. One optimizer step is
``batch_size`` sequences: ``micro_batch_size`` per forward pass, accumulated over
batch_size / (micro_batch_size x world size) passes. Under ``torchrun`` the model is replicated
(DDP) or sharded (FSDP2); alone it runs on one GPU, or on the CPU in fp32.

Nothing in a step is random (no dropout), so a run resumed from a checkpoint retraces the losses
of an uninterrupted one exactly: the checkpoint holds the weights, the optimizer state and the
data position, and the learning rate is a function of the step.

The loop owns ``TrainConfig`` and composes the run config (``TrainRunConfig``) from the configs the
model, data and optimizer modules own, as ``pipeline.PipelineConfig`` composes the refinery's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from refinedweb.config import UserError, check, check_finite, from_dict, load_yaml, to_dict
from refinedweb.core.storage import location
from refinedweb.tokenize.manifest import Manifest, read_manifest, resolve_tokenizer, tokenizer_sha256
from refinedweb.trainer import checkpoint as ckpt
from refinedweb.trainer.data import DataConfig, DataExhausted, Mixture, PackedBatches, SourceConfig, shards_sha256
from refinedweb.trainer.metrics import MetricsLogger, flops_per_token, mfu, peak_flops
from refinedweb.trainer.model import Falcon, ModelConfig
from refinedweb.trainer.optim import OptimConfig, build_optimizer, lr_at, set_lr

PRECISIONS = ("auto", "fp32", "bf16")
STRATEGIES = ("ddp", "fsdp")

@dataclass(frozen=True)
class TrainConfig:
    """The loop: batch, steps, precision, logging, validation and checkpoints."""

    max_steps: int = 317_000
    """Optimizer steps (Falcon-7B: 1.5T tokens / (2304 x 2048) ~ 317k)."""
    batch_size: int = 2304
    """Sequences per optimizer step over all ranks (Falcon-7B card: 2304)."""
    micro_batch_size: int = 1
    """Sequences per forward pass per rank; accumulation = batch_size / (micro x world size)."""
    seed: int = 1234
    """Seeds the initialisation and the data order."""
    precision: str = "auto"
    """auto = bf16 autocast on GPU, fp32 on CPU; or fp32 / bf16."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    strategy: str = "ddp"
    """Under torchrun: ddp (replicate) or fsdp (shard parameters, gradients and optimizer state)."""
    num_threads: int | None = None
    """CPU threads for torch (null = torch's default)."""
    log_every: int = 1
    """Write a metrics line every this many steps."""
    eval_every: int = 1000
    """Validation every this many steps (and at the end); 0 disables."""
    eval_batches: int = 50
    """Micro-batches per validation, over all ranks (the first eval_batches x micro_batch_size sequences)."""
    checkpoint_every: int = 1000
    """Checkpoint every this many steps (and at the end); 0 = only at the end."""
    keep_checkpoints: int = 3
    """Keep the newest this many checkpoints."""
    peak_tflops: float | None = None
    """Peak dense bf16 TFLOP/s of one device for MFU; null = look the GPU up (H100, H200, A100)."""
    progress: bool = True
    """Show a progress bar on rank 0."""

    def __post_init__(self) -> None:
        check_finite(self)
        check(self.max_steps >= 1, "max_steps", "must be >= 1")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.micro_batch_size >= 1, "micro_batch_size", "must be >= 1")
        check(self.batch_size % self.micro_batch_size == 0, "batch_size", "must be a multiple of micro_batch_size")
        check(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        check(self.strategy in STRATEGIES, "strategy", f"must be one of {', '.join(STRATEGIES)}")
        check(self.num_threads is None or self.num_threads >= 1, "num_threads", "must be >= 1 or null")
        check(self.log_every >= 1, "log_every", "must be >= 1")
        check(self.eval_every >= 0, "eval_every", "must be >= 0")
        check(self.eval_batches >= 1, "eval_batches", "must be >= 1")
        check(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0")
        check(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")
        check(self.peak_tflops is None or self.peak_tflops > 0, "peak_tflops", "must be > 0 or null")


@dataclass(frozen=True)
class TrainRunConfig:
    """One training run: what ``configs/train/*.yaml`` holds."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """The network."""
    data: DataConfig = field(default_factory=DataConfig)
    """The token shards and packing."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and schedule."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The loop."""

    def __post_init__(self) -> None:
        check(self.data.seq_len <= self.model.max_seq_len, "data.seq_len",
              f"must be <= model.max_seq_len ({self.model.max_seq_len})")


def load_run_config(path: str | Path) -> TrainRunConfig:
    """Read a training YAML onto ``TrainRunConfig``; errors name the bad field."""
    return load_yaml(path, TrainRunConfig)


def run_config_from_dict(data: dict) -> TrainRunConfig:
    """Build a ``TrainRunConfig`` from a mapping (e.g. the copy saved in a run folder)."""
    return from_dict(TrainRunConfig, data)


def run_config_to_dict(cfg: TrainRunConfig) -> dict:
    """The plain-mapping form of a run config, for YAML and checkpoints."""
    return to_dict(cfg)


def read_run_config(run_dir: str | Path) -> TrainRunConfig:
    """The resolved config saved in a run folder."""
    return run_config_from_dict(ckpt.read_run_config_dict(location(run_dir)))


# A mixture's source as the trainer holds it: its config and its token folder's manifest.
Source = tuple[SourceConfig, Manifest]

# Config fields a resumed run must share with the run it continues (the rest may change).
RESUME_LOCKED = ("model", "optim", "data.seq_len", "data.shuffle", "data.train_split", "train.seed", "train.batch_size")


@dataclass(frozen=True)
class Env:
    """Where this process runs: its rank among ``world_size`` and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and logs."""
        return self.rank == 0


def init_env(cfg: TrainConfig) -> Env:
    """Join the torchrun process group if launched by torchrun; pick the device."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        device = torch.device("cpu")
    return Env(dist.get_rank() if world > 1 else 0, local_rank, world, device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPU under ``auto``, none (fp32) on CPU."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _config_diff(da: dict, db: dict, fields: tuple[str, ...]) -> list[str]:
    """Dotted names under ``fields`` where two run configs (as mappings) differ."""
    out = []
    for name in fields:
        section, _, key = name.partition(".")
        va, vb = da[section], db[section]
        if key:
            if va.get(key) != vb.get(key):
                out.append(name)
        else:
            out += [f"{section}.{k}" for k in va if va[k] != vb.get(k)]
    return out


def build_model(run: TrainRunConfig, env: Env, autocast: torch.dtype | None) -> tuple[torch.nn.Module, Falcon]:
    """(model to call, the Falcon inside it): plain, DDP-wrapped or FSDP2-sharded, optionally compiled."""
    fsdp = env.world_size > 1 and run.train.strategy == "fsdp"
    with torch.device("meta" if fsdp else env.device):
        raw = Falcon(run.model)
    if run.train.compile:
        for block in raw.blocks:
            block.compile()
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(param_dtype=autocast, reduce_dtype=torch.float32 if autocast else None)
        for block in raw.blocks:
            fully_shard(block, mp_policy=policy)
        fully_shard(raw, mp_policy=policy)
        raw.to_empty(device=env.device)
        raw.init_weights()
        return raw, raw
    if env.world_size > 1:
        ids = [env.local_rank] if env.device.type == "cuda" else None
        return DistributedDataParallel(raw, device_ids=ids), raw
    return raw, raw


class Trainer:
    """One training run in ``run_dir``; ``fit()`` trains to ``train.max_steps``."""

    def __init__(self, run: TrainRunConfig, run_dir: str | Path, *, data_dir: str | Path | None = None,
                 tokenizer: str | Path | None = None, resume: bool = False, init_from: str | Path | None = None):
        self.env = init_env(run.train)
        self.run_dir = location(run_dir)
        self.sources, tokenizer_dir = self._open_data(run, data_dir, tokenizer)
        self.manifest = next(iter(self.sources.values()))[1]  # all sources share its tokenizer
        self.eval_sources = self._open_eval_sources(run.data)
        model_cfg = run.model.with_vocab(self.manifest.vocab_size)
        self.run = dataclasses.replace(run, model=model_cfg, data=self._resolved_data(run.data, tokenizer_dir))
        self.accum = self._accumulation_steps()
        start = self._prepare_run_dir(resume, tokenizer_dir)
        torch.manual_seed(run.train.seed)
        self.autocast = autocast_dtype(run.train.precision, self.env.device)
        self.fsdp = self.env.world_size > 1 and run.train.strategy == "fsdp"
        self.model, self.raw = build_model(self.run, self.env, self.autocast)
        self.optimizer = build_optimizer(self.model, self.run.optim)
        self.train_batches = self._mixture()
        self.step, self.tokens_seen = 0, 0
        if start is not None:
            state = ckpt.load_checkpoint(start, self.model, self.optimizer)
            self.step, self.tokens_seen = int(state["step"]), int(state.get("tokens", 0))
            self.train_batches.load_state_dict(state["data"])
        elif init_from is not None:
            self._init_from_hf(location(init_from))
        self.tokens_per_step = run.train.batch_size * run.data.seq_len
        self.flops_per_token = flops_per_token(self.raw.num_params(), model_cfg.n_layer, model_cfg.d_model,
                                               run.data.seq_len)
        self.peak = peak_flops(self.env.device, run.train.peak_tflops)
        self.logger = MetricsLogger(self.run_dir, enabled=self.env.is_main, total_steps=run.train.max_steps,
                                    start_step=self.step, progress=run.train.progress)

    # --- setup -----------------------------------------------------------------------------------
    def _open_data(self, run: TrainRunConfig, data_dir, tokenizer) -> tuple[dict[str, Source], Path]:
        """{name: (source, manifest)} of the mixture, and the tokenizer folder every source was made with."""
        listed = run.data.source_list(str(data_dir) if data_dir is not None else None)
        if not listed:
            raise UserError("no token folder: pass --data DIR or set data.path or data.sources in the config")
        sources = {src.label: (src, read_manifest(src.path)) for src in listed}
        first = listed[0].label
        tokenizer_dir = resolve_tokenizer(sources[first][1], tokenizer or run.data.tokenizer)
        facts = lambda m: (m.sha256, m.vocab_size, m.eot_id)  # noqa: E731
        for name, (src, manifest) in sources.items():
            if facts(manifest) != facts(sources[first][1]):
                raise UserError(f"data.sources: {name} ({src.path}) was tokenized with another tokenizer than "
                                f"{first}; the sources of a mixture must share one")
        return sources, tokenizer_dir

    def _open_eval_sources(self, data: DataConfig) -> dict[str, Manifest]:
        """{name: manifest} of the validation-only token folders; same tokenizer as the training sources."""
        out = {}
        for src in data.eval_sources:
            manifest = read_manifest(src.path)
            if manifest.sha256 != self.manifest.sha256 or manifest.vocab_size != self.manifest.vocab_size:
                raise UserError(f"data.eval_sources: {src.label} ({src.path}) was tokenized with another tokenizer "
                                "than the training data")
            out[src.label] = manifest
        return out

    def _resolved_data(self, data: DataConfig, tokenizer_dir: Path) -> DataConfig:
        """The data config as run: the token folders found and the tokenizer, for config.yaml."""
        if len(self.sources) == 1 and not data.sources:
            root = next(iter(self.sources.values()))[1].root
            evals = tuple(dataclasses.replace(src, name=src.label) for src in data.eval_sources)
            return dataclasses.replace(data, path=str(root), eval_sources=evals, tokenizer=str(tokenizer_dir))
        srcs = tuple(dataclasses.replace(src, name=name) for name, (src, _) in self.sources.items())
        evals = tuple(dataclasses.replace(src, name=src.label) for src in data.eval_sources)
        return dataclasses.replace(data, path=None, sources=srcs, eval_sources=evals, tokenizer=str(tokenizer_dir))

    def _accumulation_steps(self) -> int:
        t, world = self.run.train, self.env.world_size
        per_pass = t.micro_batch_size * world
        if t.batch_size % per_pass:
            raise UserError(f"train.batch_size: {t.batch_size} is not a multiple of micro_batch_size x world size "
                            f"({t.micro_batch_size} x {world})")
        return t.batch_size // per_pass

    def _prepare_run_dir(self, resume: bool, tokenizer_dir: Path) -> Path | None:
        """Refuse to overwrite a run; check a resumed one; write config, run.json, tokenizer (rank 0)."""
        found = ckpt.list_checkpoints(self.run_dir)
        if found and not resume:
            raise UserError(f"{self.run_dir} already holds checkpoints (up to step {found[-1][0]}); "
                            "pass --resume to continue it or choose another --out")
        if found:
            diff = _config_diff(ckpt.read_run_config_dict(self.run_dir), run_config_to_dict(self.run), RESUME_LOCKED)
            if diff:
                raise UserError(f"--resume: the config differs from the saved run's in {', '.join(diff)}")
            self._check_resumed_data(ckpt.read_run_info(self.run_dir))
        if self.env.is_main:
            from tokenizers import Tokenizer

            eot = Tokenizer.from_str((location(tokenizer_dir) / "tokenizer.json").read_text()).id_to_token(self.manifest.eot_id)
            info = {"tokenizer": {"sha256": tokenizer_sha256(tokenizer_dir), "vocab_size": self.manifest.vocab_size,
                                  "eot_id": self.manifest.eot_id, "eot_token": eot},
                    "data": str(self.manifest.root), "sources": self._source_facts(),
                    "world_size": self.env.world_size}
            ckpt.write_run_files(self.run_dir, run_config_to_dict(self.run), info, tokenizer_dir)
        if dist.is_initialized():
            dist.barrier()
        return found[-1][1] if found else None

    def _source_facts(self) -> list[dict[str, Any]]:
        """name, folder, weight and shard-list hash of each source, for run.json."""
        return [{"name": name, "path": str(m.root), "weight": src.weight, "sha256": shards_sha256(m)}
                for name, (src, m) in self.sources.items()]

    def _check_resumed_data(self, saved: dict[str, Any]) -> None:
        """Refuse to apply a saved data position to other token shards (another tokenizer or other text)."""
        if saved["tokenizer"]["sha256"] != self.manifest.sha256:
            raise UserError(f"--resume: {self.manifest.root} was tokenized with another tokenizer than the run's")
        if "sources" not in saved:  # runs saved before the shard lists were recorded are not checked
            return
        want = {s["name"]: (s["weight"], s["sha256"]) for s in saved["sources"]}
        have = {s["name"]: (s["weight"], s["sha256"]) for s in self._source_facts()}
        if set(want) != set(have) or any(want[n][0] != have[n][0] for n in want):
            raise UserError(f"--resume: the mixture {have} is not the run's {want} (names and weights must match)")
        for name in want:
            if want[name][1] != have[name][1]:
                root = self.sources[name][1].root
                raise UserError(f"--resume: {root} holds other token shards than the run was trained on for source "
                                f"{name!r} (shard-list sha256 {have[name][1][:12]}… vs {want[name][1][:12]}…), so "
                                "the saved data position would not apply; pass the run's token folder, or start a "
                                "new run")

    def _batches(self, manifest: Manifest, split: str, *, shuffle: bool, loop: bool,
                 rank: int | None = None, world_size: int | None = None) -> PackedBatches:
        return PackedBatches(
            manifest.shard_paths(split), seq_len=self.run.data.seq_len,
            batch_size=self.run.train.micro_batch_size, seed=self.run.train.seed, shuffle=shuffle,
            rank=self.env.rank if rank is None else rank,
            world_size=self.env.world_size if world_size is None else world_size, loop=loop,
            shards=manifest.split(split).shards, vocab_size=self.run.model.vocab_size,
        )

    def _mixture(self) -> Mixture:
        """The training batches: every source's train split, mixed by weight (one source: its stream)."""
        d = self.run.data
        streams = {name: self._batches(m, d.train_split, shuffle=d.shuffle, loop=d.on_exhausted == "repeat",
                                       rank=0, world_size=1)  # the mixture hands sequences to the ranks
                   for name, (_, m) in self.sources.items()}
        return Mixture(streams, [src.weight for src, _ in self.sources.values()],
                       batch_size=self.run.train.micro_batch_size, seed=self.run.train.seed,
                       rank=self.env.rank, world_size=self.env.world_size)

    def _source_metrics(self) -> dict[str, float]:
        """Tokens of each source trained on so far, and how many passes over its train split that is."""
        out: dict[str, float] = {}
        for name, seqs in self.train_batches.seen().items():
            tokens = seqs * self.run.data.seq_len
            out[f"tokens_{name}"] = tokens
            out[f"epochs_{name}"] = tokens / max(1, self.sources[name][1].split(self.run.data.train_split).tokens)
        return out

    def _init_from_hf(self, hf_dir: Path) -> None:
        """Start from the weights of an HF Falcon folder of the same shape (continued pre-training)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        from refinedweb.trainer import hf

        theirs = hf.load_hf(hf_dir)
        diff = hf.same_shape(theirs.cfg, self.run.model)
        if diff:
            fields = ", ".join(f"model.{name}" for name in diff)
            raise UserError(f"--init-from {hf_dir}: the HF model's shape differs from the config in {fields}")
        set_model_state_dict(self.model, theirs.state_dict(), options=StateDictOptions(full_state_dict=True))

    # --- one step --------------------------------------------------------------------------------
    def _no_sync(self, last: bool):
        """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
        if isinstance(self.model, DistributedDataParallel) and not last:
            return self.model.no_sync()
        if self.fsdp:
            self.model.set_requires_gradient_sync(last)
        return contextlib.nullcontext()

    def _autocast(self):
        if self.autocast is None or self.fsdp:  # FSDP casts through its mixed-precision policy
            return contextlib.nullcontext()
        return torch.autocast(self.env.device.type, dtype=self.autocast)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.env.device.type == "cuda":
            return t.pin_memory().to(self.env.device, non_blocking=True)
        return t

    def train_step(self) -> dict[str, Any]:
        """One optimizer step over ``batch_size`` sequences; returns its metrics dict."""
        t0 = time.perf_counter()
        lr = lr_at(self.step, self.run.optim, self.run.train.max_steps)
        set_lr(self.optimizer, lr)
        sums = torch.zeros(2, device=self.env.device)  # cross-entropy, z-loss
        for i in range(self.accum):
            inputs, targets = next(self.train_batches)
            with self._no_sync(i == self.accum - 1), self._autocast():
                out = self.model(self._to_device(inputs), self._to_device(targets), self.run.optim.z_loss)
                (out.loss / self.accum).backward()
            sums += torch.stack((out.ce, out.z)).detach()
        clip = self.run.optim.grad_clip or float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += self.tokens_per_step
        if dist.is_initialized():
            dist.all_reduce(sums)
            sums /= self.env.world_size
        grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
        ce, z = (sums / self.accum).tolist()  # .tolist() waits for the device: the timing below is honest
        seconds = time.perf_counter() - t0
        tokens_per_s = self.tokens_per_step / seconds
        return {"step": self.step, "loss": ce, "z_loss": self.run.optim.z_loss * z, "lr": lr,
                "grad_norm": float(grad_norm),
                "tokens_per_s": tokens_per_s, "tokens": self.tokens_seen, "step_seconds": seconds,
                "mfu": mfu(tokens_per_s / self.env.world_size, self.flops_per_token, self.peak),
                **self._source_metrics()}

    # --- validation ------------------------------------------------------------------------------
    def _eval_batch_count(self, manifest: Manifest) -> int:
        """Validation micro-batches per rank: ``eval_batches`` shared out, equal on every rank.

        Equal because FSDP forwards are collective; shared out so that the validation set (the first
        eval_batches x micro_batch_size sequences of the split) does not depend on the world size.
        """
        if self.run.data.val_split not in manifest.splits:
            return 0
        t, world = self.run.train, self.env.world_size
        sequences = max(0, manifest.split(self.run.data.val_split).tokens - 1) // self.run.data.seq_len
        return min(max(1, t.eval_batches // world), sequences // (t.micro_batch_size * world))

    def _eval_sums(self, manifest: Manifest) -> torch.Tensor | None:
        """(summed cross-entropy, tokens) over the first validation sequences of one source, all ranks."""
        n = self._eval_batch_count(manifest)
        if n == 0:
            return None
        batches = self._batches(manifest, self.run.data.val_split, shuffle=False, loop=False)
        sums = torch.zeros(2, device=self.env.device, dtype=torch.float64)  # summed CE, tokens
        try:
            for _ in range(n):
                inputs, targets = next(batches)
                with self._autocast():
                    out = self.model(self._to_device(inputs), self._to_device(targets), 0.0)
                n_tokens = float(targets.numel())
                sums += torch.stack((out.ce.double() * n_tokens, torch.tensor(n_tokens, device=sums.device)))
        finally:
            batches.close()
        if dist.is_initialized():
            dist.all_reduce(sums)
        return sums

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean cross-entropy and perplexity on the first validation sequences (fixed, unshuffled).

        ``val_loss`` pools the training sources' validation tokens; with several sources, or with
        ``data.eval_sources``, each source is also reported as ``val_loss_<name>`` / ``val_ppl_<name>``.
        """
        per: dict[str, torch.Tensor] = {}
        self.model.eval()
        try:
            for name, manifest in {**{n: m for n, (_, m) in self.sources.items()}, **self.eval_sources}.items():
                sums = self._eval_sums(manifest)
                if sums is not None:
                    per[name] = sums
        finally:
            self.model.train()
        pooled = [per[n] for n in self.sources if n in per]
        out: dict[str, float] = {}
        if pooled:
            total = torch.stack(pooled).sum(0)
            out["val_loss"] = (total[0] / total[1]).item()
        if len(self.sources) > 1 or self.eval_sources:
            out.update({f"val_loss_{name}": (t[0] / t[1]).item() for name, t in per.items()})
        for key in [k for k in out if k.startswith("val_loss")]:
            out[key.replace("val_loss", "val_ppl", 1)] = math.exp(min(out[key], 700.0))
        return out

    # --- the loop --------------------------------------------------------------------------------
    def save(self) -> Path:
        """Checkpoint the current step (collective)."""
        state = {"data": self.train_batches.state_dict(), "tokens": self.tokens_seen}
        path = ckpt.save_checkpoint(self.run_dir, self.step, self.model, self.optimizer, state,
                                    self.run.train.keep_checkpoints)
        self.logger.sync()  # a run folder on object storage gets its logs with each checkpoint
        return path

    def _validate(self, due: bool) -> dict[str, float]:
        """Run and log validation when ``due``; its metrics (empty when not due or nothing to validate)."""
        val = self.evaluate() if due else {}
        if val:
            self.logger.log({"step": self.step, **val})
        return val

    def _due(self, every: int) -> bool:
        return self.step == self.run.train.max_steps or (every > 0 and self.step % every == 0)

    def fit(self, on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Train from the current step to ``train.max_steps``; returns the last metrics."""
        t, last = self.run.train, {}
        if self.step >= t.max_steps:
            self.logger.write(f"{self.run_dir}: already at step {self.step} of {t.max_steps}; nothing to do")
        try:
            while self.step < t.max_steps:
                try:
                    last = self.train_step()
                except DataExhausted as exc:  # data.on_exhausted: stop
                    self.optimizer.zero_grad(set_to_none=True)
                    self.logger.write(f"source {exc.source!r} has no training sequences left at step {self.step} "
                                      "(data.on_exhausted: stop); stopping the run")
                    last.update(self._validate(t.eval_every > 0) if self.step else {})
                    if self.step:
                        self.save()
                    break
                if self.step % t.log_every == 0 or self.step == t.max_steps:
                    self.logger.log(last)
                last.update(self._validate(t.eval_every > 0 and self._due(t.eval_every)))
                if self._due(t.checkpoint_every):
                    self.save()
                if on_step is not None:
                    on_step(last)
        finally:
            self.logger.close()
            self.train_batches.close()
        return last


def train(config: str | Path | TrainRunConfig, out: str | Path, *, data: str | Path | None = None,
          tokenizer: str | Path | None = None, max_steps: int | None = None, resume: bool = False,
          init_from: str | Path | None = None) -> dict[str, Any]:
    """Train from a YAML path (or a config) into ``out``; the ``refinedweb train`` command."""
    run = load_run_config(config) if not isinstance(config, TrainRunConfig) else config
    if max_steps is not None:
        if max_steps < 1:
            raise UserError(f"--max-steps: must be >= 1, got {max_steps}")
        run = dataclasses.replace(run, train=dataclasses.replace(run.train, max_steps=max_steps))
    trainer = Trainer(run, out, data_dir=data, tokenizer=tokenizer, resume=resume, init_from=init_from)
    return trainer.fit()
