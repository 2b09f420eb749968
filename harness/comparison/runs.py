"""What a RUN is: its checkpoints in training order, each with its training FLOPs and where that figure came from.

Four layouts are read: a primbench run (`checkpoints/step_*/`, `final/`, `metrics.jsonl`, `summary.json`), a
`transformers.Trainer` output folder (`checkpoint-*/trainer_state.json`; `total_flos` is HF's estimate of the
training FLOPs so far), any folder of HF checkpoint folders, and one HF folder. `--flops NAME=CSV` gives or
overrides the FLOPs of a recipe's checkpoints by name.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from primbench.harness.analysis.isoplot import run_checkpoints
from primbench.harness.errors import HarnessError
from primbench.model_zoo.metrics import METRICS_FILE, read_metrics

TRAINER_STATE = "trainer_state.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", "tokenizer_config.json")
SOURCE_PRIMBENCH = "primbench run (metrics.jsonl, checkpoint state, summary.json)"
SOURCE_TRAINER = TRAINER_STATE + " (total_flos)"


@dataclass
class Checkpoint:
    name: str
    folder: Path
    flops: float | None = None
    flops_source: str | None = None
    logged_loss: float | None = None  # the validation loss the trainer logged at this step, if it did


@dataclass
class Run:
    """One training run (one seed of a recipe): checkpoints oldest first, the final model last."""

    path: Path
    layout: str  # "primbench", "trainer", "folders" or "hf"
    checkpoints: list[Checkpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    @property
    def has_flops(self) -> bool:
        return all(checkpoint.flops is not None for checkpoint in self.checkpoints)


def parse_named(items, option: str, example: str) -> dict[str, list[str]]:
    """`NAME=A[,B...]` options -> {NAME: [A, B]} in order; a NAME given twice is refused."""
    named: dict[str, list[str]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        name, values = name.strip(), [value.strip() for value in rest.split(",") if value.strip()]
        if not sep or not name or not values:
            raise HarnessError(f"{option} {item!r} must look like NAME=PATH[,PATH...], e.g. {option} {example}")
        if name in named:
            raise HarnessError(f"{option} names {name} twice; give all of its paths in one {option} {name}=A,B")
        named[name] = values
    return named


def discover(path: str | Path, recipe: str) -> Run:
    """The checkpoints of one RUN, with FLOPs and logged losses where its layout records them."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"--run {recipe}: {str(path)!r} is not a folder; pass a run folder or a Hugging Face folder")
    trainer = sorted(folder.glob("checkpoint-*/" + TRAINER_STATE), key=lambda p: _step(p.parent.name))
    if trainer:
        return _trainer_run(folder, [p.parent for p in trainer])
    try:
        named = run_checkpoints(folder)
    except HarnessError:
        raise HarnessError(
            f"--run {recipe}: {str(path)!r} holds no checkpoints (no config.json in it, its checkpoints/*/, "
            "final/ or checkpoint-*/); pass a run folder, a Trainer output folder or a Hugging Face folder"
        ) from None
    if (folder / "summary.json").is_file():
        return _primbench_run(folder, named)
    layout = "hf" if (folder / "config.json").is_file() else "folders"
    return Run(folder, layout, [Checkpoint(name, checkpoint) for name, checkpoint in named])


def _step(name: str) -> int:
    digits = "".join(ch for ch in name.rsplit("-", 1)[-1].rsplit("_", 1)[-1] if ch.isdigit())
    return int(digits) if digits else -1


def _trainer_run(folder: Path, checkpoint_folders: list[Path]) -> Run:
    """Trainer checkpoints: FLOPs from each one's `total_flos`, validation loss from its `eval_loss` log."""
    run = Run(folder, "trainer")
    for checkpoint in checkpoint_folders:
        run.checkpoints.append(_trainer_checkpoint(checkpoint.name, checkpoint, _state(checkpoint)))
    _trainer_final(folder, run)
    missing = [c.name for c in run.checkpoints if c.flops is None]
    if missing:
        run.notes.append(f"{folder}: {TRAINER_STATE} of {', '.join(missing)} has no total_flos")
    return run


def _state(folder: Path) -> dict:
    return json.loads((folder / TRAINER_STATE).read_text())


def _trainer_checkpoint(name: str, folder: Path, state: dict) -> Checkpoint:
    step = state.get("global_step")
    losses = [
        row["eval_loss"] for row in state.get("log_history", []) if row.get("step") == step and "eval_loss" in row
    ]
    flops = state.get("total_flos")
    return Checkpoint(
        name, folder, float(flops) if flops else None, SOURCE_TRAINER if flops else None, losses[-1] if losses else None
    )


def _trainer_final(folder: Path, run: Run) -> None:
    """`trainer.save_model()` + `save_state()` at the top level: the final model, when it is past the last checkpoint.

    Without the top-level trainer_state.json its step is unknown, so the last checkpoint stays the final model.
    """
    if not (folder / "config.json").is_file():
        return
    if not (folder / TRAINER_STATE).is_file():
        run.notes.append(
            f"{folder} holds a model but no {TRAINER_STATE} (trainer.save_state()), so its step is unknown; "
            f"{run.final.name} is read as the final model"
        )
        return
    state = _state(folder)
    if state.get("global_step", 0) > _state(run.final.folder).get("global_step", 0):
        run.checkpoints.append(_trainer_checkpoint("final", folder, state))


def _primbench_run(folder: Path, named: list[tuple[str, Path]]) -> Run:
    """A primbench run: FLOPs and validation loss from metrics.jsonl at each checkpoint's step (FLOPs from the
    checkpoint's trainer state where no line was logged at its step), summary.json at the end."""
    summary = json.loads((folder / "summary.json").read_text())
    logged = {}
    for record in read_metrics(folder / METRICS_FILE):
        logged.setdefault(record["step"], {}).update(record)
    run = Run(folder, "primbench")
    for name, checkpoint in named:
        step = summary["steps"] if name == "final" else _step(checkpoint.name)
        record = logged.get(step, {})
        flops = summary.get("flops") if name == "final" else record.get("flops") or _checkpoint_flops(checkpoint)
        loss = summary.get("final_val_loss") if name == "final" else record.get("val_loss")
        run.checkpoints.append(Checkpoint(name, checkpoint, flops, SOURCE_PRIMBENCH if flops else None, loss))
    return run


def _checkpoint_flops(folder: Path) -> float | None:
    """A checkpoint saved between two log lines (a growth stage's end): the FLOPs its trainer state recorded."""
    import torch

    from primbench.model_zoo.checkpoint import STATE_FILE

    if not (folder / STATE_FILE).is_file():
        return None
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True).get("flops")


def read_flops_csv(recipe: str, path: str) -> dict[str, float]:
    """`checkpoint,flops` rows (checkpoint as compare names it: `final`, `checkpoint-500`, `checkpoints/step_0000010`)."""
    try:
        rows = list(csv.DictReader(Path(path).expanduser().read_text().splitlines()))
        return {row["checkpoint"].strip(): float(row["flops"]) for row in rows}
    except FileNotFoundError:
        raise HarnessError(
            f"--flops {recipe}: {path!r} does not exist; pass a CSV with columns checkpoint,flops"
        ) from None
    except (KeyError, ValueError, AttributeError, TypeError):
        raise HarnessError(
            f"--flops {recipe}: {path!r} is not a CSV with columns checkpoint,flops and a number in each flops cell"
        ) from None


def apply_flops(run: Run, table: dict[str, float], source: str) -> None:
    """Give every checkpoint named in `table` its FLOPs from there (a given figure beats a logged one)."""
    for checkpoint in run.checkpoints:
        if checkpoint.name in table:
            checkpoint.flops, checkpoint.flops_source = table[checkpoint.name], source


def tokenizer_fingerprint(folder: Path) -> str:
    """A hash of the tokenizer files, so runs that share a tokenizer can be told from runs that do not."""
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()
