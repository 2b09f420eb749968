"""What the fine-tuned protocol and the reproduction need to know about tasks: members, presets, chance, scores.

Groups are expanded by `tasks.registry.group_members`, which also writes the group YAML that lm-eval reads (one
source of truth), presets come from task names (`prim_<preset>[_gen]`), and scoring goes through `harness.evaluate`, the same path as `primbench
eval`, so a fine-tuned accuracy and a few-shot accuracy are measured identically.
"""

from __future__ import annotations

import re
from collections import Counter

from primbench.harness.errors import HarnessError

# The answer shapes a blind guesser can pick from the prompt: integers, or single words.
NUMBER = re.compile(r"-?\d+")
WORD = re.compile(r"[A-Za-z]+")


def expand_tasks(requested: list[str] | tuple[str, ...]) -> list[str]:
    """Task names with globs resolved and groups replaced by their member tasks, in order, without repeats."""
    from primbench.harness.evaluation.evaluate import resolve_task_names, task_manager
    from primbench.tasks.registry import group_members

    names = resolve_task_names(list(requested), task_manager())
    groups = group_members()
    expanded: list[str] = []
    for name in names:
        for member in groups.get(name, [name]):
            if member not in expanded:
                expanded.append(member)
    return expanded


def preset_of(task: str) -> str:
    """The primitive preset a task scores (`prim_arithmetic_psm_gen` -> `arithmetic_psm`)."""
    from primbench.primitives.registry import PRESETS

    for candidate in (task.removeprefix("prim_"), task.removeprefix("prim_").removesuffix("_gen")):
        if candidate in PRESETS:
            return candidate
    raise HarnessError(
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


def chance_level(task: str, n: int, seed: int | None = None) -> float:
    """Accuracy a model reaches without reasoning, estimated on the first n test items of the task.

    The better of two blind guessers: always answering the most common answer, and picking uniformly among the
    distinct numbers (or words) in the prompt shaped like the answer, which is how an untrained model that has
    only learned the format behaves on copying and look-up primitives.
    """
    from primbench.primitives.registry import build_dataset
    from primbench.tasks.data import DEFAULT_SEED

    dataset = build_dataset(preset_of(task), DEFAULT_SEED if seed is None else seed)
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


def score_tasks(
    model, tokenizer, tasks: list[str], shots: int, limit: int | None, batch_size: int = 16
) -> dict[str, dict]:
    """{task: {"accuracy", "stderr", "n"}} of an in-memory model through `harness.evaluate`."""
    from primbench.harness.evaluation.evaluate import evaluate

    result = evaluate(
        model,
        tasks,
        shots=shots,
        limit=limit,
        tokenizer=tokenizer,
        batch_size=batch_size,
        log_samples=False,
        quiet=True,
    )
    return {
        task: {
            "accuracy": score.accuracy,
            "stderr": score.stderr,
            "n": score.n,
            "truncated": result.truncated.get(task, 0),
        }
        for task, score in result.tasks.items()
        if task in tasks
    }
