"""Writes the task and group YAML of this folder from the primitives' registry, and names what must be found.

Every preset becomes `prim_<preset>` (loglikelihood) and `prim_<preset>_gen` (generation); groups aggregate them.
The YAML is committed so that `lm_eval --include_path` works without running Python first; a test checks that
the committed files equal what this module renders, so a new preset cannot be forgotten.

    python -m primbench.tasks.registry          # rewrite the YAML
    python -m primbench.tasks.registry --check  # exit 1 when the committed YAML is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from primbench.atomic import write_text
from primbench.tasks import TASKS_DIR

# Bump a task's version when its data or scoring changes (and add a line to tasks/README.md's changelog).
TASK_VERSION = 1.0
GROUP_VERSION = 1.0
# `_gen` twins and their groups: 1.1 made flexible-extract find the answer's shape (tasks/filters.py).
GENERATION_TASK_VERSION = 1.1
GENERATION_GROUP_VERSION = 1.1
# Presets whose splits changed after the versions above (2026-12-01: small spaces give test half their problems);
# they and the groups holding them are a tenth higher.
REVISED_PRESETS = frozenset({"arithmetic_psm", "arithmetic_negatives"})
PAPER_GROUP = "reasoning_primitives"
HEADER = "# Written by `python -m primbench.tasks.registry` from primbench.primitives.registry; edit that module, not this file.\n"
# Longest answers are measured on this many items per split (`generation_budget` turns them into max_gen_toks).
ANSWER_SAMPLE = 500


def task_name(preset: str, generation: bool = False) -> str:
    return f"prim_{preset}" + ("_gen" if generation else "")


def group_name(primitive: str | None = None, generation: bool = False) -> str:
    """`reasoning_primitives[_<primitive>][_gen]`: the paper's set, or one primitive's presets."""
    return PAPER_GROUP + (f"_{primitive}" if primitive else "") + ("_gen" if generation else "")


def expected_names() -> tuple[list[str], list[str]]:
    """(task names, group names) that lm-eval must find in this folder."""
    from primbench.primitives.registry import PRESETS, PRIMITIVES

    tasks = [task_name(preset, generation) for preset in PRESETS for generation in (False, True)]
    groups = [group_name(primitive, generation) for primitive in (None, *PRIMITIVES) for generation in (False, True)]
    return tasks, groups


def group_members() -> dict[str, list[str]]:
    """Group name -> its task names, in order: the one source of membership for the YAML and for callers."""
    from primbench.primitives.registry import PAPER_SUITE, PRESETS, PRIMITIVES

    presets = {None: list(PAPER_SUITE)}
    for primitive in PRIMITIVES:
        presets[primitive] = [name for name, preset in PRESETS.items() if preset.primitive == primitive]
    return {
        group_name(primitive, generation): [task_name(preset, generation) for preset in chosen]
        for primitive, chosen in presets.items()
        for generation in (False, True)
    }


def max_gen_toks(preset: str) -> int:
    """Characters of the longest answer among the first items of each split, plus delimiter and newline."""
    from primbench.primitives.registry import build_dataset

    dataset = build_dataset(preset, 0)
    longest = 0
    for split in ("train", "validation", "test"):
        capacity = dataset.capacity(split)
        count = ANSWER_SAMPLE if capacity is None else min(ANSWER_SAMPLE, capacity)
        longest = max([longest, *(len(record["answer"]) for record in dataset.records(split, count))])
    return generation_budget(longest)


def generation_budget(longest_answer: int) -> int:
    """`max_gen_toks` for answers of at most `longest_answer` characters: room for the delimiter space and the
    stop newline too (a character bound, so any tokenizer fits: an ASCII token holds at least one character)."""
    return longest_answer + 2


def render() -> dict[Path, str]:
    """Relative path -> YAML text of every generated file."""
    from primbench.primitives.registry import PRESETS, PRIMITIVES

    files: dict[Path, str] = {}
    for primitive in PRIMITIVES:
        files[Path(primitive) / f"_{primitive}.yaml"] = _dump(
            {"include": "../_default.yaml"}, f"# Family base of {primitive}: its tasks state only their preset.\n"
        )
    for preset_name, preset in PRESETS.items():
        folder = Path(preset.primitive)
        files[folder / f"{task_name(preset_name)}.yaml"] = _dump(
            {
                "include": f"_{preset.primitive}.yaml",
                "task": task_name(preset_name),
                "dataset_kwargs": {"preset": preset_name},
                "metadata": {"version": task_version(task_name(preset_name))},
            }
        )
        files[folder / f"{task_name(preset_name, True)}.yaml"] = _dump(
            {
                "include": [f"{task_name(preset_name)}.yaml", "../_generate.yaml"],
                "task": task_name(preset_name, True),
                "generation_kwargs": {
                    "until": ["\n"],
                    "do_sample": False,
                    "temperature": 0.0,
                    "max_gen_toks": max_gen_toks(preset_name),
                },
                "metadata": {"version": task_version(task_name(preset_name, True))},
            }
        )
    for name, tasks in group_members().items():
        files[Path("groups") / f"{name}.yaml"] = _dump(_group(name, tasks, generation=name.endswith("_gen")))
    return files


def _group(name: str, tasks: list[str], generation: bool) -> dict:
    """A group whose row is the plain mean of its tasks (the paper's "avg"), not weighted by item counts."""
    metric = (
        {"metric": "exact_match", "filter_list": ["strict-match", "flexible-extract"]}
        if generation
        else {"metric": "acc"}
    )
    return {
        "group": name,
        "task": tasks,
        "aggregate_metric_list": [{**metric, "aggregation": "mean", "weight_by_size": False}],
        "metadata": {
            "version": revised_version(
                GENERATION_GROUP_VERSION if generation else GROUP_VERSION,
                any(task.removeprefix("prim_").removesuffix("_gen") in REVISED_PRESETS for task in tasks),
            )
        },
    }


def task_version(task: str) -> float:
    """The `metadata.version` of a primbench task (`prim_<preset>[_gen]`), as its YAML states it."""
    generation = task.endswith("_gen")
    preset = task.removeprefix("prim_").removesuffix("_gen")
    return revised_version(GENERATION_TASK_VERSION if generation else TASK_VERSION, preset in REVISED_PRESETS)


def revised_version(version: float, revised: bool) -> float:
    """`version`, a tenth higher for a task or group whose data a REVISED_PRESETS change moved."""
    return round(version + 0.1, 1) if revised else version


class _Dumper(yaml.SafeDumper):
    """Writes strings holding a newline in double quotes ("\\n"), the way a person would."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if "\n" in text else None),
)


def _dump(config: dict, comment: str = "") -> str:
    return HEADER + comment + yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110)


def stale_files(root: Path = TASKS_DIR) -> list[str]:
    """Generated files that are missing or differ on disk, plus generated-looking files no preset explains."""
    wanted = render()
    stale = [
        str(path) for path, text in wanted.items() if not (root / path).is_file() or (root / path).read_text() != text
    ]
    for path in root.glob("**/*.yaml"):
        relative = path.relative_to(root)
        if relative not in wanted and path.read_text().startswith(HEADER):
            stale.append(str(relative))
    return sorted(stale)


def write(root: Path = TASKS_DIR) -> None:
    """Rewrite every generated file (each through a temporary name) and delete generated files now orphaned."""
    wanted = render()
    for relative, text in wanted.items():
        write_text(text, root / relative)
    for path in root.glob("**/*.yaml"):
        if path.relative_to(root) not in wanted and path.read_text().startswith(HEADER):
            path.unlink()


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        stale = stale_files()
        if stale:
            print("stale task YAML (run `python -m primbench.tasks.registry`): " + ", ".join(stale))
            sys.exit(1)
    else:
        write()
