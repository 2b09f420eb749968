"""Exports: JSONL, Parquet and HF folders round-trip to identical records; `datasets` reads the JSONL."""

import json

import pytest

from primbench.primitives.errors import PrimitiveError
from primbench.primitives.export import read_generated, read_split, write_split
from primbench.primitives.registry import build_dataset

# One preset per primitive, including the one whose meta holds an always-empty list (induction filler).
PRESETS = ["induction_copy_words", "variable_assignment_d2_code", "arithmetic_assign3", "arithmetic_psm"]


def records_of(name: str, n: int = 40) -> list[dict]:
    return list(build_dataset(name, 11).records("train", n))


@pytest.mark.parametrize("fmt, filename", [("jsonl", "s.jsonl"), ("parquet", "s.parquet"), ("hf", "s")])
@pytest.mark.parametrize("name", PRESETS)
def test_round_trip_gives_identical_records(tmp_path, fmt, filename, name):
    records = records_of(name)
    assert write_split(iter(records), tmp_path / filename, fmt) == len(records)
    back = read_split(tmp_path / filename)
    assert back == records
    assert [list(r) for r in back] == [list(r) for r in records]  # key order too
    assert [list(r["meta"]) for r in back] == [list(r["meta"]) for r in records]


def test_parquet_streams_in_batches_with_one_schema(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from primbench.primitives import export

    monkeypatch.setattr(export, "BATCH_SIZE", 16)
    records = records_of("variable_assignment_d1_math", 50)
    write_split(records, tmp_path / "s.parquet", "parquet")
    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.num_row_groups == 4
    assert read_split(tmp_path / "s.parquet") == records


@pytest.mark.parametrize("name", PRESETS)
def test_datasets_load_dataset_reads_the_jsonl(tmp_path, name):
    import datasets

    records = records_of(name, 25)
    write_split(records, tmp_path / "train.jsonl")
    loaded = datasets.load_dataset(
        "json", data_files=str(tmp_path / "train.jsonl"), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert loaded.num_rows == 25
    assert [row["prompt"] for row in loaded] == [r["prompt"] for r in records]
    assert [row["answer"] for row in loaded] == [r["answer"] for r in records]
    assert [row["meta"] for row in loaded] == [r["meta"] for r in records]


def test_jsonl_is_one_plain_json_object_per_line(tmp_path):
    records = records_of("arithmetic_psm", 5)
    write_split(records, tmp_path / "s.jsonl")
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records


def test_read_generated_checks_the_manifest(tmp_path):
    from primbench.primitives.writer import generate

    generate(["arithmetic_psm"], tmp_path / "out", {"train": 5, "validation": 4, "test": 3}, seed=0, progress=False)
    folder = tmp_path / "out" / "arithmetic_psm"
    splits = read_generated(folder)
    assert {split: len(items) for split, items in splits.items()} == {"train": 5, "validation": 4, "test": 3}
    with open(folder / "test.jsonl", "a") as stream:
        stream.write("{}\n")
    with pytest.raises(PrimitiveError, match="differ from the sha256 sums"):
        read_generated(folder)
    with pytest.raises(PrimitiveError, match="has no manifest.json"):
        read_generated(tmp_path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(PrimitiveError, match="unknown format 'csv'"):
        write_split([], tmp_path / "x.csv", "csv")
    with pytest.raises(PrimitiveError, match="does not exist"):
        read_split(tmp_path / "nothing.jsonl")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(PrimitiveError, match="cannot tell the format"):
        read_split(tmp_path / "x.txt")
