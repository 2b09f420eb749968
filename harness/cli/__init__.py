"""The `primbench` command group.

Subcommands live one per module in `harness/cli/` and are imported only when invoked, so that
`primbench --help` answers instantly without importing torch or lm-eval. User errors from any room (every
`primbench.errors.UserError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import os

import click

from primbench.errors import exit_on_user_error

# name -> (module under primbench.harness.cli, one-line summary shown by `primbench --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("list", "Table of every primitive and preset with its knobs, defaults and ranges."),
    "show": ("show", "Pretty-print a few examples of a preset with their answers."),
    "generate": ("generate", "Write train/validation/test splits of presets to disk (JSONL, Parquet or HF)."),
    "tasks-path": ("tasks_path", "Print the lm-eval task folder, for `lm_eval --include_path`."),
    "eval": ("eval", "Score a Hugging Face checkpoint on the primitives through lm-eval, few-shot."),
    "prepare": ("prepare", "Tokenise a config's corpus into token shards once, before training."),
    "train": ("train", "Pretrain a baseline, GradStack or MIDAS model from a config."),
    "finetune": ("finetune", "Fine-tune copies of a checkpoint on a small primitive mixture and score them."),
    "similarity": ("similarity", "Draw the block cosine-similarity heatmap of a decoder checkpoint."),
    "sweep": ("sweep", "Score models on a preset at every value of its difficulty knobs; CSV and plot."),
    "isoplot": ("isoplot", "Few-shot accuracy against bits per byte over the checkpoints of any runs."),
    "loop": ("loop", "Write a checkpoint whose decoder runs a block of its layers several times (looping)."),
    "compare": ("compare", "Compare training recipes (runs trained anywhere) at equal steps, FLOPs and loss."),
    "reproduce": ("reproduce", "Train baseline, GradStack and MIDAS, evaluate all three, write tables and plots."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"primbench.harness.cli.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])

    def invoke(self, ctx: click.Context):
        with exit_on_user_error():
            return super().invoke(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="primbench")
def main() -> None:
    """primbench: reasoning primitives for language models, and a MIDAS trainer.

    \b
    Generate data:   primbench list
                     primbench show variable_assignment_d1_math -n 2
                     primbench generate --all --out data/
    Evaluate:        primbench eval path/to/hf_model --tasks reasoning_primitives --limit 100
    Train:           primbench train --config model_zoo/configs/tiny-midas.yaml --out runs/tiny-midas
    Compare:         primbench reproduce --preset tiny --out runs/tiny

    Everything runs offline: HF_HUB_OFFLINE and HF_DATASETS_OFFLINE are set unless you set them.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
