"""`primbench reproduce`: the whole comparison of baseline, GradStack and MIDAS, resumable."""

from __future__ import annotations

from pathlib import Path

import click

from primbench.harness.reproduce.presets import PRESETS


@click.command(name="reproduce")
@click.option(
    "--preset",
    required=True,
    type=click.Choice(list(PRESETS)),
    help="Model size and evaluation budget; trains model_zoo/configs/<preset>-<method>.yaml.",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Folder for runs, state, results.json, tables and plots.  [default: runs/<preset>]",
)
@click.option(
    "--checkpoints",
    "given",
    multiple=True,
    metavar="NAME=PATH",
    help="Use an existing model instead of training it; NAME is baseline, gradstack or midas, PATH a run "
    "folder (with summary.json) or a Hugging Face folder (repeatable).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a training config key for all three models, e.g. --set data.corpus=texts/ (repeatable).",
)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=int,
    help="Pretrain each method under this many seeds (run.seed and the next ones); the table then gives 95% "
    "intervals over seeds and items. A larger count in a finished folder only adds the missing seeds.",
)
@click.option("--quiet", is_flag=True, help="No progress bars for training and fine-tuning (lm-eval keeps its own).")
def command(
    preset: str, out_dir: Path | None, given: tuple[str, ...], overrides: tuple[str, ...], seeds: int, quiet: bool
) -> None:
    """Train baseline, GradStack and MIDAS with the same steps, evaluate all three, write tables and plots.

    Per model: validation loss, few-shot primitives, fine-tuned primitives, training FLOPs and wall-clock,
    the isoplot over saved checkpoints and the block similarity. A re-run resumes: finished stages are
    read back from DIR/state.json, so an interrupted run continues and a finished one only redraws.

    \b
    Examples:
      primbench reproduce --preset tiny                       # the demo: ~20 min on 2 CPU cores
      primbench reproduce --preset tiny --out runs/tiny       # run again: skips what is done
      primbench reproduce --preset tiny --out runs/tiny --seeds 3   # add seeds 1 and 2, intervals over all
      primbench reproduce --preset small --out results/small --checkpoints midas=runs/small-midas
      primbench reproduce --preset micro --out /tmp/m --set data.corpus=my_text.txt
    """
    from primbench.harness.reproduce.pipeline import parse_checkpoints, reproduce

    out = out_dir if out_dir is not None else Path("runs") / preset
    checkpoints = parse_checkpoints(given)
    reproduce(
        preset,
        out,
        checkpoints=checkpoints,
        overrides=list(overrides),
        log=lambda line: click.echo(line, err=True),
        progress=not quiet,
        seeds=seeds,
    )
    click.echo((out / "table.md").read_text())
    click.echo(
        f"results: {out / 'results.json'}   tables: {out / 'table.md'}, {out / 'table.csv'}   plots: {out / 'plots'}/"
    )
