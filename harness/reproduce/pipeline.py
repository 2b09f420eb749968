"""`primbench reproduce`: train baseline, GradStack and MIDAS alike, measure all three the same way, report.

Per method the pipeline is a list of stages: train (or take a given checkpoint), few-shot primitives, the
isoplot (validation loss and few-shot accuracy over saved checkpoints), the fine-tuned protocol, and the block
similarity; then the baseline read at the stacked runs' FLOPs (its nearest saved checkpoint), and, for
`seeds` > 1, each further pretraining seed's train, few-shot and fine-tuned stages, from which `compare` makes
intervals over seeds and items and paired stacked-minus-baseline differences. Each finished stage's result is
written to `state.json` under `--out` before the next one starts, so a re-run (after a crash, or just to redraw
the report) skips what is done and renders `results.json` from the same stored numbers: byte-identical when
nothing new ran. The state file also pins the preset, the given checkpoints, the config overrides and the task
versions; a re-run that changes any of them is refused rather than mixed (the seed count is not pinned: more
seeds extend a folder).
"""

from __future__ import annotations

import json
import platform
import shlex
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from primbench.atomic import remove_leftovers, write_json
from primbench.harness.comparison import measure, readings
from primbench.harness.comparison.book import STATE_FILE, StageBook
from primbench.harness.comparison.compare import RESULTS_FILE
from primbench.harness.errors import HarnessError
from primbench.harness.reports.report import write_report
from primbench.harness.reproduce import stages
from primbench.harness.reproduce.presets import PRESETS, ReproducePreset
from primbench.model_zoo.config import METHODS
from primbench.model_zoo.operators import stacked_methods


def parse_checkpoints(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`name=PATH` pairs -> {method: path}; names must be baseline, gradstack or midas, each at most once."""
    given: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not path.strip():
            raise HarnessError(
                f"--checkpoints {item!r} must look like name=PATH, e.g. --checkpoints midas=runs/m/final"
            )
        if name not in METHODS:
            raise HarnessError(
                f"--checkpoints name {name!r} is not one of {', '.join(METHODS)}; "
                f"e.g. --checkpoints midas={path.strip()}"
            )
        if name in given:
            raise HarnessError(f"--checkpoints names {name} twice; give each model once")
        given[name] = path.strip()
    return given


class ReproductionBook(StageBook):
    """The comparison's book, with the reproduction's own pins and its messages for a mismatch."""

    @classmethod
    def open(cls, out: Path, pins: dict, what: str = "reproduction") -> ReproductionBook:
        saved = cls.read(out, what)
        if saved is None:
            return cls(out / STATE_FILE, pins)
        saved_pins, stages = saved
        for key, option in (("preset", "preset"), ("checkpoints", "--checkpoints"), ("overrides", "--set")):
            if saved_pins.get(key) != pins[key]:
                raise HarnessError(
                    f"--out {out} holds a reproduction with {option} {_show(saved_pins.get(key))}, "
                    f"not {_show(pins[key])}; use another --out, or rerun with the same {option}"
                )
        if saved_pins.get("settings") != pins["settings"]:
            raise HarnessError(
                f"--out {out} was made with other evaluation settings for preset {pins['preset']!r} "
                "(an older primbench); use another --out to reproduce with this version"
            )
        if saved_pins.get("task_versions") != pins["task_versions"]:
            changed = sorted(
                task
                for task, version in pins["task_versions"].items()
                if (saved_pins.get("task_versions") or {}).get(task) != version
            )
            raise HarnessError(
                f"--out {out} was scored on other versions of {', '.join(changed) or 'its tasks'} (their data or "
                "scoring changed since); use another --out to reproduce with these tasks"
            )
        return cls(out / STATE_FILE, saved_pins, stages)


def reproduce(
    preset: str,
    out: str | Path,
    checkpoints: dict[str, str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    log: Callable[[str], None] = print,
    progress: bool = True,
    seeds: int = 1,
) -> dict:
    """Run (or resume) the whole comparison into `out`; return the results dict also written to results.json.

    `seeds` pretrains every method under that many seeds (the config's `run.seed` and the ones after it). Seed
    counts are not pinned: `seeds=3` in a folder made with `seeds=1` keeps what is done and adds two seeds.
    """
    if preset not in PRESETS:
        raise HarnessError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if seeds < 1:
        raise HarnessError(f"--seeds must be at least 1, got {seeds}")
    if seeds > 1 and checkpoints:
        raise HarnessError("--checkpoints gives one model per method, so it takes --seeds 1; drop one of the two")
    settings = PRESETS[preset]
    out = Path(out)
    checkpoints = dict(checkpoints or {})
    for method, path in checkpoints.items():  # fail before hours of training, not after
        stages.given_source(method, Path(path).expanduser())
    train_overrides = [*settings.train_overrides, *overrides]
    configs = stages.load_configs(settings.size, train_overrides, [m for m in METHODS if m not in checkpoints])
    pins = {
        "preset": preset,
        "checkpoints": checkpoints,
        "overrides": list(overrides),
        "settings": settings.to_dict(),
        "task_versions": measure.task_versions(settings.tasks),
        "command": command_line(preset, out, checkpoints, overrides, seeds),
    }
    book = ReproductionBook.open(out, pins)
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out, "*")  # temporaries of a killed run's state, results and tables (its runs clean their own)
    tasks = book.run("tasks", lambda: measure.task_table(settings.tasks), log)
    task_names = list(tasks)
    entries = {}
    for method in METHODS:
        source = book.run(
            f"{method}/train",
            lambda method=method: stages.train_or_take(
                method, out, configs.get(method), checkpoints.get(method), progress
            ),
            log,
        )
        entries[method] = _measure(method, source, out, settings, task_names, book, log, progress)
    stacked_flops = next((entries[m]["training"] or {}).get("flops") for m in stacked_methods() if m in entries)
    baseline_run = stages.run_folder(out, book.stages["baseline/train"])
    read = book.run(
        "baseline/equal_flops",
        lambda: {"point": stages.equal_flops(baseline_run, stacked_flops, task_names, settings)},
        log,
    )
    first = next(iter(configs.values())).run.seed if configs else 0
    seed_list = [first + k for k in range(seeds)]
    per_seed = {method: [_seed_entry(first, entry)] for method, entry in entries.items()}
    for seed in seed_list[1:]:
        seed_configs = stages.load_configs(settings.size, [*train_overrides, f"run.seed={seed}"], list(METHODS))
        for method in METHODS:
            per_seed[method].append(
                _measure_seed(method, seed, seed_configs[method], out, settings, task_names, book, log, progress)
            )
    for method, entry in entries.items():
        entry["seeds"] = per_seed[method]
    results = {
        "preset": preset,
        # the first run's command, unless this run added seeds (then this command makes the whole folder)
        "command": book.pins["command"] if seeds == 1 else command_line(preset, out, checkpoints, overrides, seeds),
        "seeds": seed_list,
        "versions": book.run("versions", _versions, log),
        "settings": {**settings.to_dict(), "overrides": list(overrides), "checkpoints": checkpoints},
        "tasks": tasks,
        # evaluation refuses prompts longer than a model's context, so a finished run always counts 0 here
        "truncated_prompts": sum(
            cell.get("truncated", 0) for runs in per_seed.values() for run in runs for cell in run["fewshot"].values()
        ),
        "models": entries,
        "intervals": {method: readings.model_intervals(runs, task_names) for method, runs in per_seed.items()},
        "differences": readings.differences(per_seed, task_names, "baseline"),
        "equal_flops": _equal_flops_entry(read["point"], entries, task_names),
    }
    curves = {method: stages.loss_curve(method, entry["isoplot"]) for method, entry in entries.items()}
    if curves.get("baseline") and all(curves.values()):  # folders measured before isoplot points kept their items
        results["readings"] = {
            "equal_loss": readings.equal_loss({m: [c] for m, c in curves.items()}, task_names, "baseline")
        }
    write_json(results, out / RESULTS_FILE)
    write_report(results, out)
    return results


def _measure(
    method: str,
    source: dict,
    out: Path,
    settings: ReproducePreset,
    tasks: list[str],
    book: StageBook,
    log: Callable[[str], None],
    progress: bool,
) -> dict:
    """Every stage after training for one model, loading the model only if some stage still has to run."""
    loaded = measure.LazyModel(
        out / source["checkpoint"] if source["source"] == "trained" else Path(source["checkpoint"])
    )
    run_dir = stages.run_folder(out, source)
    fewshot = _fewshot_stage(method, loaded, tasks, settings, book, log)
    isoplot = book.run(
        f"{method}/isoplot",
        lambda: {"points": stages.isoplot(loaded, run_dir, tasks, settings, fewshot["accuracy"])},
        log,
    )
    tuned = _finetune_stage(method, loaded, tasks, settings, book, log, progress)
    similarity = book.run(f"{method}/similarity", lambda: measure.similarity(loaded, run_dir), log)
    final = isoplot["points"][-1] if isoplot["points"] else {}
    return {
        "source": source["source"],
        "checkpoint": source["checkpoint"],
        "training": source.get("training"),
        "validation_loss": final.get("validation_loss"),
        "fewshot": fewshot,
        "finetuned": tuned["tasks"],
        "isoplot": isoplot["points"],
        "similarity": similarity,
    }


def _fewshot_stage(prefix: str, loaded, tasks: list[str], settings: ReproducePreset, book: StageBook, log) -> dict:
    """The few-shot protocol of one model as the stage `<prefix>/fewshot` (prefix: `midas`, `midas/seed1`)."""
    return book.run(
        f"{prefix}/fewshot",
        lambda: {
            "shots": settings.shots,
            "limit": settings.limit,
            "accuracy": measure.fewshot(loaded, tasks, settings),
        },
        log,
    )


def _finetune_stage(
    prefix: str, loaded, tasks: list[str], settings: ReproducePreset, book: StageBook, log, progress: bool
) -> dict:
    """The fine-tuned protocol of one model as the stage `<prefix>/finetune`."""
    return book.run(
        f"{prefix}/finetune", lambda: {"tasks": measure.finetuned(loaded, tasks, settings.finetune, progress)}, log
    )


def _equal_flops_entry(point: dict | None, entries: dict, tasks: list[str]) -> dict | None:
    """The baseline at the stacked runs' FLOPs, and each stacked final model minus it (paired over items)."""
    if point is None:
        return None
    runs = {method: [_seed_entry(0, entry)] for method, entry in entries.items()}
    runs["baseline"] = [{"seed": 0, "fewshot": point["accuracy"], "finetuned": {}}]
    gaps = readings.differences(runs, tasks, "baseline")
    return {**point, "differences": {name: by_protocol.get("fewshot", {}) for name, by_protocol in gaps.items()}}


def _seed_entry(seed: int, entry: dict) -> dict:
    """What the intervals read from one pretraining seed: its few-shot and fine-tuned cells."""
    return {"seed": seed, "fewshot": entry["fewshot"]["accuracy"], "finetuned": entry["finetuned"]}


def _measure_seed(
    method: str,
    seed: int,
    config,
    out: Path,
    settings: ReproducePreset,
    tasks: list[str],
    book: StageBook,
    log: Callable[[str], None],
    progress: bool,
) -> dict:
    """A further pretraining seed: train, few-shot and fine-tuned (the isoplot and similarity stay seed 0's)."""
    name = f"{method}-seed{seed}"
    source = book.run(
        f"{method}/seed{seed}/train", lambda: stages.train_or_take(method, out, config, None, progress, name), log
    )
    loaded = measure.LazyModel(out / source["checkpoint"])
    fewshot = _fewshot_stage(f"{method}/seed{seed}", loaded, tasks, settings, book, log)
    tuned = _finetune_stage(f"{method}/seed{seed}", loaded, tasks, settings, book, log, progress)
    return {"seed": seed, "training": source["training"], "fewshot": fewshot["accuracy"], "finetuned": tuned["tasks"]}


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("primbench", "torch", "transformers", "lm_eval", "datasets", "tokenizers"):
        try:
            versions[package] = metadata.version(package.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def command_line(preset: str, out: Path, checkpoints: dict[str, str], overrides, seeds: int = 1) -> str:
    """The command that (re)produces this folder, for the record in results.json and table.md."""
    words = ["primbench", "reproduce", "--preset", preset, "--out", str(out)]
    if seeds > 1:
        words += ["--seeds", str(seeds)]
    for name, path in checkpoints.items():
        words += ["--checkpoints", f"{name}={path}"]
    for override in overrides:
        words += ["--set", override]
    return shlex.join(words)


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)
