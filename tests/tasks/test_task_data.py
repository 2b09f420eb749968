"""The `custom_dataset` hook: sizes, seeds and knobs from --metadata, defaults cut to small knob spaces."""

import json

import pytest

from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import build_dataset
from primbench.tasks.data import DEFAULT_TEST_ITEMS, knobs_for, load_preset, preset_splits


def test_rows_are_the_generator_records_with_meta_as_json():
    splits = load_preset("variable_assignment_d1_code", n=4, n_train=7, seed=11, pretrained="ignored/model")
    assert {name: len(split) for name, split in splits.items()} == {"train": 7, "test": 4}
    records = list(build_dataset("variable_assignment_d1_code", 11).records("test", 4))
    rows = list(splits["test"])
    assert [row["id"] for row in rows] == [record["id"] for record in records]
    assert [row["prompt"] for row in rows] == [record["prompt"] for record in records]
    assert [json.loads(row["meta"]) for row in rows] == [json.loads(json.dumps(r["meta"])) for r in records]


def test_counts_and_seed_accept_strings_from_the_command_line():
    assert preset_splits("arithmetic_psm", n="2", n_train="3", seed="4") == preset_splits("arithmetic_psm", 2, 3, 4)


def test_default_size_is_cut_to_a_small_knob_space():
    dataset = build_dataset("arithmetic_psm", 1234)
    splits = preset_splits("arithmetic_psm")
    assert len(splits["test"]) == min(DEFAULT_TEST_ITEMS, dataset.capacity("test")) < DEFAULT_TEST_ITEMS


def test_asking_for_more_than_a_split_holds_is_an_error_with_the_numbers():
    capacity = build_dataset("arithmetic_psm", 1234).capacity("test")
    with pytest.raises(PrimitiveError, match=f"at most {capacity}"):
        preset_splits("arithmetic_psm", n=capacity + 1)


def test_knobs_reach_only_the_presets_whose_primitive_has_them():
    assert knobs_for("variable_assignment_d0_math", {"chains": 3}) == {"chains": 3}
    assert knobs_for("arithmetic_psm", {"chains": 3}) == {}
    rows = preset_splits("variable_assignment_d0_math", n=5, n_train=1, knobs={"chains": 2})["test"]
    assert all(row["prompt"].count("=") == 2 for row in rows)
    with pytest.raises(PrimitiveError, match="unknown knob 'chians'.*chains"):
        knobs_for("arithmetic_psm", {"chians": 3})


@pytest.mark.parametrize("bad", [{"n": -1}, {"n": "ten"}, {"seed": 1.5}, {"knobs": "[1]"}])
def test_bad_metadata_values_name_the_key(bad):
    with pytest.raises(PrimitiveError, match=list(bad)[0]):
        preset_splits("arithmetic_psm", **bad)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_generated_folder_serves_the_same_rows_as_the_generators(tmp_path, fmt):
    from primbench.primitives.writer import generate

    generate(
        ["variable_assignment_d2_code"],
        tmp_path,
        counts={"train": 6, "validation": 1, "test": 4},
        seed=0,
        fmt=fmt,
        progress=False,
    )
    from_folder = preset_splits("variable_assignment_d2_code", n=3, data=str(tmp_path))
    assert from_folder == preset_splits("variable_assignment_d2_code", n=3, n_train=6, seed=0)
    with pytest.raises(PrimitiveError, match="holds 4 test items but 5"):
        preset_splits("variable_assignment_d2_code", n=5, data=str(tmp_path))
    with pytest.raises(PrimitiveError, match="primbench generate arithmetic_psm"):
        preset_splits("arithmetic_psm", data=str(tmp_path))
