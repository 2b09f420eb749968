"""Variable assignment: the paper's forms, depth exactly d, valid statement orders, and each impossible knob."""

import re

import pytest

from primbench.primitives import solve
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import build_dataset

STATEMENT = re.compile(r"^([a-z])\s*=\s*(\w+)$", re.MULTILINE)


def statements(prompt: str) -> list[tuple[str, str]]:
    return STATEMENT.findall(prompt)


def hops(prompt: str) -> int:
    """References followed from the queried variable to a number, counted from the prompt text."""
    values = dict(statements(prompt))
    name = re.search(r"value of ([a-z])\?", prompt).group(1)
    count = 0
    while not values[name].isdigit():
        name, count = values[name], count + 1
    return count


def test_math_form_matches_the_paper_layout():
    record = build_dataset("variable_assignment_d1_math", 0).record("test", 0)
    lines = record["prompt"].split("\n")
    assert lines[:2] == ["The following is a set of simple mathematical equations.", ""]
    assert all(re.fullmatch(r"[a-z]=\w+", line) for line in lines[2:12])
    assert re.fullmatch(r"What is the numerical value of [a-z]\?", lines[12])
    assert lines[13:] == ["Answer:"]


def test_code_form_matches_the_paper_layout():
    record = build_dataset("variable_assignment_d0_code", 0).record("train", 5)
    lines = record["prompt"].split("\n")
    assert lines[0] == (
        "The following is a very short Python program. Use the program to resolve the value of the "
        "variable in the question."
    )
    assert lines[1] == "Program:"
    assert all(re.fullmatch(r"[a-z] = \d+", line) for line in lines[2:7])
    assert lines[7:] == ["", "Question:", lines[9], "Answer:"]
    assert re.fullmatch(r"What is the value of [a-z]\?", lines[9])


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("order", ["levels", "interleaved"])
def test_query_sits_at_exactly_depth_d(depth, order):
    dataset = build_dataset("variable_assignment_d0_math", 3, {"depth": depth, "chains": 4, "order": order})
    for record in dataset.records("validation", 60):
        assert hops(record["prompt"]) == depth
        assert record["meta"]["depth"] == depth and len(record["meta"]["chain"]) == depth + 1
        assert len(statements(record["prompt"])) == 4 * (depth + 1)


@pytest.mark.parametrize("order", ["levels", "interleaved"])
def test_every_variable_is_defined_before_it_is_used(order):
    dataset = build_dataset("variable_assignment_d2_code", 1, {"order": order, "distractor_chains": 3})
    for record in dataset.records("train", 100):
        defined = set()
        for name, value in statements(record["prompt"]):
            assert value.isdigit() or value in defined
            defined.add(name)


def test_levels_order_lists_numbers_before_aliases_and_interleaved_mixes_them():
    def level_pattern(order):
        dataset = build_dataset("variable_assignment_d2_math", 0, {"order": order})
        return {tuple(value.isdigit() for _, value in statements(r["prompt"])) for r in dataset.records("train", 50)}

    assert level_pattern("levels") == {(True,) * 5 + (False,) * 10}
    assert len(level_pattern("interleaved")) > 1


def test_values_are_distinct_and_in_range_and_names_distinct():
    dataset = build_dataset("variable_assignment_d1_math", 2, {"min_value": 40, "max_value": 46, "chains": 6})
    for record in dataset.records("test", 100):
        pairs = statements(record["prompt"])
        numbers = [int(value) for _, value in pairs if value.isdigit()]
        assert len(set(numbers)) == 6 and all(40 <= number <= 46 for number in numbers)
        assert len({name for name, _ in pairs}) == len(pairs)


def test_distractor_chains_are_shorter_than_the_query_chain():
    dataset = build_dataset("variable_assignment_d2_math", 0, {"chains": 2, "distractor_chains": 3})
    for record in dataset.records("train", 50):
        values = dict(statements(record["prompt"]))
        depths = []
        for name in values:
            count, current = 0, name
            while not values[current].isdigit():
                current, count = values[current], count + 1
            depths.append(count)
        assert max(depths) == 2 and hops(record["prompt"]) == 2
        assert sum(1 for name in values if values[name].isdigit()) == 5  # 2 chains + 3 distractors


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"depth": 5}, "needs up to 30 variables"),
        ({"depth": 1, "chains": 14}, "needs up to 28 variables"),
        ({"chains": 6, "min_value": 1, "max_value": 5}, "give 5 distinct numbers"),
        ({"distractor_chains": 2}, "depth 0 has none"),
        ({"order": "random"}, "not one of levels | interleaved"),
        ({"form": "python"}, "not one of math | code"),
        ({"depth": -1}, "out of range 0..25"),
        ({"chains": 0}, "out of range 1..26"),
    ],
)
def test_impossible_knobs_are_rejected_with_the_numbers(overrides, message):
    with pytest.raises(PrimitiveError, match=re.escape(message)):
        build_dataset("variable_assignment_d0_math", 0, overrides)


def test_solver_reads_a_handwritten_prompt():
    assert (
        solve("a=1, b=2, c=6, b=?".replace(", ", "\n").replace("b=?", "What is the value of b?"), "variable_assignment")
        == "2"
    )
    prompt = "a=1\nb=2\nc=a\nd=b\nWhat is the numerical value of d?\nAnswer:"
    assert solve(prompt, "variable_assignment") == "2"
    with pytest.raises(PrimitiveError, match="does not define 'z'"):
        solve("a=z\nWhat is the value of a?", "variable_assignment")


def test_compact_form_is_one_line_without_a_header():
    compact = build_dataset("variable_assignment_d1_math", 0, {"form": "compact"})
    paper = build_dataset("variable_assignment_d1_code", 0)
    for record in compact.records("train", 300):
        statement_line, answer_cue = record["prompt"].split("\n")
        assert answer_cue == "Answer:"
        assert re.fullmatch(r"([a-z]=\w+, ){10}[a-z]=\?", statement_line)
        *pairs, question = statement_line.split(", ")
        values = dict(pair.split("=") for pair in pairs)
        assert values[values[question[0]]] == record["answer"] == solve(record)
    words = lambda dataset: sum(len(r["prompt"].split()) for r in dataset.records("test", 50))  # noqa: E731
    assert words(compact) * 2 < words(paper)
