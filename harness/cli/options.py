"""Options that several commands share, declared once so their names, defaults and help cannot drift apart."""

from __future__ import annotations

import click

from primbench.model_zoo.config import METHODS
from primbench.model_zoo.operators import methods
from primbench.tasks.selection import DEFAULT_TASKS

TASKS = click.option(
    "--tasks",
    "-t",
    multiple=True,
    default=DEFAULT_TASKS,
    show_default=True,
    help="Tasks or groups, repeated or comma-separated; globs work (prim_variable_*).",
)
SHOTS = click.option("--shots", default=5, show_default=True, type=int, help="Few-shot examples from the train split.")
LIMIT = click.option("--limit", default=None, type=int, help="Score only the first N test items of each task.")
CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    help=f"A YAML config, or a shipped name: <micro|tiny|small|base|1b>-<{'|'.join(METHODS)}>; "
    f"growth.method may be any of {', '.join(methods())}.",
)


def config_overrides(example: str):
    """`--set KEY=VALUE` (repeatable), with an example fitting the command."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Override a config key, e.g. {example} (repeatable).",
    )
