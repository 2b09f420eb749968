"""Checkpoints that are Hugging Face folders: `checkpoints/step_XXXXXXX/` holds config.json, model.safetensors and
the tokenizer (so the harness can evaluate it as is), plus the trainer's own state: `trainer_state.pt` (step,
stage, data position, FLOPs, config, rank count), `optimizer/` (torch.distributed.checkpoint: each rank writes its
shard; any rank count reads it back) and `rng/` (one file per rank), and `checkpoint.json` (an index used for
pruning). Every rank writes into a hidden `.step_XXXXXXX-partial/` folder; the first rank writes `checkpoint.json`
last and renames the folder into place, so only complete checkpoints carry a visible name (and the index): a kill
mid-save leaves a hidden folder that `remove_partial` deletes when the run resumes. Pruned checkpoints are renamed
to a hidden name before they are deleted, for the same reason. The last `keep_last` periodic ones and every stage
end are kept.
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
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

from primbench.atomic import atomic_path, leftovers, write_point
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


def remove_partial(out_dir: Path) -> None:
    """Delete the hidden folders of checkpoints that a killed run was writing or deleting."""
    for folder in leftovers(out_dir / "checkpoints", "step_*"):
        shutil.rmtree(folder)


def _discard(folder: Path) -> None:
    """Delete a checkpoint, hiding it first: a kill while deleting never leaves a half folder under a step name."""
    hidden = folder.with_name(f".{folder.name}-deleting")
    shutil.rmtree(hidden, ignore_errors=True)
    folder.rename(hidden)
    write_point(f"{folder} (hidden, to be deleted)")
    shutil.rmtree(hidden)


def prune(out_dir: Path, keep_last: int) -> None:
    """Delete periodic checkpoints beyond the newest `keep_last`; stage ends stay."""
    periodic = [p for p in list_checkpoints(out_dir) if not json.loads((p / INDEX_FILE).read_text())["stage_end"]]
    for old in periodic[:-keep_last]:
        _discard(old)


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
    write_point(f"{partial} (optimizer state written)")
    torch.save(rng_state(), partial / RNG_DIR / f"rank_{runtime.rank:05d}.pt")
    distributed.barrier(runtime)
    if runtime.is_main:
        save_model(partial)
        write_point(f"{partial} (model written)")
        torch.save({**trainer_state, "world_size": runtime.world_size}, partial / STATE_FILE)
        write_point(f"{partial} (trainer state written)")
        index = {"step": step, "stage": trainer_state["stage"], "layers": trainer_state["layers"]}
        (partial / INDEX_FILE).write_text(json.dumps({**index, "stage_end": stage_end}))  # marks it complete
        write_point(f"{partial} (complete)")
        if target.exists():
            _discard(target)
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


@contextlib.contextmanager
def _reading(folder: Path, name: str):
    """Any failure to read the checkpoint's file `name` becomes one line naming the file and the way out."""
    try:
        yield
    except (Exception, CheckpointException) as error:  # noqa: BLE001 - whatever the reader raises, name the file
        if isinstance(error, CheckpointException):  # torch.distributed.checkpoint wraps each rank's own error
            error = next(iter(error.failures.values()))[0]
        lines = str(error).strip().splitlines()
        cause = f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__
        raise ConfigError(
            f"could not read {folder / name} ({cause}); delete {folder} to resume from an older checkpoint"
        ) from None


def load_model(folder: Path) -> torch.nn.Module:
    """The checkpoint's weights in float32, in the architecture its config.json names."""
    from transformers import AutoModelForCausalLM

    with _reading(folder, "model.safetensors"):
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def load_optimizer(folder: Path, wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Read this rank's part of the saved optimizer state, whatever the number of ranks that saved it:
    torch.distributed.checkpoint reshards from the saved layout to the current one."""
    state = get_optimizer_state_dict(wrapped, optimizer)  # the current layout, to be filled in place
    with _reading(folder, OPTIMIZER_DIR), _single_process_quiet():
        dcp.load({"optimizer": state}, checkpoint_id=folder / OPTIMIZER_DIR, no_dist=not dist.is_initialized())
    set_optimizer_state_dict(wrapped, optimizer, state)


def restore_rng(folder: Path, saved_world_size: int, runtime: distributed.Runtime, seed: int, step: int) -> str:
    """Each rank's own RNG state when the rank count matches the save; otherwise fresh streams seeded from
    (seed, step, rank). Returns a sentence for the log saying which."""
    if saved_world_size == runtime.world_size:
        name = f"{RNG_DIR}/rank_{runtime.rank:05d}.pt"
        with _reading(folder, name):
            set_rng_state(torch.load(folder / name, weights_only=True))
        return f"RNG restored per rank ({runtime.world_size} ranks, as saved)"
    digest = hashlib.blake2b(f"{seed}:{step}:{runtime.rank}".encode(), digest_size=8).digest()
    reseed = int.from_bytes(digest, "little") % 2**63
    random.seed(reseed)
    torch.manual_seed(reseed)
    return (
        f"saved by {saved_world_size} ranks, resumed on {runtime.world_size}: "
        f"RNG re-seeded from (seed {seed}, step {step}, rank)"
    )


def config_differences(saved: dict[str, dict[str, Any]], config: TrainConfig) -> list[str]:
    """What a resumed run would change against the config it was saved with, e.g. `optim.lr: checkpoint 0.01,
    config 0.02` (keys in RESUMABLE_CHANGES may change; so may model.vocab_size when a tokenizer file sets it,
    since the tokenizer's own digest is checked instead)."""
    current = config.to_dict()
    free = RESUMABLE_CHANGES | ({"model.vocab_size"} if config.data.tokenizer != "train" else set())
    return [
        f"{section}.{key}: checkpoint {value!r}, config {current[section].get(key)!r}"
        for section, values in saved.items()
        for key, value in values.items()
        if f"{section}.{key}" not in free and current[section].get(key) != value
    ]


def load_trainer_state(folder: Path, config: TrainConfig, tokenizer_sha256: str) -> dict[str, Any]:
    """Read and check a checkpoint's trainer state against the config and tokenizer the user resumes with."""
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
    differences = config_differences(saved_config, config)
    if differences:
        raise ConfigError(
            f"checkpoint {folder} does not match this config ({'; '.join(differences[:3])}); "
            f"resume with the run's own config or train into a new --out"
        )
    saved_tokenizer = state.get("tokenizer_sha256", tokenizer_sha256)  # checkpoints before this check lack it
    if saved_tokenizer != tokenizer_sha256:
        raise ConfigError(
            f"checkpoint {folder} was trained with another tokenizer (sha256 {saved_tokenizer[:12]}..., now "
            f"{tokenizer_sha256[:12]}...); resume with the run's own tokenizer or train into a new --out"
        )
    return state
