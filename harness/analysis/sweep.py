"""Difficulty sweeps: each model's accuracy on one preset as its knobs move (depth, chains, length, filler ...).

Every point is scored by `evaluate` on the preset's own lm-eval task with `metadata={"knobs": point}`, so its
items are exactly those `primbench eval --metadata '{"knobs": ...}'` scores, and its chance level is estimated on
the same knobs. Knob names and values are checked (the knob must belong to the preset's primitive, every point
must build a dataset) before any weights load, and each model loads once for all of its points.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path

from primbench.harness.errors import CommandLineError

COLUMNS = ("model", "preset", "knob", "value", "accuracy", "stderr", "n", "chance")


@dataclasses.dataclass(frozen=True)
class SweepRow:
    """One model at one knob setting; `truncated` counts prompts cut by its context (not a CSV column)."""

    model: str
    preset: str
    knob: str
    value: str
    accuracy: float
    stderr: float | None
    n: int
    chance: float
    truncated: int = 0

    def csv_fields(self) -> list:
        return [getattr(self, column) for column in COLUMNS]


def parse_knob_options(items: Sequence[str]) -> dict[str, list[str]]:
    """`["depth=0,1,2", "chains=2,5"]` -> `{"depth": ["0", "1", "2"], "chains": ["2", "5"]}`, in order given."""
    knobs: dict[str, list[str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, values = name.strip(), [value.strip() for value in text.split(",") if value.strip()]
        if not sep or not name or not values:
            raise CommandLineError(f"malformed --knob {item!r}; write it as NAME=V1,V2,..., e.g. --knob depth=0,1,2")
        if name in knobs:
            raise CommandLineError(f"--knob {name} is given twice; list all of its values in one --knob")
        knobs[name] = values
    if not knobs:
        raise CommandLineError("no --knob given; e.g. --knob depth=0,1,2,3,4")
    return knobs


def grid_points(knobs: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the knobs' values (one knob: its values), the first knob varying slowest."""
    return [dict(zip(knobs, values)) for values in itertools.product(*knobs.values())]


def check_grid(preset: str, points: list[dict[str, str]]) -> None:
    """Raise PrimitiveError unless every point is a valid knob setting of `preset`'s primitive.

    `--metadata knobs` quietly skips a knob that the preset's primitive lacks (it may belong to another task of
    the run); a sweep over such a knob would score one setting many times, so here it is an error.
    """
    from primbench.primitives.registry import build_dataset, route_knobs

    for point in points:
        route_knobs(point, [preset], where=f"for preset {preset}")
        build_dataset(preset, 0, overrides=point)  # runs the primitive's range and cross-knob checks


def sweep(
    models: Sequence[str | Path],
    preset: str,
    knobs: dict[str, list[str]],
    shots: int = 5,
    limit: int | None = None,
    generation: bool = False,
    batch_size: int = 8,
    progress: bool = True,
    allow_truncation: bool = False,
) -> list[SweepRow]:
    """Score every model at every point of the knob grid on `preset` (its `_gen` twin with `generation`).

    As in `evaluate`, a point whose prompts do not fit a model's context is refused unless `allow_truncation`
    (then its rows count the cut prompts in `truncated`)."""
    from tqdm.auto import tqdm

    from primbench.harness.evaluation.evaluate import evaluate
    from primbench.harness.evaluation.models import check_model_source, load_causal_lm, load_tokenizer
    from primbench.primitives.registry import get_preset
    from primbench.tasks.registry import task_name
    from primbench.tasks.selection import CHANCE_ITEMS, chance_level

    get_preset(preset)
    points = grid_points(knobs)
    check_grid(preset, points)
    for model in models:
        check_model_source(str(model))
    task = task_name(preset, generation)
    knob_label = ",".join(knobs)
    chances = {index: chance_level(task, CHANCE_ITEMS, knobs=point) for index, point in enumerate(points)}
    metadata = {"n": limit} if limit is not None else {}
    rows: list[SweepRow] = []
    bar = tqdm(total=len(models) * len(points), desc="sweep", unit="point", disable=not progress)
    for model in models:
        loaded, tokenizer = load_causal_lm(model, what="model").eval(), load_tokenizer(str(model))
        for index, point in enumerate(points):
            bar.set_postfix_str(f"{Path(model).name} {point}")
            result = evaluate(
                loaded,
                [task],
                shots=shots,
                limit=limit,
                tokenizer=tokenizer,
                batch_size=batch_size,
                metadata={**metadata, "knobs": point},
                log_samples=False,
                quiet=True,
                allow_truncation=allow_truncation,
            )
            score = result.score(task)
            rows.append(
                SweepRow(
                    model=str(model),
                    preset=preset,
                    knob=knob_label,
                    value=",".join(point.values()),
                    accuracy=score.accuracy,
                    stderr=score.stderr,
                    n=score.n,
                    chance=chances[index],
                    truncated=result.truncated.get(task, 0),
                )
            )
            bar.update()
        del loaded
    bar.close()
    return rows
