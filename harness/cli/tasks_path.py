"""`primbench tasks-path`: where the lm-eval task folder lies, for `lm_eval --include_path`."""

from __future__ import annotations

import click


@click.command(name="tasks-path")
def command() -> None:
    """Print the folder of primbench's lm-eval tasks, so the plain lm-eval CLI can use them.

    \b
    Examples:
      primbench tasks-path
      lm_eval --model hf --model_args pretrained=runs/tiny-midas/final --include_path $(primbench tasks-path) \\
          --tasks reasoning_primitives --limit 100 --metadata n=200
    """
    from primbench.tasks import TASKS_DIR

    click.echo(str(TASKS_DIR))
