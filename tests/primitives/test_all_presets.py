"""The contract every preset keeps: record shape, determinism, golden bytes, disjoint splits, solver agreement."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

import primitives
from primitives.dataset import SPLITS, split_of
from primitives.errors import PrimitiveError
from primitives.registry import PAPER_SUITE, PRESETS, PRIMITIVES, build_dataset, get_preset

KEYS = ["id", "primitive", "preset", "split", "index", "prompt", "answer", "meta"]
SEED = 2024
# sha256 (first 32 hex digits) of the JSON of records 0-2 of train, validation and test under seed 2024.
# A change here changes every user's data: bump the version and say so in the changelog.
GOLDEN = {
    "induction_copy_words": "0b72d8f0bd9bcd08ff7621aeadc67be3",
    "induction_copy_letters": "e37195baca8dbdcbcda3cd9dcfcae6a7",
    "induction_copy_digits": "1ef9a016f242990457e64ffdc2485f4b",
    "induction_copy_syllables": "33c40c3899cd5a3c519d70395741f05b",
    "induction_copy_words_span": "573ada37577a65794b7d0739626a5760",
    "induction_copy_words_gap": "725695c98652db37c3358b8617a79b03",
    "variable_assignment_d0_math": "a4bb1b0505695f48c708903a367ffb8d",
    "variable_assignment_d0_code": "bdd8b4bb4eb37d432d4e69567f01808f",
    "variable_assignment_d1_math": "3a86a9a98f4f9b5f91190e42593662e1",
    "variable_assignment_d1_code": "b25d8f234561c80cd8fbf125f7f8786e",
    "variable_assignment_d2_math": "fa718c9d0ccb73a66091dfa5bc676b7d",
    "variable_assignment_d2_code": "98bfb40a18da00f88330b4c85107f49d",
    "variable_assignment_d3_math": "a27e47f42f72fbd2a430ea55ca8e326d",
    "variable_assignment_d2_math_interleaved": "6aa418c1b831c6b5c7199a318bca1e4e",
    "arithmetic_psm": "8d38077cef1d1eba6241b723e2717661",
    "arithmetic_psm3": "a8f4c49cd03bf2e76019839f97eb3b2e",
    "arithmetic_two_digit": "3bd7a468922284a82e6d5a8eda9e380d",
    "arithmetic_mixed": "87694ab531b207cb7150c96e2d919fa2",
    "arithmetic_negatives": "1fe576c21bd6fcde4f3584eed5c90803",
    "arithmetic_assign": "df3d847ba3368063e3c2cdb246da2699",
    "arithmetic_assign3": "55ef82381c3fb7994540efa0e6e2da43",
}
FINGERPRINT = """
import hashlib, json
from primitives.registry import PRESETS, build_dataset
digest = hashlib.sha256()
for name in PRESETS:
    dataset = build_dataset(name, 2024)
    for split in ("train", "validation", "test"):
        for record in dataset.records(split, 3):
            digest.update(json.dumps(record).encode())
print(digest.hexdigest())
"""


def golden_digest(name: str) -> str:
    dataset = build_dataset(name, SEED)
    digest = hashlib.sha256()
    for split in SPLITS:
        for record in dataset.records(split, 3):
            digest.update(json.dumps(record).encode())
    return digest.hexdigest()


def sample(name: str, per_split: int) -> dict[str, list[dict]]:
    dataset = build_dataset(name, SEED)
    return {split: list(dataset.records(split, min(per_split, dataset.capacity(split) or per_split)))
            for split in SPLITS}


def test_every_preset_has_a_golden_digest():
    assert sorted(GOLDEN) == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_golden_bytes(name):
    assert golden_digest(name)[:32] == GOLDEN[name]


def test_readable_golden_records():
    assert build_dataset("arithmetic_psm", SEED).record("test", 0) == {
        "id": "arithmetic/psm/test/000000", "primitive": "arithmetic", "preset": "arithmetic_psm", "split": "test",
        "index": 0, "prompt": "What is 8 - 2?\nAnswer:", "answer": "6",
        "meta": {"operands": [8, 2], "operators": ["-"], "expression": "8 - 2", "result": 6}}
    record = build_dataset("induction_copy_words", SEED).record("train", 0)
    assert record["prompt"] == ("Sequence: grass park boy apple wolf wine plate music grass\n"
                                "Continue the sequence with the next 1 word.\nAnswer:")
    assert record["answer"] == "park"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_solver_agrees_with_the_answer_on_thousands_of_records(name):
    records = sample(name, 700)
    checked = 0
    for split, items in records.items():
        for record in items:
            assert list(record) == KEYS
            assert record["split"] == split and record["preset"] == name
            assert record["id"] == f"{record['primitive']}/{get_preset(name).variant}/{split}/{record['index']:06d}"
            assert record["prompt"].endswith("Answer:")
            assert isinstance(record["answer"], str) and record["answer"] == record["answer"].strip() != ""
            assert primitives.solve(record) == record["answer"], record["prompt"]
            checked += 1
    dataset = build_dataset(name, SEED)
    assert checked == sum(min(700, dataset.capacity(split) or 700) for split in SPLITS)
    assert checked >= 2000 or dataset.capacity("train") is not None  # only small enumerated spaces hold fewer


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_splits_are_disjoint_and_each_prompt_hashes_to_its_split(name):
    records = sample(name, 300)
    prompts = {split: {r["prompt"] for r in items} for split, items in records.items()}
    assert not prompts["train"] & prompts["validation"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["validation"] & prompts["test"]
    assert all(split_of(prompt) == split for split, texts in prompts.items() for prompt in texts)


def test_splits_stay_disjoint_across_seeds():
    """The split is a function of the prompt alone, so one seed's train never holds another seed's test."""
    train = {r["prompt"] for r in build_dataset("arithmetic_two_digit", 1).records("train", 2000)}
    test = {r["prompt"] for r in build_dataset("arithmetic_two_digit", 2).records("test", 2000)}
    assert not train & test


def test_random_access_equals_iteration_and_rebuilding():
    dataset = build_dataset("variable_assignment_d2_code", 9)
    streamed = list(dataset.records("test", 20, start=40))
    assert streamed == [dataset.record("test", i) for i in range(40, 60)]
    assert streamed == [build_dataset("variable_assignment_d2_code", 9).record("test", i) for i in range(40, 60)]


def test_neighbouring_seeds_and_presets_do_not_share_streams():
    a, b = build_dataset("induction_copy_words", 0), build_dataset("induction_copy_words", 1)
    assert [a.record("train", i)["prompt"] for i in range(1, 50)] != [b.record("train", i)["prompt"]
                                                                       for i in range(0, 49)]
    assert not {a.record("train", i)["prompt"] for i in range(200)} & {b.record("train", i)["prompt"]
                                                                        for i in range(200)}


def test_records_do_not_depend_on_pythonhashseed():
    digests = set()
    for hash_seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", FINGERPRINT], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_score_is_exact_match_up_to_surrounding_whitespace():
    record = build_dataset("induction_copy_words_span", 0).record("test", 0)
    assert primitives.score(record["answer"], record)
    assert primitives.score(f"  {record['answer']}\n", record)
    assert not primitives.score(record["answer"].replace(" ", "  "), record)
    assert not primitives.score(record["answer"].upper(), record)
    assert not primitives.score(record["answer"] + ".", record)
    assert all(module.score(" 7 ", {"answer": "7"}) for module in PRIMITIVES.values())


def test_solve_recognises_the_primitive_from_a_bare_prompt():
    for name in PRESETS:
        record = build_dataset(name, 0).record("train", 0)
        assert primitives.solve(record["prompt"]) == record["answer"]
    with pytest.raises(PrimitiveError, match="no primitive's solver understands"):
        primitives.solve("Hello there")
    with pytest.raises(PrimitiveError, match="unknown primitive 'algebra'"):
        primitives.solve("What is 1 + 1?", "algebra")


def test_paper_suite_and_unknown_names():
    assert PAPER_SUITE == ["induction_copy_words", "variable_assignment_d0_math", "variable_assignment_d0_code",
                           "variable_assignment_d1_math", "variable_assignment_d1_code",
                           "variable_assignment_d2_math", "variable_assignment_d2_code", "arithmetic_psm"]
    assert set(PAPER_SUITE) <= set(PRESETS)
    with pytest.raises(PrimitiveError, match="did you mean variable_assignment_d1_math"):
        get_preset("variable_assignment_d1_maht")
    with pytest.raises(PrimitiveError, match="unknown knob 'dept'.*did you mean depth"):
        build_dataset("variable_assignment_d1_math", 0, {"dept": 2})
    with pytest.raises(PrimitiveError, match="seed must be a non-negative integer"):
        build_dataset("arithmetic_psm", -1)
    with pytest.raises(PrimitiveError, match="unknown split 'dev'"):
        build_dataset("arithmetic_psm", 0).record("dev", 0)


def test_primitives_import_nothing_heavy_or_of_ours():
    code = ("import sys, primitives.registry, primitives.export, primitives.writer, primitives.describe; "
            "print(sorted(m for m in ('torch', 'lm_eval', 'transformers', 'datasets', 'pyarrow', 'harness', "
            "'tasks', 'model_zoo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
