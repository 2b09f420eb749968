"""`primbench compare`: training recipes against a reference, each recipe one or more runs (its seeds).

Per checkpoint of every run: the x value of the isoplot (bits per byte on `--text`, or the validation loss every
run logged when they all share one tokenizer) and few-shot accuracy per task; per final model: the fine-tuned
protocol (with `--finetune`) and block similarity. Every measurement is a stage of the comparison's own
`state.json`, so a killed run resumes and a finished one only redraws. The readings (`readings.py`) and the
report are computed afresh from the stored numbers each time, so `--reference` can change without measuring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from primbench.atomic import write_json
from primbench.harness.comparison import measure, readings
from primbench.harness.comparison.book import StageBook
from primbench.harness.comparison.runs import Run, apply_flops, discover, read_flops_csv, tokenizer_fingerprint
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.finetune import FinetuneConfig
from primbench.harness.statistics import mean_accuracy
from primbench.tasks.selection import DEFAULT_TASKS

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class CompareSettings:
    """What is scored: tasks, the few-shot protocol, and the fine-tuned one (None: not run)."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    shots: int = 5
    limit: int | None = None
    finetune: FinetuneConfig | None = None
    window: int | None = None  # tokens per bits-per-byte window (default: the model's context)

    def to_dict(self) -> dict:
        return {
            "tasks": list(self.tasks),
            "fewshot": {"shots": self.shots, "limit": self.limit},
            "finetune": self.finetune.to_dict() if self.finetune else None,
            "window": self.window,
        }


def compare(
    runs: dict[str, list[str]],
    reference: str,
    out: str | Path,
    text: str | Path | None = None,
    flops: dict[str, str] | None = None,
    settings: CompareSettings = CompareSettings(),
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict:
    """Measure (or resume) every run into `out`, compute the three readings, write results.json and the report."""
    from primbench.harness.analysis.isoplot import bits_per_byte
    from primbench.harness.evaluation.models import check_model_source
    from primbench.harness.reports.report import write_report

    out = Path(out)
    if reference not in runs:
        raise HarnessError(f"--reference {reference!r} is not one of the --run names ({', '.join(runs)}); pick one")
    unknown = [name for name in flops or {} if name not in runs]
    if unknown:
        raise HarnessError(f"--flops names {', '.join(unknown)}, which no --run names; use one of {', '.join(runs)}")
    if settings.finetune is not None:
        settings.finetune.validate()
    recipes = {name: [discover(path, name) for path in paths] for name, paths in runs.items()}
    for name, csv_path in (flops or {}).items():
        table = read_flops_csv(name, csv_path)
        for run in recipes[name]:
            apply_flops(run, table, f"--flops {Path(csv_path).name}")
    for name, group in recipes.items():
        for run in group:
            for checkpoint in run.checkpoints:  # a broken folder fails now, not after an hour of scoring
                try:
                    check_model_source(str(checkpoint.folder))
                except HarnessError as error:
                    raise HarnessError(f"--run {name}: {error}") from None
    x_label, text_body = _x_axis(recipes, text)
    pins = {
        "runs": {name: [str(run.path.resolve()) for run in group] for name, group in recipes.items()},
        "x": x_label,
        "text_sha256": hashlib.sha256(text_body.encode()).hexdigest() if text_body is not None else None,
        "settings": settings.to_dict(),
        "task_versions": measure.task_versions(settings.tasks),
    }
    book = StageBook.open(out, pins)
    out.mkdir(parents=True, exist_ok=True)
    tasks = book.run("tasks", lambda: measure.task_table(settings.tasks), log)
    names = list(tasks)

    def measure_x(loaded: measure.LazyModel, checkpoint) -> float:
        if text_body is None:
            return checkpoint.logged_loss
        return bits_per_byte(loaded.model, loaded.tokenizer, text_body, settings.window)

    measured: dict[str, list[dict]] = {}
    for name, group in recipes.items():
        measured[name] = []
        for index, run in enumerate(group):
            points = []
            for checkpoint in run.checkpoints:
                loaded = measure.LazyModel(checkpoint.folder)
                point = book.run(
                    f"{name}/{index}/{checkpoint.name}",
                    lambda loaded=loaded, checkpoint=checkpoint: {
                        "x": measure_x(loaded, checkpoint),
                        "fewshot": measure.fewshot(loaded, names, settings),
                    },
                    log,
                )
                points.append(
                    {
                        "name": checkpoint.name,
                        "flops": checkpoint.flops,
                        "flops_source": checkpoint.flops_source,
                        **point,
                    }
                )
            final = loaded  # the last checkpoint is the final model: loaded once for every stage that needs it
            tuned = {}
            if settings.finetune is not None:
                tuned = book.run(
                    f"{name}/{index}/finetune",
                    lambda final=final: {"tasks": measure.finetuned(final, names, settings.finetune, progress)},
                    log,
                )["tasks"]
            similarity = None
            if index == 0:
                similarity = book.run(
                    f"{name}/{index}/similarity", lambda final=final, run=run: measure.similarity(final, run.path), log
                )
            measured[name].append(
                {
                    "seed": index,
                    "path": str(run.path),
                    "layout": run.layout,
                    "checkpoints": points,
                    "fewshot": points[-1]["fewshot"],
                    "finetuned": tuned,
                    "similarity": similarity,
                }
            )
    results = assemble(recipes, measured, tasks, reference, x_label, settings, text)
    results["command"] = command_line(runs, reference, out, text, flops, settings)
    for line in [*results["notes"], results["readings"].get("equal_flops_left_out")]:
        if line:
            log(f"note: {line}")
    write_json(results, out / RESULTS_FILE)
    write_report(results, out)
    return results


def _x_axis(recipes: dict[str, list[Run]], text: str | Path | None) -> tuple[str, str | None]:
    """(label of the isoplot's x axis, the --text contents or None when the runs' logged loss is used)."""
    from primbench.harness.analysis.isoplot import read_text

    if text is not None:
        body = read_text(text)
        if not body.strip():
            raise HarnessError(
                f"--text {str(text)!r} is empty; pass a held-out UTF-8 text of a few thousand characters"
            )
        return f"bits per byte on {Path(text).name}", body
    every = [(name, run) for name, group in recipes.items() for run in group]
    tokenizers = {tokenizer_fingerprint(run.final.folder) for _, run in every}
    if len(tokenizers) > 1:
        raise HarnessError(
            "the runs use different tokenizers, so their losses are not comparable and no --text was given; "
            "pass --text FILE (bits per byte on a held-out text compares any tokenizers)"
        )
    unlogged = [f"{name}:{run.path}" for name, run in every if any(c.logged_loss is None for c in run.checkpoints)]
    if unlogged:
        raise HarnessError(
            f"no --text given and {', '.join(unlogged[:3])} did not log a validation loss at every checkpoint; "
            "pass --text FILE to measure bits per byte instead"
        )
    return "validation loss (as logged)", None


def assemble(recipes, measured, tasks, reference, x_label, settings, text) -> dict:
    """results.json: each recipe's first run in the report's layout, intervals, and the three readings."""
    names = list(tasks)
    models = {}
    notes = [note for group in recipes.values() for run in group for note in run.notes]
    for name, group in measured.items():
        first = group[0]
        final = first["checkpoints"][-1]
        models[name] = {
            "source": first["layout"],
            "checkpoint": str(recipes[name][0].final.folder),
            "runs": [run["path"] for run in group],
            "training": {"flops": final["flops"], "flops_source": final["flops_source"]},
            "validation_loss": final["x"],
            "fewshot": {"shots": settings.shots, "limit": settings.limit, "accuracy": final["fewshot"]},
            "finetuned": first["finetuned"],
            "isoplot": [
                {
                    "checkpoint": point["name"],
                    "validation_loss": point["x"],
                    "flops": point["flops"],
                    "mean_accuracy": mean_accuracy(cell["accuracy"] for cell in point["fewshot"].values()),
                }
                for point in first["checkpoints"]
            ],
            "seed_curves": [
                [
                    [point["x"], mean_accuracy(cell["accuracy"] for cell in point["fewshot"].values())]
                    for point in run["checkpoints"]
                ]
                for run in group
            ],
            "similarity": first["similarity"],
        }
    without_flops = [
        f"{name} ({run['path']})"
        for name, group in measured.items()
        for run in group
        if any(point["flops"] is None for point in run["checkpoints"])
    ]
    flops_reading: dict = {"equal_flops": None}
    if without_flops:
        flops_reading["equal_flops_left_out"] = (
            f"no training FLOPs for {', '.join(without_flops[:3])}; pass --flops NAME=CSV (columns checkpoint,flops)"
        )
    else:
        flops_reading["equal_flops"] = readings.equal_flops(measured, names, reference)
    return {
        "kind": "comparison",
        "reference": reference,
        "x_label": x_label,
        "text": str(text) if text is not None else None,
        "settings": settings.to_dict(),
        "tasks": tasks,
        "seeds": {name: len(group) for name, group in measured.items()},
        "flops_sources": {
            name: sorted({p["flops_source"] for r in group for p in r["checkpoints"] if p["flops_source"]})
            for name, group in measured.items()
        },
        "models": models,
        "intervals": {name: readings.model_intervals(group, names) for name, group in measured.items()},
        "differences": readings.differences(measured, names, reference),
        "readings": {**flops_reading, "equal_loss": readings.equal_loss(measured, names, reference)},
        "notes": notes,
    }


def command_line(runs, reference, out, text, flops, settings: CompareSettings) -> str:
    """The command that (re)draws this folder, for results.json and table.md."""
    import shlex

    words = ["primbench", "compare"]
    for name, paths in runs.items():
        words += ["--run", f"{name}={','.join(str(path) for path in paths)}"]
    words += ["--reference", reference, "--out", str(out)]
    if text is not None:
        words += ["--text", str(text)]
    for name, path in (flops or {}).items():
        words += ["--flops", f"{name}={path}"]
    for task in settings.tasks:
        words += ["--tasks", task]
    words += ["--shots", str(settings.shots)]
    if settings.limit is not None:
        words += ["--limit", str(settings.limit)]
    if settings.finetune is not None:
        words.append("--finetune")
    return shlex.join(words)
