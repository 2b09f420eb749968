"""The contract every preset keeps: record shape, determinism, golden bytes, disjoint splits, solver agreement."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

import primbench.primitives as primitives
from primbench.primitives.dataset import SPLITS
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import (
    PAPER_SUITE,
    PRESETS,
    PRIMITIVES,
    build_dataset,
    get_preset,
)

KEYS = ["id", "primitive", "preset", "split", "index", "prompt", "answer", "meta"]
# Presets whose knob space holds fewer than 2,000 problems (so fewer records can be checked): PSM and its
# three-operand variant, and the single-digit negatives.
SMALL_SPACES = {"arithmetic_psm", "arithmetic_psm3", "arithmetic_negatives"}
SEED = 2024
# sha256 (first 32 hex digits) of the JSON of records 0-2 of train, validation and test under seed 2024.
# A change here changes every user's data: bump the version and say so in the changelog.
GOLDEN = {
    "induction_copy_words": "dd8807675ca1686686c769d03528c0c7",
    "induction_copy_letters": "71e8d035336a636fc61e2bcd39b679c7",
    "induction_copy_digits": "cc8e7c3b0b78166bbce4a339baf99c3b",
    "induction_copy_syllables": "cfeefb9b5b86597640930114447a32b6",
    "induction_copy_words_span": "f0ef45a6788b510cb21790740f78742b",
    "induction_copy_words_gap": "efa88378cb0472f2dd08f2593047065b",
    "variable_assignment_d0_math": "6e62e303ff40b8cc21db050e1ad173da",
    "variable_assignment_d0_code": "87df28a91ae3e7fd4542760addb3a902",
    "variable_assignment_d1_math": "93616b5554e29cd75328277cc681b4c5",
    "variable_assignment_d1_code": "1b73d6dde55a783e9e8593a0ee9a6b81",
    "variable_assignment_d2_math": "c3830d58ffc5b4d65f780a3a40d76c92",
    "variable_assignment_d2_code": "6fbf62314e2ef6c5978eda1ebb135433",
    "variable_assignment_d3_math": "bba326b97cfb7c40bdd32131dc2c6af3",
    "variable_assignment_d2_math_interleaved": "4ec955ce1b3dac156c42979e3ff7e60f",
    "arithmetic_psm": "504a93049bd5026b096679a5a818c905",
    "arithmetic_psm3": "ae6fecad8a5dac1275cbedc0b8d6132f",
    "arithmetic_two_digit": "fde046973d0bf8eb69b41122af969706",
    "arithmetic_mixed": "35c1498fca032fd5e92928b18f50c0e9",
    "arithmetic_negatives": "dd9d96bfa69f50a888a28e9a5ef9c807",
    "arithmetic_assign": "d15703f5f1d31ca039d14765180c89fa",
    "arithmetic_assign3": "45ecd8cde3fc356e32166e09f27e2bbe",
}
FINGERPRINT = """
import hashlib, json
from primbench.primitives.registry import PRESETS, build_dataset
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
    return {
        split: list(dataset.records(split, min(per_split, dataset.capacity(split) or per_split))) for split in SPLITS
    }


def test_every_preset_has_a_golden_digest():
    assert sorted(GOLDEN) == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_golden_bytes(name):
    assert golden_digest(name)[:32] == GOLDEN[name]


def test_readable_golden_records():
    assert build_dataset("arithmetic_psm", SEED).record("test", 3) == {
        "id": "arithmetic/psm/test/000003",
        "primitive": "arithmetic",
        "preset": "arithmetic_psm",
        "split": "test",
        "index": 3,
        "prompt": "What is 9 - 6?\nAnswer:",
        "answer": "3",
        "meta": {"operands": [9, 6], "operators": ["-"], "expression": "9 - 6", "result": 3},
    }
    record = build_dataset("induction_copy_words", SEED).record("train", 0)
    assert record["prompt"] == (
        "Sequence: wine oil iron orange apple fire boy gold wine\nContinue the sequence with the next 1 word.\nAnswer:"
    )
    assert record["answer"] == "oil"


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
    assert checked >= 2000 or name in SMALL_SPACES, f"{name}: only {checked} records checked"


def test_psm_holds_every_single_digit_sum_and_difference_with_a_result_0_to_9():
    """Counted by brute force, independently of the primitive: a+b in 0..9 gives 55 pairs, a-b in 0..9 gives 55."""
    expected = {
        f"{a} {op} {b}"
        for a in range(10)
        for b in range(10)
        for op in "+-"
        if 0 <= (a + b if op == "+" else a - b) <= 9
    }
    dataset = build_dataset("arithmetic_psm", SEED)
    shown = {
        record["meta"]["expression"] for split in SPLITS for record in dataset.records(split, dataset.capacity(split))
    }
    assert len(expected) == 110
    assert shown == expected


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_splits_are_disjoint_and_each_problem_hashes_to_its_split(name):
    records = sample(name, 300)
    prompts = {split: {r["prompt"] for r in items} for split, items in records.items()}
    assert not prompts["train"] & prompts["validation"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["validation"] & prompts["test"]
    dataset = build_dataset(name, SEED)
    assert all(dataset.split_of_problem(r["meta"]) == split for split, items in records.items() for r in items)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_packaged_templates_show_every_drawn_value(name):
    """Distinct problems render to distinct prompts, so splits chosen by problem are disjoint in prompts."""
    module = PRIMITIVES[get_preset(name).primitive]
    key_of_prompt = {}
    for items in sample(name, 300).values():
        for record in items:
            key_of_prompt.setdefault(record["prompt"], set()).add(module.problem_key(record["meta"]))
    assert all(len(keys) == 1 for keys in key_of_prompt.values())
    keys = [key for keys in key_of_prompt.values() for key in keys]
    assert len(set(keys)) == len(keys)


def test_splits_stay_disjoint_across_seeds():
    """The split is a function of the problem alone, so one seed's train never holds another seed's test."""
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
    assert [a.record("train", i)["prompt"] for i in range(1, 50)] != [b.record("train", i)["prompt"] for i in range(49)]
    assert not {a.record("train", i)["prompt"] for i in range(200)} & {
        b.record("train", i)["prompt"] for i in range(200)
    }


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
    assert PAPER_SUITE == [
        "induction_copy_words",
        "variable_assignment_d0_math",
        "variable_assignment_d0_code",
        "variable_assignment_d1_math",
        "variable_assignment_d1_code",
        "variable_assignment_d2_math",
        "variable_assignment_d2_code",
        "arithmetic_psm",
    ]
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
    code = (
        "import sys, primbench.primitives.registry, primbench.primitives.export, primbench.primitives.writer, "
        "primbench.primitives.describe; "
        "print(sorted(m for m in ('torch', 'lm_eval', 'transformers', 'datasets', 'pyarrow', 'primbench.harness', "
        "'primbench.tasks', 'primbench.model_zoo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_editing_a_record_does_not_change_later_records():
    dataset = build_dataset("arithmetic_psm", 0)  # enumerated: problems are cached
    first = dataset.record("train", 0)
    first["meta"]["operands"].append(99)
    first["meta"]["result"] = -1
    assert dataset.record("train", 0) == build_dataset("arithmetic_psm", 0).record("train", 0)


def test_score_uses_the_records_own_primitive(monkeypatch):
    record = build_dataset("arithmetic_psm", seed=0).record("test", 0)
    calls = []
    monkeypatch.setattr(PRIMITIVES["arithmetic"], "score", lambda prediction, rec: calls.append(prediction) or True)
    assert primitives.score("anything", record) is True
    assert calls == ["anything"]
    with pytest.raises(PrimitiveError, match="unknown primitive 'nope'"):
        primitives.score("1", {**record, "primitive": "nope"})
