"""`primbench finetune MODEL`: the paper's fine-tuned protocol on any Hugging Face checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from primbench.harness.evaluation.finetune import FinetuneConfig
from primbench.tasks.selection import DEFAULT_TASKS

DEFAULTS = FinetuneConfig()  # the protocol's defaults live in one place: the dataclass


@click.command(name="finetune")
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--tasks",
    "task_names",
    multiple=True,
    default=DEFAULT_TASKS,
    show_default=True,
    help="Tasks or groups to tune on and score (commas or repeats; globs like prim_variable_*).",
)
@click.option(
    "--n-train",
    default=DEFAULTS.n_train,
    show_default=True,
    type=int,
    help="Training examples in the mixture, over all tasks together (the paper used 64).",
)
@click.option(
    "--seeds",
    "seed_count",
    default=len(DEFAULTS.seeds),
    show_default=True,
    type=int,
    help="Independent runs (seeds 0..N-1); accuracy is reported as mean and std over them.",
)
@click.option("--steps", default=DEFAULTS.steps, show_default=True, type=int, help="AdamW steps per run.")
@click.option(
    "--lr",
    default=DEFAULTS.lr,
    show_default=True,
    type=float,
    help="Constant learning rate (1e-3 suits the tiny models).",
)
@click.option("--batch-size", default=DEFAULTS.batch_size, show_default=True, type=int, help="Examples per step.")
@click.option(
    "--shots", default=DEFAULTS.shots, show_default=True, type=int, help="Demonstrations when scoring the copy."
)
@click.option("--limit", default=DEFAULTS.limit, show_default=True, type=int, help="Test items scored per task.")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Folder for finetune.json (per-seed accuracies, mean, std and the settings); a run interrupted "
    "and started again with the same --out continues after its last finished seed.",
)
def command(
    model: Path,
    task_names: tuple[str, ...],
    n_train: int,
    seed_count: int,
    steps: int,
    lr: float,
    batch_size: int,
    shots: int,
    limit: int,
    out_dir: Path | None,
) -> None:
    """Fine-tune copies of MODEL on a small mixture of primitive training examples and score them.

    Each seed tunes a fresh copy (loss on the answer tokens only) and scores it on the test split through
    the same lm-eval tasks as `primbench eval`, and on its own training examples (the `fit` column: a copy
    that does not fit them has not taken the tuning). The original checkpoint is never modified.

    \b
    Examples:
      primbench finetune runs/tiny/runs/midas/final --lr 1e-3 --out results/ft-midas
      primbench finetune runs/tiny/runs/midas/final --tasks prim_variable_assignment_d1_math --n-train 32
      primbench finetune path/to/hf_model --seeds 5 --steps 100 --lr 3e-4 --limit 200
    """
    from primbench.atomic import remove_leftovers, write_json
    from primbench.harness.errors import HarnessError
    from primbench.harness.evaluation.finetune import PROGRESS_FILE, finetune_checkpoint

    if seed_count < 1:
        raise HarnessError(f"--seeds must be at least 1, got {seed_count}")
    config = FinetuneConfig(
        n_train=n_train,
        seeds=tuple(range(seed_count)),
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        shots=shots,
        limit=limit,
    )
    progress_file = out_dir / PROGRESS_FILE if out_dir is not None else None
    result = finetune_checkpoint(model, list(task_names), config, progress_file=progress_file).to_dict()
    if out_dir is not None:
        write_json(result, out_dir / "finetune.json")
        progress_file.unlink(missing_ok=True)  # finished: the next run of this command starts afresh
        for name in ("finetune.json", PROGRESS_FILE):  # what a killed run may have left
            remove_leftovers(out_dir, name)
    width = max(len(task) for task in result["tasks"])
    if seed_count > 1:
        click.echo(f"{'task':<{width}}  mean    std     fit     per seed")
        for task, cell in result["tasks"].items():
            seeds = " ".join(f"{value:.3f}" for value in cell["per_seed"])
            click.echo(f"{task:<{width}}  {cell['mean']:.3f}   {cell['std']:.3f}   {cell['fit']:.3f}   {seeds}")
        click.echo(f"{'mean':<{width}}  {result['mean']:.3f}           {result['fit']:.3f}")
    else:  # one seed has no spread to show
        click.echo(f"{'task':<{width}}  accuracy  fit")
        for task, cell in result["tasks"].items():
            click.echo(f"{task:<{width}}  {cell['mean']:.3f}     {cell['fit']:.3f}")
        click.echo(f"{'mean':<{width}}  {result['mean']:.3f}     {result['fit']:.3f}")
    click.echo("fit: accuracy of the tuned copies on their own training examples (1.000 = the mixture is fitted)")
    if out_dir is not None:
        click.echo(f"written: {out_dir / 'finetune.json'}")
