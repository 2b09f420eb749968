"""The `primbench` group itself: its command surface, its speed promise and its user-error contract."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from primbench.harness import cli
from primbench.harness.errors import CommandLineError, HarnessError
from primbench.model_zoo.errors import CollectiveTimeout, ConfigError, RunLocked
from primbench.primitives.errors import PrimitiveError

EXPECTED_COMMANDS = [
    "list",
    "show",
    "generate",
    "tasks-path",
    "eval",
    "prepare",
    "train",
    "finetune",
    "similarity",
    "sweep",
    "isoplot",
    "loop",
    "compare",
    "reproduce",
]


def test_command_surface_is_pinned():
    """Adding or renaming a subcommand is a user-visible change: update this list on purpose."""
    assert list(cli.COMMANDS) == EXPECTED_COMMANDS


@pytest.mark.parametrize("name", EXPECTED_COMMANDS)
def test_every_command_module_defines_a_click_command_with_examples(name):
    command = cli.main.get_command(click.Context(cli.main), name)
    assert isinstance(command, click.Command)
    result = CliRunner().invoke(cli.main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "primbench " + name in result.output, f"`{name} --help` should show an example invocation"


def test_top_level_help_does_not_import_torch_or_lm_eval():
    code = (
        "import sys; from click.testing import CliRunner; from primbench.harness.cli import main; "
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0; "
        "print(sorted(m for m in ('torch', 'lm_eval', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli.main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


@pytest.mark.parametrize(
    "error_type", [HarnessError, CommandLineError, PrimitiveError, ConfigError, RunLocked, CollectiveTimeout]
)
def test_user_errors_become_one_line_and_exit_2(monkeypatch, error_type):
    @click.command()
    def failing():
        raise error_type("the knob 'depth' must be >= 0; pass --set depth=1")

    monkeypatch.setitem(cli.COMMANDS, "failing", ("failing", "test only"))
    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: failing if name == "failing" else None)
    result = CliRunner().invoke(cli.main, ["failing"])
    assert result.exit_code == 2
    assert result.output == "error: the knob 'depth' must be >= 0; pass --set depth=1\n"


def test_programming_errors_are_not_swallowed(monkeypatch):
    @click.command()
    def broken():
        raise KeyError("bug")

    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: broken)
    result = CliRunner().invoke(cli.main, ["broken"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
