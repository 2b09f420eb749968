"""`generate`'s folders: manifest, dataset card, byte-identical reruns, and nothing left behind on failure."""

import json
import os

import pytest
import yaml

from primbench.primitives.errors import PrimitiveError
from primbench.primitives.export import read_split, sha256_of, write_split
from primbench.primitives.writer import DEFAULT_COUNTS, generate

COUNTS = {"train": 20, "validation": 5, "test": 7}


def test_folder_layout_manifest_and_card(tmp_path):
    manifests = generate(
        ["variable_assignment_d1_code", "arithmetic_psm"], tmp_path / "out", COUNTS, seed=3, progress=False
    )
    assert sorted(os.listdir(tmp_path / "out")) == ["arithmetic_psm", "variable_assignment_d1_code"]
    folder = tmp_path / "out" / "variable_assignment_d1_code"
    assert sorted(os.listdir(folder)) == ["README.md", "manifest.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == manifests[0]
    assert manifest["preset"] == "variable_assignment_d1_code" and manifest["seed"] == 3
    assert manifest["knobs"]["depth"] == 1 and manifest["counts"] == COUNTS
    assert manifest["primbench_version"]
    assert manifest["files"] == {
        name: sha256_of(folder / name) for name in ("train.jsonl", "validation.jsonl", "test.jsonl")
    }
    assert [len(read_split(folder / f"{s}.jsonl")) for s in COUNTS] == list(COUNTS.values())
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["configs"][0]["data_files"] == [{"split": s, "path": f"{s}.jsonl"} for s in COUNTS]
    assert header["license"] == "apache-2.0" and header["task_categories"] == ["text-generation"]
    assert manifest["command"] in card


def test_rerun_is_byte_identical_and_the_manifest_command_reproduces_it(tmp_path):
    first = generate(["induction_copy_words_span"], tmp_path / "a", COUNTS, seed=5, progress=False)[0]
    second = generate(["induction_copy_words_span"], tmp_path / "b", COUNTS, seed=5, progress=False)[0]
    assert first["files"] == second["files"]
    for name in ("README.md", "manifest.json"):
        assert (tmp_path / "a/induction_copy_words_span" / name).read_bytes() == (
            tmp_path / "b/induction_copy_words_span" / name
        ).read_bytes()
    assert "--seed 5 --n-train 20 --n-val 5 --n-test 7 --format jsonl" in first["command"]


def test_default_counts_are_capped_at_capacity_and_given_counts_are_checked(tmp_path):
    manifest = generate(["arithmetic_psm"], tmp_path / "out", seed=0, progress=False)[0]
    assert manifest["counts"] == manifest["capacity"]
    assert all(manifest["capacity"][split] < DEFAULT_COUNTS[split] for split in COUNTS)
    with pytest.raises(PrimitiveError, match="asked for 100 test records but its knobs allow only 110"):
        generate(["arithmetic_psm"], tmp_path / "new", {"test": 100}, seed=0, progress=False, strict=True)
    assert not (tmp_path / "new").exists()


def test_counts_above_capacity_are_clipped_with_one_warning_line_per_split(tmp_path, capsys):
    """PSM holds 110 problems: 60 train, 5 validation, 45 test (the small-space shares of primitives/dataset.py)."""
    asked = {"train": 1_000, "validation": 3, "test": 100}
    manifests = generate(
        ["arithmetic_psm", "variable_assignment_d0_math"], tmp_path / "out", asked, seed=0, progress=False
    )
    psm, va = manifests
    assert psm["counts"] == {"train": 60, "validation": 3, "test": 45}
    assert va["counts"] == asked  # a large space holds them all
    assert capsys.readouterr().err.splitlines() == [
        "warning: arithmetic_psm: its train split holds 60 distinct problems, so it gets 60 records, not 1000 "
        "(--strict refuses instead)",
        "warning: arithmetic_psm: its test split holds 45 distinct problems, so it gets 45 records, not 100 "
        "(--strict refuses instead)",
    ]
    assert len((tmp_path / "out" / "arithmetic_psm" / "train.jsonl").read_text().splitlines()) == 60


def test_failure_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    from primbench.primitives import writer

    calls = []

    def failing_write(records, path, fmt):
        calls.append(path.name)
        if len(calls) == 4:  # the second preset's first split
            raise OSError("disk full")
        return write_split(records, path, fmt)

    monkeypatch.setattr(writer, "write_split", failing_write)
    with pytest.raises(OSError, match="disk full"):
        generate(["arithmetic_psm", "arithmetic_mixed"], tmp_path / "out", COUNTS, seed=0, progress=False)
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    calls.clear()
    with pytest.raises(OSError):
        generate(
            ["arithmetic_psm", "arithmetic_mixed"], tmp_path / "kept", COUNTS, seed=0, overwrite=True, progress=False
        )
    assert os.listdir(tmp_path / "kept") == ["notes.txt"]


def test_overwrite_replaces_preset_folders_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    generate(["arithmetic_psm"], out, COUNTS, seed=0, progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(PrimitiveError, match="is not empty; pass --overwrite"):
        generate(["arithmetic_psm"], out, COUNTS, seed=1, progress=False)
    generate(["arithmetic_psm"], out, COUNTS, seed=1, overwrite=True, progress=False)
    assert sorted(os.listdir(out)) == ["arithmetic_psm", "notes.txt"]
    assert json.loads((out / "arithmetic_psm" / "manifest.json").read_text())["seed"] == 1


@pytest.mark.parametrize(
    "fmt, files",
    [
        ("parquet", ["test.parquet", "train.parquet", "validation.parquet"]),
        ("hf", ["dataset_dict.json", "test", "train", "validation"]),
    ],
)
def test_parquet_and_hf_folders_round_trip(tmp_path, fmt, files):
    from primbench.primitives.export import read_generated

    generate(["variable_assignment_d0_math"], tmp_path / "j", COUNTS, seed=2, progress=False)
    generate(["variable_assignment_d0_math"], tmp_path / "o", COUNTS, seed=2, fmt=fmt, progress=False)
    folder = tmp_path / "o" / "variable_assignment_d0_math"
    assert sorted(os.listdir(folder)) == sorted(files + ["README.md", "manifest.json"])
    assert read_generated(folder) == read_generated(tmp_path / "j" / "variable_assignment_d0_math")


def test_hf_folder_loads_as_a_datasetdict(tmp_path):
    import datasets

    generate(["arithmetic_psm"], tmp_path / "o", COUNTS, seed=2, fmt="hf", progress=False)
    loaded = datasets.load_from_disk(str(tmp_path / "o" / "arithmetic_psm"))
    assert {split: loaded[split].num_rows for split in loaded} == COUNTS


def test_set_applies_to_presets_that_have_the_knob(tmp_path):
    manifests = generate(
        ["variable_assignment_d1_math", "arithmetic_psm"],
        tmp_path / "o",
        COUNTS,
        seed=0,
        overrides={"depth": "3"},
        progress=False,
    )
    assert manifests[0]["knobs"]["depth"] == 3 and "depth" not in manifests[1]["knobs"]
    assert "--set depth=3" in manifests[0]["command"] and "--set" not in manifests[1]["command"]
    with pytest.raises(
        PrimitiveError, match="unknown knob 'dpeth' for variable_assignment_d1_math, arithmetic_psm; did you mean depth"
    ):
        generate(
            ["variable_assignment_d1_math", "arithmetic_psm"], tmp_path / "p", COUNTS, seed=0, overrides={"dpeth": "3"}
        )
    assert not (tmp_path / "p").exists()


def test_datasets_load_dataset_reads_a_jsonl_preset_folder_through_its_card(tmp_path):
    import datasets

    generate(["induction_copy_words"], tmp_path / "o", COUNTS, seed=2, progress=False)
    loaded = datasets.load_dataset(str(tmp_path / "o" / "induction_copy_words"), cache_dir=str(tmp_path / "cache"))
    assert {split: loaded[split].num_rows for split in loaded} == COUNTS
    assert loaded["test"][0]["prompt"] == read_split(tmp_path / "o/induction_copy_words/test.jsonl")[0]["prompt"]


def test_a_user_template_that_hides_drawn_values_cannot_put_one_prompt_in_two_splits(tmp_path):
    template = tmp_path / "query_only.j2"
    template.write_text("What is the value of {{ query }}?\nAnswer:", encoding="utf-8")  # hides the statements
    with pytest.raises(PrimitiveError, match="query_only.j2 renders the same prompt for problems of two splits"):
        generate(["variable_assignment_d0_math"], tmp_path / "out", COUNTS, seed=0, template=template, progress=False)
    assert not (tmp_path / "out").exists()
