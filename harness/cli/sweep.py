"""`primbench sweep MODEL... --preset P --knob NAME=V1,V2`: accuracy as a preset's difficulty knob moves."""

from __future__ import annotations

from pathlib import Path

import click

from primbench.harness.cli import options


@click.command(name="sweep")
@click.argument("models", nargs=-1, required=True)
@click.option("--preset", required=True, help="The preset whose knobs move, e.g. variable_assignment_d0_math.")
@click.option(
    "--knob",
    "knob_options",
    multiple=True,
    required=True,
    help="NAME=V1,V2,...; repeat for a grid over several knobs (`primbench list` shows the knobs).",
)
@options.SHOTS
@click.option("--limit", default=None, type=int, help="Score only the first N test items at each point.")
@click.option("--generation", is_flag=True, help="Score by greedy generation (the `_gen` task), not loglikelihood.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1), help="Items per pass.")
@click.option(
    "--allow-truncation",
    is_flag=True,
    help="Score points whose prompts are longer than a model's context (cut from the left) with a warning.",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Write sweep.csv and sweep.png here."
)
def command(
    models: tuple[str, ...],
    preset: str,
    knob_options: tuple[str, ...],
    shots: int,
    limit: int | None,
    generation: bool,
    batch_size: int,
    allow_truncation: bool,
    out_dir: Path,
) -> None:
    """Score each MODEL on PRESET at every value of the given knobs (a grid when several --knob are given).

    Items come from the same lm-eval task as `primbench eval` (with `--metadata '{"knobs": {...}}'`), so a point
    of the sweep is exactly what eval scores at that setting. sweep.csv has one row per model and point:
    model,preset,knob,value,accuracy,stderr,n,chance (for a grid, knob and value join names and values with
    commas); sweep.png draws accuracy against the knob per model with a 95% band and the chance line.

    \b
    Examples:
      primbench sweep ~/.cache/primbench/models/smollm2-135m-instruct --preset variable_assignment_d0_math \\
          --knob depth=0,1,2,3,4 --limit 30 --out sweep/
      primbench sweep runs/tiny-midas/final runs/tiny-baseline/final --preset variable_assignment_d1_code \\
          --knob chains=2,5,10 --shots 3 --out sweep-chains/
      primbench sweep MODEL --preset induction_copy_words --knob length=4,16,64 --knob filler=0,8 --out grid/
    """
    from primbench.harness.analysis.sweep import parse_knob_options, sweep
    from primbench.harness.reports.diagnostics import write_sweep

    rows = sweep(
        models,
        preset,
        parse_knob_options(knob_options),
        shots=shots,
        limit=limit,
        generation=generation,
        batch_size=batch_size,
        allow_truncation=allow_truncation,
    )
    for row in rows:
        click.echo(
            f"{row.model}  {row.knob}={row.value}  accuracy {row.accuracy:.3f}"
            + (f" ± {row.stderr:.3f}" if row.stderr is not None else "")
            + f"  n={row.n}  chance {row.chance:.3f}"
        )
        if row.truncated:
            click.echo(
                f"warning: {row.truncated} of {row.n} prompts at {row.knob}={row.value} are longer than the "
                f"context of {row.model} and were cut from the left (fewer than {shots} shots seen); "
                "use fewer --shots or a longer-context model",
                err=True,
            )
    written = write_sweep(rows, out_dir)
    click.echo("wrote " + ", ".join(str(path) for path in written.values()))
