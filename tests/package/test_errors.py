"""The one user-error path: every room's error is a `UserError`, and every entry point turns one into one line
on stderr and exit status 2 with no traceback."""

import importlib
import os
import subprocess
import sys

import pytest

from primbench.errors import UserError, exit_on_user_error
from primbench.harness.errors import CommandLineError, HarnessError
from primbench.model_zoo.errors import CollectiveTimeout, ConfigError, RunLocked
from primbench.primitives.errors import PrimitiveError

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.parametrize(
    "error_type", [PrimitiveError, ConfigError, RunLocked, CollectiveTimeout, HarnessError, CommandLineError]
)
def test_every_room_error_is_a_user_error_and_a_value_error(error_type):
    assert issubclass(error_type, UserError)
    assert issubclass(error_type, ValueError)  # callers that caught ValueError before still do


def test_the_narrow_errors_are_not_config_or_primitive_errors():
    """A held lock, a collective timeout and a bad flag name what went wrong, not the room that noticed it."""
    for error_type in (RunLocked, CollectiveTimeout, CommandLineError):
        assert not issubclass(error_type, (ConfigError, PrimitiveError, HarnessError))


def test_wrapper_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as stop, exit_on_user_error():
        raise RunLocked("runs/x is being written by another trainer; train into a new --out")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: runs/x is being written by another trainer; train into a new --out\n"


def test_wrapper_lets_other_errors_through():
    with pytest.raises(KeyError), exit_on_user_error():
        raise KeyError("a bug keeps its traceback")


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=OFFLINE, timeout=120)


def assert_one_line_exit_2(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(line.startswith("error: ") for line in lines[:-1])


# Entry points that start in well under a second run as real `python -m` processes; the trainer's two (which
# import torch, seconds each) run their `main` in this process. tests/model_zoo/test_lock.py runs
# `python -m primbench.model_zoo.train` itself on a held lock.
ENTRY_POINTS = {
    "lm-eval CLI, malformed --metadata": (
        ["primbench.harness.evaluation", "--model", "primbench-hf", "--model_args", "pretrained=X"]
        + ["--tasks", "T", "--metadata", "{bad"],
        "Invalid JSON: {bad",
    ),
    "primbench, flag error": (
        ["primbench.harness.cli", "generate", "arithmetic_psm", "--all", "--out", "OUT"],
        "exactly one of these",
    ),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_reports_a_bad_argument_in_one_line(name, tmp_path):
    args, message = ENTRY_POINTS[name]
    result = run_module(*(str(tmp_path / "out") if arg == "OUT" else arg for arg in args))
    assert_one_line_exit_2(result, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("train", ["--config", "tiny-midsa", "--out", "OUT"], "config file tiny-midsa does not exist"),
        ("prepare", ["--config", "micro-baseline", "--set", "model.hidden_size=-3"], "must be positive, got -3"),
    ],
)
def test_the_trainers_entry_points_report_a_bad_argument_in_one_line(module, args, message, tmp_path, capsys):
    main = importlib.import_module(f"primbench.model_zoo.{module}").main
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "out") if arg == "OUT" else arg for arg in args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_lm_eval_cli_unknown_task_and_missing_model_are_one_line(tmp_path):
    """These reach lm-eval's task indexing and our backend (~7 s of imports each)."""
    common = ["primbench.harness.evaluation", "--model", "primbench-hf", "--limit", "1"]
    unknown = run_module(*common, "--model_args", "pretrained=X", "--tasks", "no_such_task")
    assert_one_line_exit_2(unknown, "Tasks not found: no_such_task")
    include = ["--include_path", str(__import__("primbench.tasks", fromlist=["TASKS_DIR"]).TASKS_DIR)]
    missing = run_module(
        *common, *include, "--model_args", f"pretrained={tmp_path / 'nope'}", "--tasks", "prim_arithmetic_psm"
    )
    assert_one_line_exit_2(missing, "does not exist; pass a local Hugging Face folder")
