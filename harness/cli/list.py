"""`primbench list`: the primitives, their knobs (default, range) and their presets."""

from __future__ import annotations

import click


@click.command("list")
@click.argument("primitive", required=False)
@click.option("--names", is_flag=True, help="Print only preset names, one per line (for scripts).")
@click.option("--paper", is_flag=True, help="With --names: only the presets of the paper's suite.")
def command(primitive: str | None, names: bool, paper: bool) -> None:
    """Table of every primitive and preset, with each knob, its default and its range.

    \b
    Examples:
      primbench list                      # everything
      primbench list variable_assignment  # one primitive
      primbench list --names --paper      # the paper's suite, one name per line
    Change a knob with --set NAME=VALUE in `show` and `generate`.
    """
    from primbench.primitives.describe import catalog_text
    from primbench.primitives.errors import PrimitiveError
    from primbench.primitives.knobs import did_you_mean
    from primbench.primitives.registry import PAPER_SUITE, PRESETS, PRIMITIVES

    if primitive is not None and primitive not in PRIMITIVES:
        raise PrimitiveError(f"unknown primitive {primitive!r}; {did_you_mean(primitive, list(PRIMITIVES))}")
    if names:
        chosen = (
            PAPER_SUITE
            if paper
            else [p.name for p in PRESETS.values() if primitive is None or p.primitive == primitive]
        )
        click.echo("\n".join(chosen))
        return
    click.echo(catalog_text(primitive), nl=False)
