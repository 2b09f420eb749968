"""The work behind each stage of `primbench reproduce`, one model at a time.

Kept apart from `pipeline.py` (which only sequences stages and keeps the state file) so that each measurement
is a plain function of a model folder and settings, and each is easy to call on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from primbench.harness.comparison import measure
from primbench.harness.errors import HarnessError
from primbench.harness.statistics import mean_accuracy
from primbench.model_zoo.train import validation_loss

# Numbers from model_zoo's summary.json that the tables report.
TRAINING_KEYS = (
    "steps",
    "tokens",
    "parameters",
    "layers",
    "stage_steps",
    "flops",
    "baseline_flops",
    "baseline_flops_ratio",
    "wall_clock_s",
    "final_val_loss",
)


def load_configs(size: str, overrides: list[str], methods: list[str]) -> dict:
    """The model_zoo configs `<size>-<method>` with overrides; all must train for the same number of steps."""
    from primbench.model_zoo.config import load_config

    configs = {method: load_config(f"{size}-{method}", overrides) for method in methods}
    steps = {method: config.run.steps for method, config in configs.items()}
    if len(set(steps.values())) > 1:
        raise HarnessError(
            f"the {size} configs train for different numbers of steps ({steps}); the comparison "
            "needs equal steps: add --set run.steps=N"
        )
    return configs


def train_or_take(method: str, out: Path, config, given: str | None, progress: bool, name: str | None = None) -> dict:
    """Train `method` into out/runs/<name> (default: the method; resuming a cut-off run), or describe the
    checkpoint given for it."""
    if given is not None:
        return given_source(method, Path(given).expanduser())
    from primbench.model_zoo.checkpoint import list_checkpoints
    from primbench.model_zoo.train import train

    name = name or method
    run_dir = out / "runs" / name
    if (run_dir / "summary.json").is_file() and (run_dir / "final" / "config.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    else:
        summary = train(config, run_dir, resume=bool(list_checkpoints(run_dir)), progress=progress)
    return {
        "source": "trained",
        "checkpoint": f"runs/{name}/final",
        "run": f"runs/{name}",
        "training": _training_stats(summary),
    }


def given_source(method: str, path: Path) -> dict:
    """A run folder (summary.json beside final/) gives everything; a bare HF folder gives weights only."""
    from primbench.harness.evaluation.models import check_model_source

    run = path if (path / "summary.json").is_file() else None
    if run is None and path.name == "final" and (path.parent / "summary.json").is_file():
        run = path.parent
    checkpoint = run / "final" if run is not None else path
    try:
        check_model_source(str(checkpoint))
    except HarnessError as error:
        raise HarnessError(f"--checkpoints {method}: {error}") from None
    summary = json.loads((run / "summary.json").read_text()) if run is not None else None
    return {
        "source": "given",
        "checkpoint": str(checkpoint),
        "run": str(run) if run is not None else None,
        "training": _training_stats(summary) if summary else None,
    }


def _training_stats(summary: dict) -> dict:
    stats = {key: summary.get(key) for key in TRAINING_KEYS}
    stats["seed"] = summary.get("config", {}).get("run", {}).get("seed")
    return stats


def run_folder(out: Path, source: dict) -> Path | None:
    if source.get("run") is None:
        return None
    return out / source["run"] if source["source"] == "trained" else Path(source["run"])


def isoplot(
    loaded: measure.LazyModel, run_dir: Path | None, tasks: list[str], settings, final_accuracy: dict[str, dict]
) -> list[dict]:
    """(validation loss, few-shot accuracy) at evenly spaced saved checkpoints and at the final model.

    A bare checkpoint has no training data to measure validation loss on, so it gets no isoplot.
    """
    if run_dir is None:
        return []
    from primbench.harness.analysis.isoplot import measure_checkpoints
    from primbench.model_zoo.checkpoint import list_checkpoints
    from primbench.model_zoo.config import config_from_dict

    summary = json.loads((run_dir / "summary.json").read_text())
    config = config_from_dict(summary["config"])
    saved = [folder for folder in list_checkpoints(run_dir) if _step_of(folder) < summary["steps"]]
    chosen = evenly_spaced(saved, settings.isoplot_points)
    measured = measure_checkpoints(  # the same per-checkpoint code as `primbench isoplot`, x = validation loss
        [(str(run_dir), folder.name, folder) for folder in chosen],
        lambda model, _tokenizer: validation_loss(model, config),
        tasks,
        settings.shots,
        settings.limit,
    )
    points = [_point(_step_of(folder), point.x, point.scores) for folder, point in zip(chosen, measured)]
    points.append(_point(summary["steps"], validation_loss(loaded.model, config), final_accuracy))
    return points


def evenly_spaced(items: list, count: int) -> list:
    """`count` items spread from first to last (all of them when there are fewer)."""
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[-1]]
    return [items[round(index * (len(items) - 1) / (count - 1))] for index in range(count)]


def _point(step: int, loss: float, scores: dict[str, dict]) -> dict:
    accuracies = {task: cell["accuracy"] for task, cell in scores.items()}
    return {
        "step": step,
        "validation_loss": loss,
        "mean_accuracy": mean_accuracy(accuracies),
        "accuracy": accuracies,
        "items": {task: cell["items"] for task, cell in scores.items()},
    }


def loss_curve(run: str, points: list[dict]) -> dict | None:
    """A run's isoplot points as `comparison.readings` reads a run (None for points stored without items)."""
    if not points or any("items" not in point for point in points):
        return None
    checkpoints = [
        {
            "name": f"step {point['step']}",
            "x": point["validation_loss"],
            "fewshot": {
                task: {"accuracy": point["accuracy"][task], "items": items} for task, items in point["items"].items()
            },
        }
        for point in points
    ]
    return {"seed": 0, "path": run, "checkpoints": checkpoints}


def _step_of(folder: Path) -> int:
    from primbench.model_zoo.checkpoint import checkpoint_step

    return checkpoint_step(folder)


def equal_flops(run_dir: Path | None, target_flops: float | None, tasks: list[str], settings) -> dict | None:
    """The baseline read at a stacked run's training FLOPs: its saved checkpoint nearest that budget, scored.

    A full-depth step always costs the same, so checkpoint `s` of the baseline has spent `flops * s / steps`; the
    checkpoint whose spend is nearest `target_flops` is scored few-shot (its actual ratio is reported, since
    checkpoints are discrete). None for a bare checkpoint or without a target.
    """
    if run_dir is None or not target_flops:
        return None
    from primbench.model_zoo.checkpoint import list_checkpoints
    from primbench.model_zoo.config import config_from_dict

    summary = json.loads((run_dir / "summary.json").read_text())
    per_step = summary["flops"] / summary["steps"]
    candidates = [(_step_of(folder), folder) for folder in list_checkpoints(run_dir)]
    candidates.append((summary["steps"], run_dir / "final"))
    step, folder = min(candidates, key=lambda pair: (abs(pair[0] * per_step - target_flops), pair[0]))
    checkpoint = measure.LazyModel(folder)
    return {
        "step": step,
        "flops": step * per_step,
        "flops_ratio": step * per_step / target_flops,
        "validation_loss": validation_loss(checkpoint.model, config_from_dict(summary["config"])),
        "accuracy": measure.fewshot(checkpoint, tasks, settings),
    }
