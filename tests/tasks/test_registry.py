"""The lm-eval task folder: every task and group is found, renders its items, and matches the primitives."""

import pytest
import yaml
from lm_eval.tasks import TaskManager

from primbench.primitives.registry import PAPER_SUITE, PRESETS, PRIMITIVES, build_dataset
from primbench.tasks import TASKS_DIR, registry

SMALL = {"n": 3, "n_train": 6, "seed": 5}


@pytest.fixture(scope="module")
def manager():
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=SMALL)


def test_committed_yaml_equals_what_the_registry_renders():
    """A preset added to primitives without `python -m primbench.tasks.registry` fails here, not silently in lm-eval."""
    assert registry.stale_files() == []


def test_every_expected_task_and_group_is_registered(manager):
    """lm-eval skips a YAML it cannot parse without a word, so each name is checked."""
    tasks, groups = registry.expected_names()
    assert len(tasks) == 2 * len(PRESETS) and len(groups) == 2 * (1 + len(PRIMITIVES))
    assert sorted(manager.all_subtasks) == sorted(tasks)
    assert sorted(manager.all_groups) == sorted(groups)
    assert "prim_variable_assignment_d1_code" in tasks and "prim_variable_assignment_d1_code_gen" in tasks
    assert {"reasoning_primitives", "reasoning_primitives_gen", "reasoning_primitives_arithmetic"} <= set(groups)


def test_groups_hold_the_paper_suite_and_each_primitive(manager):
    loaded = manager.load(["reasoning_primitives", "reasoning_primitives_gen"])
    members = {name: sorted(loaded["group_map"][name]) for name in ("reasoning_primitives", "reasoning_primitives_gen")}
    assert members["reasoning_primitives"] == sorted(f"prim_{p}" for p in PAPER_SUITE)
    assert members["reasoning_primitives_gen"] == sorted(f"prim_{p}_gen" for p in PAPER_SUITE)
    for primitive in PRIMITIVES:
        group = yaml.safe_load((TASKS_DIR / "groups" / f"reasoning_primitives_{primitive}.yaml").read_text())
        assert sorted(group["task"]) == sorted(f"prim_{p}" for p, s in PRESETS.items() if s.primitive == primitive)
        assert group["aggregate_metric_list"] == [{"metric": "acc", "aggregation": "mean", "weight_by_size": False}]


# Versions as tasks/README.md's changelog states them (not re-derived from registry.py): 1.0 at release; `_gen`
# tasks and groups 1.1 (flexible-extract); PSM and negatives 1.1 (`_gen` 1.2) and the groups holding them +0.1.
CHANGELOG_VERSIONS = {
    "prim_induction_copy_words": 1.0,
    "prim_induction_copy_words_gen": 1.1,
    "prim_variable_assignment_d1_math": 1.0,
    "prim_variable_assignment_d1_math_gen": 1.1,
    "prim_arithmetic_two_digit": 1.0,
    "prim_arithmetic_two_digit_gen": 1.1,
    "prim_arithmetic_psm": 1.1,
    "prim_arithmetic_psm_gen": 1.2,
    "prim_arithmetic_negatives": 1.1,
    "prim_arithmetic_negatives_gen": 1.2,
    "reasoning_primitives": 1.1,  # holds PSM
    "reasoning_primitives_gen": 1.2,
    "reasoning_primitives_arithmetic": 1.1,
    "reasoning_primitives_arithmetic_gen": 1.2,
    "reasoning_primitives_induction_copy": 1.0,
    "reasoning_primitives_variable_assignment_gen": 1.1,
}


def test_every_file_carries_the_version_its_changelog_gives():
    versions = {}
    for path in TASKS_DIR.glob("**/*.yaml"):
        config = yaml.safe_load(path.read_text().replace("!function", ""))
        if "task" in config or "group" in config:
            versions[config.get("group") or config["task"]] = config["metadata"]["version"]
    assert set(versions.values()) == {1.0, 1.1, 1.2}
    assert {name: versions[name] for name in CHANGELOG_VERSIONS} == CHANGELOG_VERSIONS


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_task_pair_serves_the_generator_records_in_both_scorings(manager, preset):
    loaded = manager.load([f"prim_{preset}", f"prim_{preset}_gen"])["tasks"]
    loglik, generation = loaded[f"prim_{preset}"], loaded[f"prim_{preset}_gen"]
    dataset = build_dataset(preset, SMALL["seed"])
    expected_test = [record["prompt"] for record in dataset.records("test", SMALL["n"])]
    expected_train = [record["answer"] for record in dataset.records("train", SMALL["n_train"])]
    for task in (loglik, generation):
        docs = list(task.test_docs())
        assert [task.doc_to_text(doc) for doc in docs] == expected_test
        assert [doc["answer"] for doc in task.training_docs()] == expected_train
        assert task.config.num_fewshot == 5
    doc = loglik.test_docs()[0]
    # loglikelihood continues the prompt with " answer"; generation's gold is the bare answer; examples agree
    assert (loglik.config.target_delimiter + loglik.doc_to_target(doc)) == " " + doc["answer"]
    assert (generation.config.target_delimiter, generation.doc_to_target(doc)) == (" ", doc["answer"])
    example = loglik.training_docs()[0]
    for task in (loglik, generation):
        assert task.config.target_delimiter + task.doc_to_target(example) == " " + example["answer"]
    assert loglik.config.output_type == "loglikelihood"
    assert [m["metric"] for m in loglik.config.metric_list] == ["acc"]
    assert generation.config.output_type == "generate_until"
    kwargs = generation.config.generation_kwargs
    assert kwargs["until"] == ["\n"] and kwargs["do_sample"] is False
    longest = max(len(doc["answer"]) for split in generation.dataset.values() for doc in split)
    assert kwargs["max_gen_toks"] >= longest + 2
    assert [f["name"] for f in generation.config.filter_list] == ["strict-match", "flexible-extract"]


def test_fewshot_context_puts_examples_then_the_item(manager):
    task = manager.load(["prim_variable_assignment_d0_math"])["tasks"]["prim_variable_assignment_d0_math"]
    task.set_fewshot_seed(seed=3)
    doc = task.test_docs()[0]
    context = task.fewshot_context(doc, num_fewshot=2)
    shots = context.split("\n\n" + doc["prompt"])[0]
    train = {(d["prompt"], d["answer"]) for d in task.training_docs()}
    pieces = [p for p in train if f"{p[0]} {p[1]}" in shots]
    assert len(pieces) == 2 and context.endswith("\n\n" + doc["prompt"])


def test_group_members_are_what_lm_eval_loads_for_each_group():
    """The membership callers use (fine-tuning, reproduce) and the YAML lm-eval reads must agree."""
    from primbench.harness.evaluation.evaluate import task_manager
    from primbench.tasks.registry import group_members

    manager = task_manager()
    for name, tasks in group_members().items():  # one at a time: lm-eval refuses overlapping groups in one load
        group = manager.load([name])["groups"][name]
        assert [task.task_name for task in group.get_all_tasks()] == tasks


def test_revised_presets_are_exactly_the_small_spaces():
    small = {name for name in PRESETS if build_dataset(name, 0).small_space}
    assert registry.REVISED_PRESETS == small
    versions = {
        name: yaml.safe_load((TASKS_DIR / PRESETS[name].primitive / f"prim_{name}.yaml").read_text())["metadata"]
        for name in ("arithmetic_psm", "variable_assignment_d0_math")
    }
    assert versions == {"arithmetic_psm": {"version": 1.1}, "variable_assignment_d0_math": {"version": 1.0}}
