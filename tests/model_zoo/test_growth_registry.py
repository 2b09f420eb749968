"""The growth-method registry is the one list of methods; an operator registered anywhere trains in our trainer."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import micro_config
from transformers import AutoModelForCausalLM

from primbench.model_zoo import operators
from primbench.model_zoo.config import METHODS, load_config
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.operators import register_operator, stacked_methods
from primbench.model_zoo.train import train

ROOT = Path(__file__).resolve().parents[2]
CODE_ROOMS = ("harness", "model_zoo", "primitives", "tasks", "primbench")


def _defaults(tree: ast.AST) -> set[int]:
    """ids of the nodes that are a function's default argument values (a default names one method, lists none)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found |= {id(d) for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None}
    return found


def test_no_code_outside_the_registry_names_a_growing_method():
    """Listing methods or branching on them means a string constant equal to a method's name: none outside
    operators.py (docstrings and help text mention methods inside longer sentences, which is fine)."""
    offenders = []
    for room in CODE_ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            if path.name == "operators.py":
                continue
            tree = ast.parse(path.read_text())
            defaults = _defaults(tree)
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and node.value in stacked_methods() and id(node) not in defaults
            ]
    assert offenders == []


def test_reproduce_compares_the_registered_compared_methods_each_with_shipped_configs():
    assert METHODS == ("baseline", "gradstack", "midas")
    for size in ("micro", "tiny", "small", "base", "1b"):
        for method in METHODS:
            assert load_config(f"{size}-{method}").growth.method == method


def test_an_unknown_method_is_refused_naming_every_registered_one():
    with pytest.raises(ConfigError, match="growth.method must be one of baseline, gradstack, midas, solar, llama_pro"):
        load_config(None, ["growth.method=middle"])


def test_an_operator_registered_in_one_line_trains_with_set_growth_method(tmp_path, corpus_file, monkeypatch):
    monkeypatch.setattr(operators, "_OPERATORS", dict(operators._OPERATORS))  # forget it after this test
    calls = []

    @register_operator("bottom_stack")
    def bottom_stack(layers: int, block_size: int) -> list[int]:
        calls.append((layers, block_size))
        return list(range(layers)) + list(range(block_size))  # copy the bottom block onto the top

    config = micro_config("baseline", corpus_file, "growth.method=bottom_stack", "run.steps=8", "run.eval_every=0")
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["method"] == "bottom_stack" and summary["layers"] == 4
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["layers"] for m in metrics] == [3, 4]  # stages [1, 2, 2, 3] of 8 steps; logged after 5 and 8
    assert calls == [(1, 1), (2, 1), (3, 1)]  # the trainer grew through this operator, once per stage
    assert summary["layer_flops_speedup"] > 1.0  # counted as a growing method, not as baseline


@pytest.mark.parametrize("architecture, model_type", [("qwen2", "qwen2"), ("gemma3", "gemma3_text")])
def test_model_architecture_picks_the_family_and_growth_keeps_its_layer_pattern(
    tmp_path, corpus_file, architecture, model_type
):
    overrides = ["growth.block_size=2", "growth.stages=2", "run.steps=6", "run.eval_every=0"]
    config = micro_config("midas", corpus_file, f"model.architecture={architecture}", *overrides)
    train(config, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert saved["model_type"] == model_type and saved["num_hidden_layers"] == 4
    if architecture == "gemma3":  # the last layer of every block attends fully, grown or not
        assert saved["layer_types"] == ["sliding_attention", "full_attention"] * 2
    AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")
