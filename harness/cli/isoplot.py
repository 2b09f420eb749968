"""`primbench isoplot RUN... --text FILE`: few-shot accuracy against bits per byte, checkpoint by checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from primbench.harness.cli import options


@click.command(name="isoplot")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--text",
    "text_file",
    required=True,
    type=click.Path(path_type=Path),
    help="UTF-8 text whose bits per byte each checkpoint is measured on (held out from training).",
)
@options.TASKS
@options.SHOTS
@options.LIMIT
@click.option(
    "--window",
    default=None,
    type=click.IntRange(min=2),
    help="Tokens per bits-per-byte window (default and maximum: the model's context).",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Write isoplot.csv and isoplot.png here."
)
def command(
    runs: tuple[Path, ...],
    text_file: Path,
    tasks: tuple[str, ...],
    shots: int,
    limit: int | None,
    window: int | None,
    out_dir: Path,
) -> None:
    """For every checkpoint of every RUN: bits per byte on FILE and few-shot accuracy per task (the isoplot).

    A RUN is a training run folder (its checkpoints/*/ and final/), any folder of Hugging Face checkpoint
    folders, or one HF folder. Bits per byte (next-token NLL in bits summed over FILE, divided by its UTF-8
    bytes; non-overlapping windows of the model's context) does not depend on the tokenizer, so runs of
    different architectures and tokenizers share one x axis. isoplot.csv: run,checkpoint,bits_per_byte,task,
    accuracy,n; isoplot.png: mean accuracy against bits per byte, one line per run.

    \b
    Examples:
      primbench isoplot runs/tiny-midas runs/tiny-baseline --text heldout.txt --limit 50 --out iso/
      primbench isoplot ~/.cache/primbench/models/smollm2-135m-instruct --text heldout.txt \\
          -t prim_variable_assignment_d0_code --shots 3 --limit 30 --out iso-smol/
    """
    from primbench.harness.analysis.isoplot import isoplot
    from primbench.harness.reports.diagnostics import write_isoplot

    points = isoplot(runs, text_file, tasks=tasks, shots=shots, limit=limit, window=window)
    for point in points:
        mean = "-" if point.mean_accuracy is None else f"{point.mean_accuracy:.3f}"
        click.echo(f"{point.run}  {point.checkpoint}  bits/byte {point.x:.4f}  mean accuracy {mean}")
        for task, cell in point.scores.items():
            if cell.get("truncated"):
                click.echo(
                    f"warning: {cell['truncated']} of {cell['n']} prompts of {task} at {point.checkpoint} are "
                    f"longer than the model's context and were cut (fewer than {shots} shots seen)",
                    err=True,
                )
    written = write_isoplot(points, out_dir, text_file.name)
    click.echo("wrote " + ", ".join(str(path) for path in written.values()))
