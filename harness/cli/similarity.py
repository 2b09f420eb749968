"""`primbench similarity CHECKPOINT`: the block cosine-similarity heatmap of any Hugging Face decoder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="similarity")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--block-size",
    default=None,
    type=click.IntRange(min=1),
    help="Consecutive layers per block; use the growth block size of a stacked model (e.g. 2 for tiny). "
    "Default: the block size in CHECKPOINT/growth.json (GrowthCallback checkpoints), else 1.",
)
@click.option(
    "--out",
    "out_path",
    default="similarity.png",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where to write the heatmap PNG.",
)
@click.option(
    "--json", "json_path", default=None, type=click.Path(path_type=Path), help="Also write the matrix as JSON here."
)
def command(checkpoint: Path, block_size: int | None, out_path: Path, json_path: Path | None) -> None:
    """Draw the cosine similarity between the flattened weights of every pair of blocks of CHECKPOINT.

    A MIDAS-grown model shows bright bands next to the diagonal (neighbouring blocks stay close, as in a
    looped model); a baseline shows a plain diagonal.

    \b
    Examples:
      primbench similarity runs/tiny/runs/midas/final --block-size 2 --out midas.png
      primbench similarity ~/.cache/primbench/models/smollm2-135m-instruct --block-size 5 --json sim.json
    """
    from primbench.atomic import write_json
    from primbench.harness.analysis.similarity import checkpoint_similarity, recorded_block_size
    from primbench.harness.reports.plots import plot_similarity

    if block_size is None:
        block_size = recorded_block_size(checkpoint) or 1
    result = checkpoint_similarity(checkpoint, block_size)
    title = f"{checkpoint.name or checkpoint}: {result.architecture}, {result.num_layers} layers"
    plot_similarity(result.matrix, out_path, title=title, block_size=block_size)
    if json_path is not None:
        write_json(result.to_dict(), json_path)
    for row in result.matrix:
        click.echo(" ".join(f"{value:6.3f}" for value in row))
    neighbours = result.neighbour_mean()
    if neighbours is not None:
        click.echo(f"mean similarity of neighbouring blocks: {neighbours:.3f}")
    click.echo(f"heatmap: {out_path}")
