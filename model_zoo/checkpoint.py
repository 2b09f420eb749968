"""Checkpoints that are Hugging Face folders: `checkpoints/step_XXXXXXX/` holds config.json, model.safetensors and
the tokenizer (so the harness can evaluate it as is), plus `trainer_state.pt` (optimizer, step, stage, RNG, data
position, config) and `checkpoint.json` (a small index used for pruning). Written under a temporary name and
renamed, so a crash never leaves a half checkpoint; the last `keep_last` periodic ones and every stage end are kept.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from primbench.atomic import atomic_path
from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.errors import ConfigError

STATE_FILE = "trainer_state.pt"
INDEX_FILE = "checkpoint.json"
# run.* keys a resumed run may change: they affect logging, speed or placement, not the optimisation itself
RESUMABLE_CHANGES = {
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
}


def checkpoint_dir(out_dir: Path, step: int) -> Path:
    return out_dir / "checkpoints" / f"step_{step:07d}"


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
    out_dir: Path, step: int, save_model: Any, trainer_state: dict[str, Any], stage_end: bool, keep_last: int
) -> Path:
    """Write one checkpoint; `save_model(folder)` writes the HF files (model and tokenizer)."""
    index = {"step": step, "stage": trainer_state["stage"], "layers": trainer_state["layers"], "stage_end": stage_end}

    def save(folder: Path) -> None:
        save_model(folder)
        torch.save(trainer_state, folder / STATE_FILE)
        (folder / INDEX_FILE).write_text(json.dumps(index))

    target = checkpoint_dir(out_dir, step)
    write_hf_folder(target, save)
    prune(out_dir, keep_last)
    return target


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
        if not (section == "run" and key in RESUMABLE_CHANGES) and current[section].get(key) != value
    ]
    if differences:
        raise ConfigError(
            f"checkpoint {folder} does not match this config ({'; '.join(differences[:3])}); "
            f"resume with the run's own config or train into a new --out"
        )
    return state
