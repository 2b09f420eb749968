"""Models with known answers through the whole lm-eval path: the registry's scores must be exactly right."""

from collections import Counter

import pytest

import primbench.primitives as primitives
from primbench.harness.evaluation.evaluate import evaluate
from primbench.harness.evaluation.oracle import AnsweringModel, constant_model, solver_model
from primbench.primitives.registry import PRESETS, PRIMITIVES, build_dataset

SMALL = {"n": 6, "n_train": 8, "seed": 3}


@pytest.mark.parametrize("suffix", ["", "_gen"])
def test_the_solver_scores_one_on_every_task_and_group(suffix):
    groups = [f"reasoning_primitives_{primitive}{suffix}" for primitive in PRIMITIVES]
    result = evaluate(solver_model(), tasks=groups, shots=2, metadata=SMALL, quiet=True)
    assert sorted(result.tasks) == sorted(f"prim_{preset}{suffix}" for preset in PRESETS)
    assert sorted(result.groups) == sorted(groups)
    assert {row.name: row.accuracy for row in result.scores} == {row.name: 1.0 for row in result.scores}
    assert all(row.n == (SMALL["n"] if row.kind == "task" else row.n) for row in result.scores)


def test_the_paper_group_averages_its_tasks():
    result = evaluate(
        solver_model(), tasks=["reasoning_primitives", "reasoning_primitives_gen"], shots=1, metadata=SMALL, quiet=True
    )
    assert result.groups["reasoning_primitives"].accuracy == 1.0
    assert result.groups["reasoning_primitives_gen"].accuracy == 1.0
    assert len(result.tasks) == 16


@pytest.mark.parametrize("preset", ["variable_assignment_d0_math", "arithmetic_psm"])
def test_a_constant_answer_scores_its_share_of_the_records(preset):
    """The expected score is counted from the generator's records, not from lm-eval."""
    n = 20 if preset != "arithmetic_psm" else build_dataset(preset, 3).capacity("test")
    answers = [record["answer"] for record in build_dataset(preset, 3).records("test", n)]
    constant, hits = Counter(answers).most_common(1)[0]
    assert 0 < hits < n
    result = evaluate(
        constant_model(constant),
        tasks=[f"prim_{preset}", f"prim_{preset}_gen"],
        shots=3,
        metadata={"n": n, "n_train": 5, "seed": 3},
        quiet=True,
    )
    assert result.accuracy(f"prim_{preset}") == hits / n
    assert result.accuracy(f"prim_{preset}_gen") == hits / n


def test_lm_eval_verdicts_equal_primitives_score_on_the_same_outputs():
    """Outputs that are right, padded, punctuated, wrong or empty: lm-eval's strict verdict is our `score`."""
    variants = [lambda a: a, lambda a: f"  {a}\t", lambda a: f"{a}.", lambda a: a + "0", lambda a: ""]

    def answer(prompt, doc):
        return variants[doc["index"] % len(variants)](primitives.solve(prompt, "variable_assignment"))

    model = AnsweringModel(answer)
    result = evaluate(
        model,
        tasks=["prim_variable_assignment_d1_math_gen"],
        shots=2,
        metadata={"n": 15, "n_train": 4, "seed": 8},
        quiet=True,
    )
    dataset = build_dataset("variable_assignment_d1_math", 8)
    verdicts = {"strict-match": [], "flexible-extract": []}
    for sample in result.samples["prim_variable_assignment_d1_math_gen"]:
        record = dataset.record("test", sample["doc"]["index"])
        ours = primitives.score(sample["resps"][0][0], record)
        verdicts[sample["filter"]].append((sample["doc"]["index"], bool(sample["exact_match"]), ours))
    assert len(verdicts["strict-match"]) == 15
    assert all(lm_eval_says == ours for _, lm_eval_says, ours in verdicts["strict-match"])
    # the flexible pipeline also forgives the trailing period, and only that
    assert all(lm_eval_says == (ours or index % 5 == 2) for index, lm_eval_says, ours in verdicts["flexible-extract"])
    assert result.accuracy("prim_variable_assignment_d1_math_gen") == 6 / 15


def test_quiet_lowers_the_loggers_only_while_it_runs():
    import logging

    from primbench.harness.evaluation.evaluate import QUIET_LOGGERS

    before = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    logging.getLogger("transformers").setLevel(logging.INFO)
    before["transformers"] = logging.INFO
    try:
        evaluate(solver_model(), ["prim_arithmetic_psm"], shots=0, limit=2, quiet=True)
        assert {name: logging.getLogger(name).level for name in QUIET_LOGGERS} == before
    finally:
        logging.getLogger("transformers").setLevel(logging.NOTSET)
