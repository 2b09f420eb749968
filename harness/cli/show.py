"""`primbench show`: pretty-print a few records of a preset with their answers."""

from __future__ import annotations

import json

import click

from primbench.primitives.dataset import DEFAULT_SEED, SPLITS


@click.command("show")
@click.argument("preset")
@click.option("-n", "count", type=int, default=3, show_default=True, help="How many records.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Dataset seed.")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True)
@click.option("--start", type=int, default=0, show_default=True, help="Index of the first record shown.")
@click.option("--set", "settings", multiple=True, metavar="KNOB=VALUE", help="Change a knob (repeatable).")
@click.option("--template", type=click.Path(dir_okay=False), help="Your own jinja2 template for the prompt.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw records, one JSON object per line.")
def command(
    preset: str,
    count: int,
    seed: int,
    split: str,
    start: int,
    settings: tuple[str, ...],
    template: str | None,
    as_json: bool,
) -> None:
    """Pretty-print examples of PRESET with their answers.

    \b
    Examples:
      primbench show variable_assignment_d1_math -n 2
      primbench show variable_assignment_d1_code --set depth=4 --set chains=3
      primbench show arithmetic_psm --split test --seed 7 --json
      primbench show induction_copy_words --template my_prompt.j2
    """
    from primbench.harness.errors import CommandLineError
    from primbench.primitives.describe import examples_text
    from primbench.primitives.knobs import parse_set_options
    from primbench.primitives.registry import build_dataset

    if count < 1 or start < 0:
        raise CommandLineError("-n must be at least 1 and --start at least 0")
    dataset = build_dataset(preset, seed, parse_set_options(settings), template)
    if as_json:
        for record in dataset.records(split, count, start):
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(examples_text(dataset, split, count, start), nl=False)
