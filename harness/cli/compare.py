"""`primbench compare --run NAME=RUN[,RUN...] ... --reference NAME --out DIR`: recipes against a reference."""

from __future__ import annotations

from pathlib import Path

import click

from primbench.harness.cli import options


@click.command(name="compare")
@click.option(
    "--run",
    "run_options",
    multiple=True,
    required=True,
    metavar="NAME=RUN[,RUN...]",
    help="A recipe and its runs (its seeds), repeatable. A RUN is a primbench run folder, a transformers.Trainer "
    "output folder (checkpoint-*/trainer_state.json), a folder of HF checkpoints, or one HF folder.",
)
@click.option("--reference", required=True, help="The NAME every other recipe is read against (e.g. baseline).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder for results and state.")
@click.option(
    "--text",
    "text_file",
    default=None,
    type=click.Path(path_type=Path),
    help="Held-out UTF-8 text for bits per byte (the isoplot's x). Without it, the validation loss the runs logged "
    "is used, which needs one shared tokenizer.",
)
@click.option(
    "--flops",
    "flops_options",
    multiple=True,
    metavar="NAME=CSV",
    help="Training FLOPs of NAME's checkpoints (CSV columns checkpoint,flops); beats logged figures (repeatable).",
)
@options.TASKS
@options.SHOTS
@options.LIMIT
@click.option("--finetune", is_flag=True, help="Also run the fine-tuned protocol on every run's final model.")
@click.option("--window", default=None, type=click.IntRange(min=2), help="Tokens per bits-per-byte window.")
@click.option("--quiet", is_flag=True, help="No progress bars for fine-tuning.")
def command(
    run_options: tuple[str, ...],
    reference: str,
    out_dir: Path,
    text_file: Path | None,
    flops_options: tuple[str, ...],
    tasks: tuple[str, ...],
    shots: int,
    limit: int | None,
    finetune: bool,
    window: int | None,
    quiet: bool,
) -> None:
    """Compare training recipes at the end of training, at equal training FLOPs and at equal loss.

    Per checkpoint: bits per byte on --text (or the logged validation loss) and few-shot accuracy per task; per
    final model: block similarity and, with --finetune, the fine-tuned protocol. Each reading of a recipe
    against --reference is a 95% bootstrap interval over seeds and items (paired when both recipes have the
    same number of seeds). Writes table.md, table.csv, intervals.csv, results.json and plots/; a re-run reads
    the measurements back from DIR/state.json and only redraws.

    \b
    Examples:
      primbench compare --run lr3e-4=out/a-s0,out/a-s1 --run lr1e-3=out/b-s0,out/b-s1 \\
          --reference lr3e-4 --text heldout.txt --limit 100 --out cmp/
      primbench compare --run baseline=runs/tiny/runs/baseline --run midas=runs/tiny/runs/midas \\
          --reference baseline --text heldout.txt --finetune --out cmp-tiny/
    """
    from primbench.harness.comparison.compare import CompareSettings, compare
    from primbench.harness.comparison.runs import parse_named
    from primbench.harness.errors import HarnessError
    from primbench.harness.evaluation.finetune import FinetuneConfig

    runs = parse_named(run_options, "--run", "midas=runs/m-seed0,runs/m-seed1")
    flops = parse_named(flops_options, "--flops", "midas=midas_flops.csv")
    several = [name for name, paths in flops.items() if len(paths) > 1]
    if several:
        raise HarnessError(f"--flops {several[0]} takes one CSV; list every checkpoint's FLOPs in it")
    tuning = FinetuneConfig(**({"limit": limit} if limit is not None else {})) if finetune else None
    settings = CompareSettings(tasks=tasks, shots=shots, limit=limit, finetune=tuning, window=window)
    compare(
        runs,
        reference,
        out_dir,
        text=text_file,
        flops={name: paths[0] for name, paths in flops.items()},
        settings=settings,
        log=lambda line: click.echo(line, err=True),
        progress=not quiet,
    )
    click.echo((out_dir / "table.md").read_text())
    click.echo(f"results: {out_dir / 'results.json'}   tables: {out_dir / 'table.md'}   plots: {out_dir / 'plots'}/")
