"""`primbench generate`: write train/validation/test splits of presets, with manifests and dataset cards."""

from __future__ import annotations

import click

from primbench.primitives.dataset import DEFAULT_SEED
from primbench.primitives.writer import DEFAULT_COUNTS


@click.command("generate")
@click.argument("presets", nargs=-1)
@click.option("--all", "all_presets", is_flag=True, help="Every preset (see `primbench list`).")
@click.option("--paper", is_flag=True, help="The paper's suite: induction copying, variable assignment d0-d2, PSM.")
@click.option("--out", required=True, type=click.Path(), help="Folder to write one folder per preset.")
@click.option(
    "--n-train", type=int, help=f"Train records [default: {DEFAULT_COUNTS['train']}, capped at what the split holds]."
)
@click.option(
    "--n-val", type=int, help=f"Validation records [default: {DEFAULT_COUNTS['validation']}, capped likewise]."
)
@click.option("--n-test", type=int, help=f"Test records [default: {DEFAULT_COUNTS['test']}, capped likewise].")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Dataset seed.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet", "hf"]), default="jsonl", show_default=True)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KNOB=VALUE",
    help="Change a knob of every preset that has it (repeatable).",
)
@click.option("--template", type=click.Path(dir_okay=False), help="Your own jinja2 template for the prompts.")
@click.option("--overwrite", is_flag=True, help="Replace preset folders already in --out.")
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse a count above what a split holds, instead of clipping it with a warning line.",
)
@click.option("--quiet", is_flag=True, help="No progress bar, no summary.")
def command(
    presets: tuple[str, ...],
    all_presets: bool,
    paper: bool,
    out: str,
    n_train: int | None,
    n_val: int | None,
    n_test: int | None,
    seed: int,
    fmt: str,
    settings: tuple[str, ...],
    template: str | None,
    overwrite: bool,
    strict: bool,
    quiet: bool,
) -> None:
    """Write PRESETS (or --all, or --paper) to OUT/<preset>/.

    Each preset folder holds train/validation/test files, manifest.json (version, knobs, seed, counts, sha256
    of each file) and a dataset card README.md. A count above what a preset's knob space holds (PSM has few
    problems) is clipped to it with one warning line per split, or refused with --strict, before anything is
    written; a failed run leaves nothing behind.

    \b
    Examples:
      primbench generate --paper --out data/
      primbench generate variable_assignment_d2_code --out data/ --n-train 5000 --seed 1
      primbench generate arithmetic_two_digit --out data/ --format parquet --set operands=3
      primbench generate --all --out data/ --format hf --overwrite
    Load a JSONL split with datasets.load_dataset("json", data_files="data/arithmetic_psm/test.jsonl").
    """
    from primbench.harness.errors import CommandLineError
    from primbench.primitives.knobs import parse_set_options
    from primbench.primitives.registry import PAPER_SUITE, PRESETS
    from primbench.primitives.writer import generate

    if sum([bool(presets), all_presets, paper]) != 1:
        raise CommandLineError("name presets, or pass --all or --paper (exactly one of these); see `primbench list`")
    chosen = list(PRESETS) if all_presets else PAPER_SUITE if paper else list(presets)
    counts = {"train": n_train, "validation": n_val, "test": n_test}
    manifests = generate(
        chosen,
        out,
        counts,
        seed,
        fmt,
        parse_set_options(settings),
        template,
        overwrite,
        progress=not quiet,
        strict=strict,
    )
    if not quiet:
        for manifest in manifests:
            sizes = ", ".join(f"{split} {count}" for split, count in manifest["counts"].items())
            click.echo(f"wrote {out.rstrip('/')}/{manifest['preset']}  ({sizes}; {fmt})")
