"""Which tasks a request names, which presets they score, their chance level and the fine-tuning mixture.

The harness reaches primitive data through here and `primbench.tasks.data` only. Names resolve against
`primbench.tasks.registry`, the module that writes the YAML lm-eval reads (one source of truth, so no TaskManager
is needed to expand a request), and presets come from task names (`prim_<preset>[_gen]`).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections import Counter
from collections.abc import Sequence

from primbench.primitives.errors import PrimitiveError
from primbench.tasks.data import DEFAULT_SEED, DEFAULT_TRAIN_ITEMS
from primbench.tasks.registry import PAPER_GROUP

# What every command scores when no task is named: the paper's suite.
DEFAULT_TASKS = (PAPER_GROUP,)
# Seed of lm-eval's few-shot draw from the train split (every command that scores with demonstrations).
FEWSHOT_SEED = 1234
# Chance is a property of the task, estimated on this many test items whatever the scoring limit.
CHANCE_ITEMS = 500

# The answer shapes a blind guesser can pick from the prompt: integers, or single words.
NUMBER = re.compile(r"-?\d+")
WORD = re.compile(r"[A-Za-z]+")


def resolve_task_names(requested: Sequence[str]) -> list[str]:
    """Expand commas and globs (`prim_variable_*`); an unknown name raises with the nearest registered names."""
    from primbench.tasks.registry import expected_names

    tasks, groups = expected_names()
    known = tasks + groups
    names: list[str] = []
    for item in requested:
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            matches = fnmatch.filter(known, name) if any(ch in name for ch in "*?[") else [name] * (name in known)
            if not matches:
                near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
                hint = f"did you mean {', '.join(near)}?" if near else "`primbench list` shows the presets"
                raise PrimitiveError(f"unknown task or group {name!r}; {hint} (tasks are named prim_<preset>)")
            names.extend(match for match in matches if match not in names)
    if not names:
        raise PrimitiveError("no task given; e.g. --tasks reasoning_primitives")
    return names


def expand_tasks(requested: Sequence[str]) -> list[str]:
    """Task names with globs resolved and groups replaced by their member tasks, in order, without repeats."""
    from primbench.tasks.registry import group_members

    groups = group_members()
    expanded: list[str] = []
    for name in resolve_task_names(requested):
        for member in groups.get(name, [name]):
            if member not in expanded:
                expanded.append(member)
    return expanded


def check_each_task_once(names: Sequence[str]) -> None:
    """lm-eval refuses a task that two requested names both contain (a group and its member, two groups)."""
    from primbench.tasks.registry import group_members

    groups = group_members()
    seen: dict[str, str] = {}
    for name in names:
        for member in groups.get(name, [name]):
            if member in seen:
                raise PrimitiveError(
                    f"task {member} is asked for twice (in {seen[member]} and in {name}); "
                    "lm-eval scores each task once, so drop one of them"
                )
            seen[member] = name


def preset_of(task: str) -> str:
    """The primitive preset a task scores (`prim_arithmetic_psm_gen` -> `arithmetic_psm`)."""
    from primbench.primitives.registry import PRESETS

    for candidate in (task.removeprefix("prim_"), task.removeprefix("prim_").removesuffix("_gen")):
        if candidate in PRESETS:
            return candidate
    raise PrimitiveError(
        f"task {task!r} is not a primitive task (names are prim_<preset>); `primbench list` shows the presets"
    )


def presets_of(tasks: list[str]) -> list[str]:
    """Distinct presets behind `tasks`, in order (a task and its `_gen` twin share one)."""
    presets: list[str] = []
    for task in tasks:
        preset = preset_of(task)
        if preset not in presets:
            presets.append(preset)
    return presets


def chance_level(task: str, n: int, seed: int | None = None, knobs: dict | None = None) -> float:
    """Accuracy a model reaches without reasoning, estimated on the first n test items of the task.

    `knobs` overrides the preset's knobs as `--metadata knobs` does (a sweep's chance moves with its knob).

    The better of two blind guessers: always answering the most common answer, and picking uniformly among the
    distinct numbers (or words) in the prompt shaped like the answer, which is how an untrained model that has
    only learned the format behaves on copying and look-up primitives.
    """
    from primbench.primitives.registry import build_dataset

    dataset = build_dataset(preset_of(task), DEFAULT_SEED if seed is None else seed, overrides=knobs)
    capacity = dataset.capacity("test")
    records = list(dataset.records("test", n if capacity is None else min(n, capacity)))
    if not records:
        return 0.0
    majority = Counter(record["answer"] for record in records).most_common(1)[0][1] / len(records)
    guessed = 0.0
    for record in records:
        pattern = NUMBER if NUMBER.fullmatch(record["answer"]) else WORD if WORD.fullmatch(record["answer"]) else None
        candidates = set(pattern.findall(record["prompt"])) if pattern else set()
        if record["answer"] in candidates:
            guessed += 1.0 / len(candidates)
    return round(max(majority, guessed / len(records)), 4)


def training_mixture(presets: list[str], n_train: int, seed: int, data_seed: int = DEFAULT_SEED) -> list[dict]:
    """`n_train` train-split records spread evenly over `presets` (the first presets take the remainder).

    Each seed reads its own window of the train split, after the few-shot pool, so the runs see different
    examples. A preset with fewer distinct train problems than that (PSM's small space; `capacity("train")`) wraps around
    its split instead.
    """
    from primbench.primitives.registry import build_dataset

    if n_train < len(presets):
        raise PrimitiveError(
            f"--n-train {n_train} is smaller than the {len(presets)} tasks in the mixture; "
            f"use at least {len(presets)} or fewer tasks"
        )
    share, extra = divmod(n_train, len(presets))
    mixture = []
    for position, preset in enumerate(presets):
        count = share + (1 if position < extra else 0)
        dataset = build_dataset(preset, data_seed)
        capacity = dataset.capacity("train")
        if capacity is None:
            indices = range(DEFAULT_TRAIN_ITEMS + seed * count, DEFAULT_TRAIN_ITEMS + (seed + 1) * count)
        else:
            indices = [(seed * count + offset) % capacity for offset in range(count)]
        mixture.extend(dataset.record("train", index) for index in indices)
    return mixture
