"""`primbench loop MODEL --layers START:END --repeat R --out DIR`: a checkpoint that runs a block R times."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="loop")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--layers", "layer_range", required=True, help="Block to repeat, START:END (END exclusive), e.g. 2:4.")
@click.option("--repeat", default=2, show_default=True, type=int, help="How many times the block runs in a row.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="New Hugging Face folder.")
def command(model: Path, layer_range: str, repeat: int, out_dir: Path) -> None:
    """Write a copy of MODEL whose decoder runs layers START..END-1 REPEAT times in a row (inference-time looping).

    The result is a plain Hugging Face folder (safetensors, tokenizer, chat template), so `primbench eval`,
    `primbench sweep`, lm-eval and vLLM load it as is. `--repeat 1` gives back the original model exactly.
    Together with `sweep` this tests the conjecture that grown (MIDAS) models behave like looped ones.

    \b
    Examples:
      primbench loop runs/tiny-midas/final --layers 2:4 --repeat 2 --out runs/tiny-midas-looped
      primbench loop ~/.cache/primbench/models/smollm2-135m-instruct --layers 10:20 --repeat 2 --out smol-loop
      primbench sweep runs/tiny-midas/final runs/tiny-midas-looped --preset variable_assignment_d0_math \\
          --knob chains=2,5,10 --limit 50 --out sweep/
    """
    from primbench.harness.analysis.loop import parse_layers, write_looped

    start, end = parse_layers(layer_range)
    record = write_looped(model, start, end, repeat, out_dir)
    before, after = record["num_layers"]
    click.echo(f"{model}: {before} layers -> {after} (layers {start}..{end - 1} x{repeat}); wrote {out_dir}")
    click.echo("layer order: " + " ".join(str(source) for source in record["sources"]))
