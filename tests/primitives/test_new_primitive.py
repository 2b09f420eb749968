"""A new primitive added by following CONTRIBUTING.md step by step passes the same contract test as the shipped ones.

The toy primitive `counting` ("Count: 4 7 10 13 / What number comes next?" -> "16") is written as a module file
(step 1), gets its template (step 2), is registered (step 3), passes `assert_keeps_the_contract` (step 4), has
reproducible golden bytes (step 6) and gets its lm-eval tasks and group (step 7).
"""

import importlib.util
import sys
import textwrap

import jinja2
import pytest
from test_all_presets import golden_digest
from test_contract import assert_keeps_the_contract

from primbench.primitives import dataset as dataset_module
from primbench.primitives import registry
from primbench.primitives.contract import Primitive
from primbench.primitives.errors import PrimitiveError
from primbench.tasks.registry import expected_names, group_members, group_name, max_gen_toks, task_name

MODULE = textwrap.dedent(
    '''
    """Counting: an arithmetic progression; the answer is its next number.

    Template names: `numbers` (the progression shown), `config`. The solver reads the line after `Count:`.
    """

    from __future__ import annotations

    import re
    from dataclasses import dataclass

    from primbench.primitives.dataset import exact_match
    from primbench.primitives.errors import PrimitiveError
    from primbench.primitives.knobs import check_ranges, knob

    NAME = "counting"


    @dataclass(frozen=True)
    class Config:
        largest_start: int = knob(9, "the progression starts at 0..largest_start", low=0, high=99_999)
        largest_step: int = knob(3, "the step is 1..largest_step", low=1, high=99)
        shown: int = knob(4, "numbers shown before the question", low=2, high=12)

        def validate(self) -> None:
            check_ranges(self)


    PRESETS = {
        "small": ("four numbers from 0..9 in steps of 1..3", {}),
        "wide": ("six numbers from 0..9999 in steps of 1..99", {"largest_start": 9999, "largest_step": 99, "shown": 6}),
    }


    def template_name(config: Config) -> str:
        return "counting.j2"


    def _meta(start: int, step: int, shown: int) -> dict:
        return {"numbers": [start + step * i for i in range(shown)], "next": start + step * shown}


    def generate(config: Config, rng) -> dict:
        return _meta(rng.randrange(config.largest_start + 1), 1 + rng.randrange(config.largest_step), config.shown)


    def answer(meta: dict) -> str:
        return str(meta["next"])


    def problem_key(meta: dict) -> str:
        return " ".join(map(str, meta["numbers"]))


    def template_context(meta: dict, config: Config) -> dict:
        return {"numbers": meta["numbers"], "config": config}


    def enumerate_problems(config: Config, limit: int) -> list[dict] | None:
        if (config.largest_start + 1) * config.largest_step > limit:
            return None
        return [
            _meta(start, step, config.shown)
            for start in range(config.largest_start + 1)
            for step in range(1, config.largest_step + 1)
        ]


    _COUNT = re.compile(r"Count:[ \\t]*(.+)")


    def solve(prompt: str) -> str:
        found = _COUNT.search(prompt)
        if not found:
            raise PrimitiveError("not a counting prompt: needs 'Count: ...'")
        numbers = [int(word) for word in found.group(1).split()]
        return str(numbers[-1] + numbers[-1] - numbers[-2])


    score = exact_match
    '''
)
TEMPLATE = "Count: {{ numbers | join(' ') }}\nWhat number comes next?\nAnswer:"


@pytest.fixture
def counting(tmp_path, monkeypatch):
    """Steps 1-3: the module file, its template beside the packaged ones, and its registration."""
    path = tmp_path / "counting.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("counting", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "counting", module)  # dataclasses look the module up while it executes
    spec.loader.exec_module(module)
    templates = jinja2.ChoiceLoader([jinja2.DictLoader({"counting.j2": TEMPLATE}), dataset_module._ENVIRONMENT.loader])
    monkeypatch.setattr(dataset_module._ENVIRONMENT, "loader", templates)
    monkeypatch.setitem(registry.PRIMITIVES, module.NAME, registry.checked_primitive(module))
    for name, preset in registry.presets_of(module).items():
        monkeypatch.setitem(registry.PRESETS, name, preset)
    return module


def test_the_new_primitive_keeps_the_contract(counting):
    assert isinstance(counting, Primitive)
    assert sorted(name for name in registry.PRESETS if name.startswith("counting_")) == [
        "counting_small",
        "counting_wide",
    ]
    for name in ("counting_small", "counting_wide"):
        assert_keeps_the_contract(name)
    small = registry.build_dataset("counting_small", 0)
    assert sum(small.capacity(split) for split in ("train", "validation", "test")) == 10 * 3  # starts x steps
    assert registry.build_dataset("counting_wide", 0).capacity("test") is None  # 10,000 x 99: drawn, not listed


def test_the_new_primitive_has_reproducible_golden_bytes_and_tasks(counting):
    assert golden_digest("counting_wide") == golden_digest("counting_wide")  # step 6: a digest worth pinning
    tasks, groups = expected_names()  # step 7: what `python -m primbench.tasks.registry` writes
    assert {task_name("counting_small"), task_name("counting_small", True), task_name("counting_wide")} <= set(tasks)
    assert group_name("counting") in groups
    assert group_members()[group_name("counting")] == ["prim_counting_small", "prim_counting_wide"]
    assert max_gen_toks("counting_small") == len("21") + 2  # the longest answer, 9 + 3 * 4, plus space and newline


def test_a_knob_out_of_range_names_the_fix(counting):
    with pytest.raises(PrimitiveError, match="largest_step"):
        registry.build_dataset("counting_small", 0, {"largest_step": 0})
