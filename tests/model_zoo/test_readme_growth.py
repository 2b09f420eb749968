"""The README's "MIDAS in your own trainer" examples run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from primbench.model_zoo import operators

README = Path(__file__).resolve().parents[2] / "README.md"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def section_code() -> list[str]:
    """The python code blocks of the README section, in order."""
    text = README.read_text()
    section = text.split("## MIDAS in your own trainer", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_trainer_example_grows_to_three_blocks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(section_code()[0], str(README), "exec"), namespace)
    assert capsys.readouterr().out.splitlines()[-1] == "6"
    record = json.loads((tmp_path / "runs/midas-hf/checkpoint-12/growth.json").read_text())
    assert record["stage_steps"] == [2, 4, 6] and [g["step"] for g in record["growths"]] == [2, 6]
    assert namespace["trainer"].state.log_history[-1]["layers"] == 6  # the run's closing log line


def test_the_operator_example_registers_a_working_operator(monkeypatch):
    monkeypatch.setattr(operators, "_OPERATORS", dict(operators._OPERATORS))
    exec(compile(section_code()[1], str(README), "exec"), {})
    assert operators.layer_sources("bottom_stack", 4, 2) == [0, 1, 2, 3, 0, 1]
    assert operators.methods()[-1] == "bottom_stack"
