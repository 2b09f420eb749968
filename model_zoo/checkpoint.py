"""Checkpoints that are Hugging Face folders: `checkpoints/step_XXXXXXX/` holds config.json, model.safetensors and
the tokenizer (so the harness can evaluate it as is), plus the trainer's own state: `trainer_state.pt` (step,
stage, data position, FLOPs, config, rank count), `optimizer/` (torch.distributed.checkpoint: each rank writes its
shard; any rank count reads it back) and `rng/` (one file per rank), and `checkpoint.json` (an index used for
pruning). Written under a hidden name and renamed, so a crash never leaves a half checkpoint; the last `keep_last`
periodic ones and every stage end are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

from primbench.atomic import atomic_path
from primbench.model_zoo import distributed
from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.errors import ConfigError

STATE_FILE = "trainer_state.pt"
INDEX_FILE = "checkpoint.json"
OPTIMIZER_DIR = "optimizer"  # torch.distributed.checkpoint folder: a shard file per rank and .metadata
RNG_DIR = "rng"  # rank_00000.pt ... one RNG state per rank
# keys a resumed run may change: they affect logging, speed or placement, not the optimisation itself
RESUMABLE_CHANGES = {
    f"run.{key}"
    for key in (
        "log_every",
        "eval_every",
        "eval_batches",
        "checkpoint_every",
        "keep_last",
        "device",
        "compile",
        "parallel",
        "num_threads",
        "peak_flops",
        "micro_batch_size",
        "param_dtype",
        "timeout_s",
    )
} | {"data.prepare_workers"}


def checkpoint_dir(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step_{step:07d}"


def checkpoint_step(folder: Path) -> int:
    """The step a `checkpoint_dir` folder holds, read from its name."""
    return int(folder.name.removeprefix("step_"))


def write_hf_folder(target: Path, save: Any) -> None:
    """Call `save(folder)` on a temporary sibling of `target`, then rename it into place (replacing an old one)."""
    with atomic_path(target, directory=True) as scratch:
        save(scratch)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints (index file present), oldest first."""
    folder = out_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step_*") if (p / INDEX_FILE).is_file())


def prune(out_dir: Path, keep_last: int) -> None:
    """Delete periodic checkpoints beyond the newest `keep_last`; stage ends stay."""
    periodic = [p for p in list_checkpoints(out_dir) if not json.loads((p / INDEX_FILE).read_text())["stage_end"]]
    for old in periodic[:-keep_last]:
        shutil.rmtree(old)


def save_checkpoint(
    out_dir: Path,
    step: int,
    runtime: distributed.Runtime,
    save_model: Any,
    trainer_state: dict[str, Any],
    optimizer_state: dict[str, Any],
    stage_end: bool,
    keep_last: int,
) -> Path:
    """Write one checkpoint; every rank calls this. Each rank writes its own optimizer shard (through
    torch.distributed.checkpoint) and RNG state into a hidden partial folder; then the first rank adds the HF
    files (`save_model(folder)`), the trainer state and the index, and renames the folder into place."""
    target = checkpoint_dir(out_dir, step)
    partial = target.with_name(f".{target.name}-partial")
    if runtime.is_main:
        shutil.rmtree(partial, ignore_errors=True)  # left by a crash during an earlier save
        (partial / RNG_DIR).mkdir(parents=True)
    distributed.barrier(runtime)
    with _single_process_quiet():
        dcp.save({"optimizer": optimizer_state}, checkpoint_id=partial / OPTIMIZER_DIR, no_dist=not runtime.distributed)
    torch.save(rng_state(), partial / RNG_DIR / f"rank_{runtime.rank:05d}.pt")
    distributed.barrier(runtime)
    if runtime.is_main:
        save_model(partial)
        torch.save({**trainer_state, "world_size": runtime.world_size}, partial / STATE_FILE)
        index = {"step": step, "stage": trainer_state["stage"], "layers": trainer_state["layers"]}
        (partial / INDEX_FILE).write_text(json.dumps({**index, "stage_end": stage_end}))
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
        prune(out_dir, keep_last)
    distributed.barrier(runtime)
    return target


@contextlib.contextmanager
def _single_process_quiet():
    """torch.distributed.checkpoint warns on every single-process save and load, which is our plain case."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is (disabled, )?unavailable or uninitialized")
        yield


def load_optimizer(folder: Path, wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Read this rank's part of the saved optimizer state, whatever the number of ranks that saved it:
    torch.distributed.checkpoint reshards from the saved layout to the current one."""
    state = get_optimizer_state_dict(wrapped, optimizer)  # the current layout, to be filled in place
    with _single_process_quiet():
        dcp.load({"optimizer": state}, checkpoint_id=folder / OPTIMIZER_DIR, no_dist=not dist.is_initialized())
    set_optimizer_state_dict(wrapped, optimizer, state)


def restore_rng(folder: Path, saved_world_size: int, runtime: distributed.Runtime, seed: int, step: int) -> str:
    """Each rank's own RNG state when the rank count matches the save; otherwise fresh streams seeded from
    (seed, step, rank). Returns a sentence for the log saying which."""
    if saved_world_size == runtime.world_size:
        set_rng_state(torch.load(folder / RNG_DIR / f"rank_{runtime.rank:05d}.pt", weights_only=True))
        return f"RNG restored per rank ({runtime.world_size} ranks, as saved)"
    digest = hashlib.blake2b(f"{seed}:{step}:{runtime.rank}".encode(), digest_size=8).digest()
    reseed = int.from_bytes(digest, "little") % 2**63
    random.seed(reseed)
    torch.manual_seed(reseed)
    return (
        f"saved by {saved_world_size} ranks, resumed on {runtime.world_size}: "
        f"RNG re-seeded from (seed {seed}, step {step}, rank)"
    )


def load_trainer_state(folder: Path, config: TrainConfig) -> dict[str, Any]:
    """Read and check a checkpoint's trainer state against the config the user resumes with."""
    path = folder / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved_config = state["config"]
        int(state["step"])
    except FileNotFoundError:
        raise ConfigError(
            f"checkpoint {folder} has no {STATE_FILE}; it cannot be resumed (delete it to resume from an older one)"
        ) from None
    except Exception as error:  # noqa: BLE001 - any unreadable file is a corrupt checkpoint
        raise ConfigError(
            f"checkpoint {path} is corrupt ({type(error).__name__}); delete {folder} to resume from an older checkpoint"
        ) from None
    current = config.to_dict()
    differences = [
        f"{section}.{key}: checkpoint {value!r}, config {current[section][key]!r}"
        for section, values in saved_config.items()
        for key, value in values.items()
        if f"{section}.{key}" not in RESUMABLE_CHANGES and current[section].get(key) != value
    ]
    if differences:
        raise ConfigError(
            f"checkpoint {folder} does not match this config ({'; '.join(differences[:3])}); "
            f"resume with the run's own config or train into a new --out"
        )
    return state
