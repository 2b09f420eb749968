"""Data for the lm-eval tasks, made by the primitives' generators when lm-eval loads a task (as RULER does).

lm-eval hands `custom_dataset` every `--metadata` entry merged with the model arguments (`pretrained=...`), so
`load_preset` takes the keys it knows and ignores the rest. Its keys:

    n        test items per task (default 500, or all a small knob space holds)
    n_train  few-shot pool per task, drawn from the train split (default 100, or all it holds)
    seed     dataset seed (default 0, as `primbench generate`); the few-shot draw has its own seed
    knobs    {knob: value} applied to every selected preset whose primitive has that knob
    data     a folder written by `primbench generate`; its splits replace the generators

Items are a pure function of (preset, knobs, seed, split, index), so the loglikelihood task and its `_gen`
twin score the same items; the built splits are cached per process so the twin does not generate them again.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from primbench.primitives.dataset import DEFAULT_SEED
from primbench.primitives.errors import PrimitiveError

DEFAULT_TEST_ITEMS = 500
DEFAULT_TRAIN_ITEMS = 100
COLUMNS = ("id", "preset", "split", "index", "prompt", "answer")


def load_preset(
    preset: str,
    n: Any = None,
    n_train: Any = None,
    seed: Any = None,
    knobs: Any = None,
    data: Any = None,
    **_model_args_and_other_metadata: Any,
) -> dict:
    """The `custom_dataset` hook: `{"train": Dataset, "test": Dataset}` of one preset."""
    import datasets

    splits = preset_splits(preset, n=n, n_train=n_train, seed=seed, knobs=knobs, data=data)
    return {split: datasets.Dataset.from_list([dict(row) for row in rows]) for split, rows in splits.items()}


def preset_splits(
    preset: str, n: Any = None, n_train: Any = None, seed: Any = None, knobs: Any = None, data: Any = None
) -> dict[str, tuple[dict, ...]]:
    """Rows (id, preset, split, index, prompt, answer, meta as JSON) of the train and test splits of a preset."""
    if data is not None:
        return _rows_from_folder(str(data), preset, _count("n", n, None), _count("n_train", n_train, None))
    knob_items = tuple(sorted(knobs_for(preset, _as_dict(knobs)).items()))
    return _generated_rows(
        preset, _count("n", n, None), _count("n_train", n_train, None), _count("seed", seed, DEFAULT_SEED), knob_items
    )


def knobs_for(preset: str, knobs: dict) -> dict:
    """The subset of `knobs` that `preset`'s primitive has; a knob no primitive has is an error."""
    from primbench.primitives.registry import PRESETS, route_knobs

    return route_knobs(knobs, [preset], known_in=list(PRESETS), where="in --metadata knobs")[preset]


@functools.lru_cache(maxsize=64)
def _generated_rows(
    preset: str, n: int | None, n_train: int | None, seed: int, knob_items: tuple
) -> dict[str, tuple[dict, ...]]:
    """Counts left as None take the default, cut to what a small knob space holds (`PrimitiveDataset.capacity`)."""
    from primbench.primitives.registry import build_dataset

    dataset = build_dataset(preset, seed, overrides=dict(knob_items) or None)
    if n is None:
        n = min(DEFAULT_TEST_ITEMS, dataset.capacity("test") or DEFAULT_TEST_ITEMS)
    if n_train is None:
        n_train = min(DEFAULT_TRAIN_ITEMS, dataset.capacity("train") or DEFAULT_TRAIN_ITEMS)
    dataset.check_counts({"train": n_train, "test": n})
    return {
        "train": tuple(map(_row, dataset.records("train", n_train))),
        "test": tuple(map(_row, dataset.records("test", n))),
    }


@functools.lru_cache(maxsize=64)
def _rows_from_folder(folder: str, preset: str, n: int | None, n_train: int | None) -> dict[str, tuple[dict, ...]]:
    from primbench.primitives.export import read_generated

    preset_folder = Path(folder).expanduser() / preset
    if not (preset_folder / "manifest.json").is_file():
        raise PrimitiveError(
            f"{preset_folder} holds no manifest.json; write it with "
            f"`primbench generate {preset} --out {folder}` or drop `data` from --metadata"
        )
    splits = read_generated(preset_folder)
    for split in ("train", "test"):
        if split not in splits:
            raise PrimitiveError(f"{preset_folder} has no {split} split; regenerate it with `primbench generate`")
    test, train = list(splits["test"]), list(splits["train"])
    for name, rows, wanted in (("test", test, n), ("train", train, n_train)):
        if wanted is not None and wanted > len(rows):
            raise PrimitiveError(
                f"{preset_folder} holds {len(rows)} {name} items but {wanted} were asked for; "
                "generate more or ask for fewer"
            )
    return {"train": tuple(map(_row, train[:n_train])), "test": tuple(map(_row, test[:n]))}


def _row(record: dict) -> dict:
    """A flat row for `datasets`: drawn values vary in type between items, so `meta` travels as JSON text."""
    row = {column: record[column] for column in COLUMNS}
    row["meta"] = json.dumps(record.get("meta", {}), sort_keys=True)
    return row


def _count(name: str, value: Any, default: int | None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or str(value).strip() != str(number):
        raise PrimitiveError(f"--metadata {name}={value!r} is not a whole number >= 0; e.g. {name}={default or 100}")
    return number


def _as_dict(knobs: Any) -> dict:
    if knobs is None:
        return {}
    if isinstance(knobs, str):
        try:
            knobs = json.loads(knobs)
        except json.JSONDecodeError:
            knobs = None
    if not isinstance(knobs, dict):
        raise PrimitiveError(
            '--metadata knobs must map knob names to values, e.g. --metadata \'{"knobs": {"chains": 3}}\''
        )
    return knobs
