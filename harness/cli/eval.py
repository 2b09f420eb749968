"""`primbench eval MODEL`: score a checkpoint on the primitives through lm-eval, few-shot."""

from __future__ import annotations

import json
from pathlib import Path

import click

from primbench.harness.cli import options
from primbench.harness.errors import HarnessError
from primbench.tasks.selection import FEWSHOT_SEED


def _batch_size(value: str) -> int | str:
    if value == "auto" or (value.isdigit() and int(value) > 0):
        return value if value == "auto" else int(value)
    raise HarnessError(f"--batch-size must be `auto` or a whole number >= 1, not {value!r}")


def _metadata(text: str | None) -> dict | None:
    """JSON (`{"n": 100, "knobs": {...}}`) or lm-eval's `key=value,key=value` form."""
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise HarnessError(f"--metadata is not valid JSON ({error}); e.g. --metadata '{{\"n\": 100}}'") from None
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(text)


@click.command(name="eval")
@click.argument("model")
@options.TASKS
@options.SHOTS
@options.LIMIT
@click.option("--batch-size", default="8", show_default=True, help="Items per forward pass, or `auto`.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps ...")
@click.option(
    "--dtype",
    default=None,
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    help="Weights dtype (default: as saved, but float32 for bfloat16/float16 on a CPU that only emulates them).",
)
@click.option(
    "--model-type",
    default="primbench-hf",
    show_default=True,
    help="lm-eval backend: primbench-hf (lm-eval's hf, output head only at scored positions), hf, vllm, sglang ...",
)
@click.option("--model-args", default=None, help="Extra backend arguments, e.g. `max_length=2048`.")
@click.option(
    "--metadata",
    default=None,
    help="Data options: n, n_train, seed, knobs, data (a `primbench generate` folder); JSON or k=v,k=v.",
)
@click.option("--seed", default=FEWSHOT_SEED, show_default=True, type=int, help="Seed of the few-shot draw.")
@click.option(
    "--apply-chat-template",
    is_flag=True,
    help="Wrap prompts in the tokenizer's chat template, few-shot examples as turns (instruct models).",
)
@click.option("--system-instruction", default=None, help="System message put before the prompt (chat or plain).")
@click.option(
    "--allow-truncation",
    is_flag=True,
    help="Score prompts longer than the model's context (lm-eval cuts them from the left) with a warning, "
    "instead of refusing.",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Write results.json, samples_<task>.jsonl, scores.csv and scores.md here.",
)
def command(
    model: str,
    tasks: tuple[str, ...],
    shots: int,
    limit: int | None,
    batch_size: str,
    device: str,
    dtype: str | None,
    model_type: str,
    model_args: str | None,
    metadata: str | None,
    seed: int,
    apply_chat_template: bool,
    system_instruction: str | None,
    allow_truncation: bool,
    out_dir: Path | None,
) -> None:
    """Score MODEL (a Hugging Face folder) on primbench's lm-eval tasks and print accuracy per task and group.

    Every task has two scorings: `prim_<preset>` by loglikelihood (right when every answer token is the greedy
    choice) and `prim_<preset>_gen` by greedy generation and exact match. Groups: reasoning_primitives (the
    paper's set), reasoning_primitives_gen, reasoning_primitives_<primitive>[_gen]. Generation tasks also report
    `flexible` (flexible-extract: the reply's first integer, or first words of the answer's length). A prompt
    longer than the model's context is refused before anything runs (lm-eval would cut it silently); the message
    names the longest prompt and the fixes.

    \b
    Examples:
      primbench eval runs/tiny-midas/final --limit 100 --shots 1
      primbench eval runs/tiny-midas/final --shots 5 --allow-truncation          # cut prompts, with a warning
      primbench eval runs/tiny-midas/final --tasks reasoning_primitives_gen --shots 0 --out results/tiny-midas
      primbench eval ~/.cache/primbench/models/smollm2-135m-instruct -t prim_variable_assignment_d0_code,prim_arithmetic_psm
      primbench eval ~/.cache/primbench/models/smollm2-135m-instruct -t reasoning_primitives_gen --apply-chat-template \\
          --system-instruction "Answer with the value only." --limit 30
      primbench eval my_model -t 'prim_variable_*' --metadata '{"n": 200, "seed": 7}' --device cuda --batch-size auto
      primbench eval my_model --model-type vllm --device cuda --model-args gpu_memory_utilization=0.8
    """
    from primbench.harness.evaluation.evaluate import evaluate
    from primbench.harness.evaluation.outputs import markdown_table, write_outputs

    result = evaluate(
        model,
        tasks=tasks,
        shots=shots,
        limit=limit,
        batch_size=_batch_size(batch_size),
        device=device,
        dtype=dtype,
        model_type=model_type,
        model_args=model_args,
        metadata=_metadata(metadata),
        seed=seed,
        quiet=True,
        apply_chat_template=apply_chat_template,
        system_instruction=system_instruction,
        allow_truncation=allow_truncation,
    )
    click.echo(markdown_table(result), nl=False)
    for task, count in sorted(result.truncated.items()):
        if count:
            click.echo(
                f"warning: {count} of {result.score(task).n} prompts of {task} are longer than the model's "
                f"context, and lm-eval cut them from the left (fewer than {shots} shots seen); "
                f"use fewer --shots or a longer-context model",
                err=True,
            )
    if out_dir is not None:
        write_outputs(result, out_dir)
        click.echo(f"wrote {out_dir}/results.json, samples_*.jsonl, scores.csv, scores.md")
