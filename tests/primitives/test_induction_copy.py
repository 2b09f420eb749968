"""Induction copying: the cue occurs once, the answer is what followed it, and lengths match the knobs."""

import re

import pytest

from primbench.primitives import solve
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import build_dataset
from primbench.primitives.vocabularies import VOCABULARIES


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"vocabulary": "digits", "length": 6, "prefix_length": 2, "answer_length": 3, "filler": 2},
        {"vocabulary": "syllables", "length": 20, "prefix_length": 3, "answer_length": 1, "filler": 10},
        {"vocabulary": "letters", "length": 5, "prefix_length": 4, "answer_length": 1},
    ],
)
def test_lengths_vocabulary_and_unique_cue(overrides):
    dataset = build_dataset("induction_copy_words", 4, overrides)
    config = dataset.config
    for record in dataset.records("test", 100):
        tokens = re.search(r"Sequence: (.+)", record["prompt"]).group(1).split()
        assert len(tokens) == config.length + config.filler + config.prefix_length
        assert set(tokens) <= set(VOCABULARIES[config.vocabulary])
        body, cue = tokens[: -config.prefix_length], tokens[-config.prefix_length :]
        assert len(set(body)) == len(body), "sequence and filler tokens are distinct, so the cue occurs once"
        assert body[: config.prefix_length] == cue
        answer = record["answer"].split(" ")
        assert answer == body[config.prefix_length : config.prefix_length + config.answer_length]


def test_prompt_names_the_unit_and_count():
    record = build_dataset("induction_copy_words_span", 0).record("train", 0)
    assert "Continue the sequence with the next 3 words." in record["prompt"]
    assert (
        build_dataset("induction_copy_digits", 0)
        .record("train", 0)["prompt"]
        .endswith("Continue the sequence with the next 1 digit.\nAnswer:")
    )


def test_small_digit_spaces_are_enumerated_exactly():
    dataset = build_dataset("induction_copy_digits", 0, {"length": 3})
    assert sum(dataset.capacity(s) for s in ("train", "validation", "test")) == 10 * 9 * 8
    prompts = [r["prompt"] for r in dataset.records("validation", dataset.capacity("validation"))]
    assert len(set(prompts)) == len(prompts)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"prefix_length": 5, "answer_length": 4}, "prefix_length 5 + answer_length 4 exceeds length 8"),
        ({"vocabulary": "digits", "length": 8, "filler": 3}, "needs 11 distinct tokens but vocabulary digits has 10"),
        ({"length": 0}, "out of range 2..64"),
        ({"vocabulary": "emoji"}, "not one of words | letters | digits | syllables"),
    ],
)
def test_impossible_knobs_are_rejected(overrides, message):
    with pytest.raises(PrimitiveError, match=re.escape(message)):
        build_dataset("induction_copy_words", 0, overrides)


def test_solver_on_handwritten_prompts():
    prompt = "Sequence: cat lamp sun tree cat\nContinue the sequence with the next 1 word.\nAnswer:"
    assert solve(prompt, "induction_copy") == "lamp"
    prompt = "Sequence: a b c d e f a b\nContinue the sequence with the next 2 letters.\nAnswer:"
    assert solve(prompt, "induction_copy") == "c d"
    with pytest.raises(PrimitiveError, match="no repeat"):
        solve("Sequence: a b c\nnext 1\nAnswer:", "induction_copy")
