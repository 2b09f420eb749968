"""`primbench sweep`: one preset, knob values (or a grid), every model; CSV, plot, and refusals before loading."""

import csv
import json
import shutil

import pytest
from click.testing import CliRunner
from test_eval_hf import build_tiny_llama

from primbench.harness.analysis.sweep import COLUMNS, grid_points, parse_knob_options
from primbench.harness.cli import main
from primbench.harness.errors import CommandLineError
from primbench.harness.evaluation.evaluate import evaluate
from primbench.tasks.selection import chance_level

PRESET = "variable_assignment_d0_math"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def run_sweep(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def test_knob_options_parse_into_an_ordered_grid():
    knobs = parse_knob_options(["depth=0,1", "chains=2, 5,"])
    assert knobs == {"depth": ["0", "1"], "chains": ["2", "5"]}
    assert grid_points(knobs) == [
        {"depth": "0", "chains": "2"},
        {"depth": "0", "chains": "5"},
        {"depth": "1", "chains": "2"},
        {"depth": "1", "chains": "5"},
    ]
    for bad in (["depth"], ["depth="], ["=1,2"], ["depth=1", "depth=2"]):
        with pytest.raises(CommandLineError):
            parse_knob_options(bad)


def test_chance_follows_the_knobs():
    task = f"prim_{PRESET}"
    assert chance_level(task, 200, knobs={"chains": "2"}) > chance_level(task, 200, knobs={"chains": "10"})
    assert chance_level(task, 200, knobs={}) == chance_level(task, 200)


def test_sweep_writes_one_row_per_model_and_value_equal_to_eval_at_that_setting(tiny_model, tmp_path, monkeypatch):
    loads = []
    from primbench.harness.evaluation import models

    real_load = models.load_causal_lm
    monkeypatch.setattr(models, "load_causal_lm", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    result = run_sweep(
        tiny_model,
        tiny_model,
        "--preset",
        PRESET,
        "--knob",
        "chains=2,3",
        "--shots",
        "1",
        "--limit",
        "3",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    assert len(loads) == 2  # one load per model, not per value
    with open(tmp_path / "out" / "sweep.csv") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [(row[2], row[3]) for row in rows[1:]] == [("chains", "2"), ("chains", "3")] * 2
    assert (tmp_path / "out" / "sweep.png").read_bytes().startswith(b"\x89PNG")
    for row in rows[1:3]:
        independent = evaluate(
            str(tiny_model),
            [f"prim_{PRESET}"],
            shots=1,
            limit=3,
            metadata={"knobs": {"chains": int(row[3])}},
            quiet=True,
        )
        assert float(row[4]) == independent.accuracy(f"prim_{PRESET}")
        assert int(row[6]) == 3
        assert float(row[7]) == chance_level(f"prim_{PRESET}", 500, knobs={"chains": row[3]})
    assert rows[1][1:] == rows[3][1:]  # the same model twice scores the same


def test_a_grid_joins_knob_names_and_values(tiny_model, tmp_path):
    result = run_sweep(
        tiny_model,
        "--preset",
        PRESET,
        "--knob",
        "chains=2,3",
        "--knob",
        "depth=0,1",
        "--shots",
        "0",
        "--limit",
        "2",
        "--generation",
        "--out",
        tmp_path / "grid",
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / "grid" / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["knob"], row["value"]) for row in rows] == [
        ("chains,depth", "2,0"),
        ("chains,depth", "2,1"),
        ("chains,depth", "3,0"),
        ("chains,depth", "3,1"),
    ]


@pytest.mark.parametrize(
    "knob, message",
    [
        ("depht=0,1", "unknown knob 'depht'"),
        ("length=4,8", "unknown knob 'length'"),  # a knob of another primitive would sweep nothing
        ("depth=0,99", "out of range"),
        ("chains=2,many", "takes int values"),
    ],
)
def test_bad_knobs_are_refused_in_one_line_before_any_weights_load(tiny_model, tmp_path, monkeypatch, knob, message):
    monkeypatch.setattr("primbench.harness.evaluation.models.load_causal_lm", pytest.fail)
    result = run_sweep(tiny_model, "--preset", PRESET, "--knob", knob, "--out", tmp_path / "bad")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not (tmp_path / "bad").exists()


def test_an_unknown_preset_and_a_missing_model_are_refused(tiny_model, tmp_path):
    result = run_sweep(tiny_model, "--preset", "variable_assignment", "--knob", "depth=0", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "unknown preset" in result.output
    result = run_sweep(tmp_path / "nowhere", "--preset", PRESET, "--knob", "depth=0", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_prompts_cut_by_a_short_context_are_refused_or_warned_about(tiny_model, tmp_path):
    short = tmp_path / "short"
    shutil.copytree(tiny_model, short)
    config = json.loads((short / "config.json").read_text())
    (short / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 48}))
    arguments = ("--preset", PRESET, "--knob", "depth=0", "--shots", "2", "--limit", "2", "--out", tmp_path / "out")
    refused = run_sweep(short, *arguments)
    assert refused.exit_code == 2 and "context is 48" in refused.output and "--allow-truncation" in refused.output
    assert not (tmp_path / "out").exists()
    result = run_sweep(short, *arguments, "--allow-truncation")
    assert result.exit_code == 0, result.output
    assert "warning: 2 of 2 prompts at depth=0 are longer than the context" in result.output
