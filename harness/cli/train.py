"""`primbench train`: pretrain a baseline, GradStack or MIDAS model from a config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from primbench.harness.cli import options


@click.command(name="train")
@options.CONFIG
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Run folder: final/, checkpoints/step_*/, metrics.jsonl, summary.json.",
)
@options.config_overrides("--set optim.lr=1e-3 --set growth.schedule=uniform")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue after an interruption from the newest complete checkpoint in --out (step 0 if there is none), "
    "exactly; a finished run is left as it is.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(config_path: str, out_dir: Path, overrides: tuple[str, ...], resume: bool, quiet: bool) -> None:
    """Pretrain a decoder-only LM (Llama, Qwen2 or Gemma-3) with a growth method (--config lists them).

    The model grows from one block of b layers to k blocks: gradstack copies the top block onto the top,
    midas copies the middle block (ceil(n/2) of n) and inserts the copy after it; baseline trains all k*b layers
    from the start. DIR/final/ is a plain Hugging Face folder for `primbench eval`, lm-eval or vLLM.

    Config keys (all in model_zoo/config.py): model.* (LlamaConfig names, and model.architecture),
    growth.method/block_size/stages/schedule/alpha/stage_steps/new_layer_optimizer_state,
    data.corpus/seq_len/max_chars, optim.lr/min_lr/warmup_steps/lr_schedule,
    run.steps/batch_size/micro_batch_size/device/compile/parallel/num_threads.

    \b
    Examples:
      primbench train --config tiny-midas --out runs/tiny-midas
      primbench train --config model_zoo/configs/tiny-gradstack.yaml --out runs/tiny-gs --set run.steps=600
      primbench train --config tiny-midas --out runs/a --set growth.schedule=prop --set growth.alpha=2
      primbench train --config tiny-midas --out runs/solar --set growth.method=solar --set model.architecture=qwen2
      primbench train --config tiny-midas --out runs/a --set data.corpus=my_texts/ --set model.vocab_size=8192
      primbench train --config tiny-midas --out runs/tiny-midas --resume
      torchrun --nproc_per_node 8 -m primbench.model_zoo.train --config base-midas --out runs/base-midas
    """
    from primbench.model_zoo.config import load_config
    from primbench.model_zoo.train import train

    summary = train(load_config(config_path, list(overrides)), out_dir, resume=resume, progress=not quiet)
    shown = {
        k: summary[k]
        for k in (
            "method",
            "steps",
            "layers",
            "parameters",
            "tokens",
            "baseline_flops_ratio",
            "wall_clock_s",
            "final_val_loss",
        )
    }
    click.echo(json.dumps(shown))
    click.echo(f"model: {out_dir / 'final'}   log: {out_dir / 'metrics.jsonl'}   summary: {out_dir / 'summary.json'}")
