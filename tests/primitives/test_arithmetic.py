"""Arithmetic: PSM's exact problem space, each knob honoured, precedence, and the assign form."""

import itertools
import re

import pytest

from primbench.primitives import solve
from primbench.primitives.dataset import SPLITS, split_of
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import build_dataset

EXPRESSION = re.compile(r"What is (.+)\?\nAnswer:$")


def test_psm_space_is_every_single_digit_sum_and_difference_with_result_0_to_9():
    dataset = build_dataset("arithmetic_psm", 0)
    expected = {
        f"{a} {op} {b}"
        for a, b in itertools.product(range(10), repeat=2)
        for op in "+-"
        if 0 <= (a + b if op == "+" else a - b) <= 9
    }
    assert len(expected) == 110
    seen = [
        EXPRESSION.search(r["prompt"]).group(1)
        for split in SPLITS
        for r in dataset.records(split, dataset.capacity(split))
    ]
    assert len(seen) == len(set(seen)) == 110 and set(seen) == expected
    assert sum(dataset.capacity(split) for split in SPLITS) == 110


def test_psm_refuses_more_items_than_a_split_holds_with_the_numbers():
    dataset = build_dataset("arithmetic_psm", 0)
    test_capacity = dataset.capacity("test")
    with pytest.raises(
        PrimitiveError,
        match=f"asked for 500 test records but its knobs allow only 110 distinct "
        f"problems, {test_capacity} of them in test",
    ):
        dataset.check_counts({"test": 500})
    with pytest.raises(PrimitiveError, match=f"holds {test_capacity} distinct problems"):
        dataset.record("test", test_capacity)


def test_small_spaces_give_test_half_their_problems_and_never_test_a_problem_another_space_trains_on():
    psm = build_dataset("arithmetic_psm", 0)
    assert psm.small_space and psm.split_shares["test"] == 0.5
    assert {split: psm.capacity(split) for split in SPLITS} == {"train": 60, "validation": 5, "test": 45}
    assert not build_dataset("arithmetic_two_digit", 0).small_space
    for meta in psm.primitive.enumerate_problems(psm.config, 1000):  # the two size classes nest
        key = psm.primitive.problem_key(meta)
        small, large = split_of(key, small_space=True), split_of(key, small_space=False)
        assert (small, large) in {("train", "train"), ("validation", "train"), ("test", "validation"), ("test", "test")}


@pytest.mark.parametrize(
    "overrides",
    [
        {"operands": 4, "digits": 2, "operators": "+-*"},
        {"operands": 3, "negatives": True},
        {"digits": 2, "operators": "*", "min_result": -50, "max_result": 50, "negatives": True},
    ],
)
def test_operand_count_digits_operators_and_bounds_are_honoured(overrides):
    dataset = build_dataset("arithmetic_two_digit", 5, overrides)
    config = dataset.config
    largest = 10**config.digits - 1
    negatives_seen = False
    for record in dataset.records("train", 200):
        meta = record["meta"]
        assert len(meta["operands"]) == config.operands and len(meta["operators"]) == config.operands - 1
        assert set(meta["operators"]) <= set(config.operators)
        assert all(abs(n) <= largest for n in meta["operands"])
        negatives_seen |= any(n < 0 for n in meta["operands"])
        result = int(record["answer"])
        assert config.min_result is None or result >= config.min_result
        assert config.max_result is None or result <= config.max_result
    assert negatives_seen == config.negatives


def test_multiplication_binds_tighter_and_negatives_are_parenthesised():
    assert solve("What is 2 + 3 * 4?\nAnswer:", "arithmetic") == "14"
    assert solve("What is 8 - 2 * 3 - 1?\nAnswer:", "arithmetic") == "1"
    assert solve("What is 5 - (-3) * 2?\nAnswer:", "arithmetic") == "11"
    record = next(
        r
        for r in build_dataset("arithmetic_negatives", 0).records("train", 100)
        if any(n < 0 for n in r["meta"]["operands"][1:])
    )
    assert re.search(r"[+-] \(-\d\)", record["prompt"])


def test_assign_form_assigns_each_operand_then_asks_over_the_names():
    for record in build_dataset("arithmetic_assign3", 0).records("test", 50):
        lines = record["prompt"].split("\n")
        names = record["meta"]["names"]
        assert lines[:3] == [f"{name} = {value}" for name, value in zip(names, record["meta"]["operands"])]
        assert re.fullmatch(r"What is [a-z] [-+*] [a-z] [-+*] [a-z]\?", lines[3]) and lines[4] == "Answer:"
        assert len(set(names)) == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"operators": "+/"}, "must be distinct characters from + - *"),
        ({"operators": "++"}, "must be distinct characters"),
        ({"min_result": 5, "max_result": 1}, "min_result 5 exceeds max_result 1"),
        ({"operands": 1}, "out of range 2..8"),
        ({"digits": 0}, "out of range 1..6"),
        ({"negatives": "maybe"}, "takes bool values"),
        ({"max_result": "ten"}, "takes int? values"),
    ],
)
def test_bad_knobs_are_rejected(overrides, message):
    with pytest.raises(PrimitiveError, match=re.escape(message)):
        build_dataset("arithmetic_psm", 0, overrides)


def test_bounds_no_expression_can_meet_are_reported():
    with pytest.raises(PrimitiveError, match="no expression gives a result in 50..60"):
        build_dataset("arithmetic_psm", 0, {"min_result": 50, "max_result": 60}).record("train", 0)
    with pytest.raises(PrimitiveError, match="no expression with 2 operands"):
        build_dataset("arithmetic_assign", 0, {"min_result": 500, "max_result": 600}).record("train", 0)
