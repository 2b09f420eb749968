"""`primbench prepare`: tokenise a config's corpus into token shards once, before training."""

from __future__ import annotations

import json

import click

from primbench.harness.cli import options


@click.command(name="prepare")
@options.CONFIG
@options.config_overrides("--set data.corpus=/data/fineweb/ --set data.prepare_workers=16")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(config_path: str, overrides: tuple[str, ...], quiet: bool) -> None:
    """Turn the configured corpus into flat token shards (uint16/uint32 .bin files plus manifest.json).

    Streams the text (local .txt/.jsonl/.parquet files or folders, the default offline set, or
    hf:NAME[:CONFIG][@SPLIT]) through a pool of data.prepare_workers processes, so memory stays bounded by a
    unit of ~32 MB whatever the corpus size. Run it again after an interruption and it resumes. The shards live
    in $PRIMBENCH_CACHE/tokens/<key>/, the key a hash of the corpus's file names, sizes and modification times,
    the tokenizer and the data settings. `primbench train` on one process prepares missing shards itself; a
    torchrun launch needs them prepared first.

    \b
    Examples:
      primbench prepare --config tiny-midas
      primbench prepare --config 1b-midas --set data.corpus=/data/fineweb-edu/sample/10BT/ --set data.max_chars=0
      primbench prepare --config 1b-midas --set data.corpus=hf:HuggingFaceFW/fineweb-edu:sample-10BT@train
      primbench prepare --config base-midas --set data.tokenizer=path/to/gpt2_tokenizer/
      torchrun --nproc_per_node 8 -m primbench.model_zoo.train --config 1b-midas --out runs/1b-midas
    """
    from primbench.model_zoo.config import load_config
    from primbench.model_zoo.prepare import MANIFEST, prepare_shards

    folder = prepare_shards(load_config(config_path, list(overrides)), progress=not quiet)
    manifest = json.loads((folder / MANIFEST).read_text())
    shown = {key: manifest[key] for key in ("documents", "tokens", "dtype", "units")}
    click.echo(json.dumps({**shown, "vocab_size": manifest["tokenizer"]["vocab_size"]}))
    click.echo(f"shards: {folder}")
