"""Score a model on the primbench task registry through lm-eval's Python API.

`evaluate` indexes only our task folder (`TaskManager(include_path=..., include_defaults=False)`: lm-eval's own
3,000 tasks take ~15 s to index), loads the model once for every task, checks what lm-eval would otherwise fail on
late or silently (unknown names, too few few-shot examples, a tokenizer without eos), and returns an `EvalResult`
with one accuracy and stderr per task and group plus lm-eval's raw results. `harness.evaluation.outputs.write_outputs` saves them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from primbench.harness.errors import HarnessError
from primbench.harness.evaluation import BACKEND_NAME
from primbench.harness.evaluation.models import (
    check_model_source,
    check_tokenizer,
    choose_dtype,
    load_model_error,
    load_tokenizer,
)
from primbench.harness.evaluation.prompt_fit import PromptFit
from primbench.tasks.registry import generation_budget
from primbench.tasks.selection import DEFAULT_TASKS, check_each_task_once, resolve_task_names
from primbench.tasks.selection import FEWSHOT_SEED as DEFAULT_SEED

# transformers backends: ours (the default: the output head only at scored positions) and lm-eval's names for its own
HF_MODEL_TYPES = (BACKEND_NAME, "hf", "hf-auto", "huggingface")
# (metric, filter) that is the headline number of each scoring; lm-eval keys results as "metric,filter".
CHAT_REPLY_TOKENS = 32  # room for a chat reply's opening words before the answer
QUIET_LOGGERS = ("lm_eval", "lm-eval", "transformers", "datasets")
HEADLINE = {"loglikelihood": ("acc", "none"), "generate_until": ("exact_match", "strict-match")}


@dataclasses.dataclass(frozen=True)
class Score:
    """One row of the tidy table: a task or a group, its scoring, accuracy and standard error."""

    name: str
    kind: str  # "task" or "group"
    scoring: str  # "loglikelihood" or "generation"
    accuracy: float
    stderr: float | None
    n: int  # items scored (for a group: summed over its tasks)
    version: Any
    flexible: float | None = None  # generation: exact match after the flexible-extract filter (tasks/filters.py)


@dataclasses.dataclass
class EvalResult:
    """Scores per task and group, and lm-eval's own results dict (`raw`, with `samples` when logged)."""

    scores: list[Score]
    raw: dict
    # task -> prompts longer than the model's context window (scored only with allow_truncation)
    truncated: dict[str, int] = dataclasses.field(default_factory=dict)
    # task -> headline score of each item in doc order (0/1 accuracy), for intervals over items
    items: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def score(self, name: str) -> Score:
        for row in self.scores:
            if row.name == name:
                return row
        raise KeyError(f"{name} was not evaluated; evaluated: {', '.join(row.name for row in self.scores)}")

    def accuracy(self, name: str) -> float:
        return self.score(name).accuracy

    @property
    def tasks(self) -> dict[str, Score]:
        return {row.name: row for row in self.scores if row.kind == "task"}

    @property
    def groups(self) -> dict[str, Score]:
        return {row.name: row for row in self.scores if row.kind == "group"}

    @property
    def samples(self) -> dict[str, list[dict]]:
        return self.raw.get("samples", {})

    def table(self):
        """A pandas DataFrame, groups first, one row per task or group."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(row) for row in self.scores])


def tasks_dir() -> Path:
    from primbench.tasks import TASKS_DIR

    return TASKS_DIR


def task_manager(metadata: dict | None = None):
    """A TaskManager over our folder only; `metadata` reaches the tasks' `custom_dataset` (n, seed, knobs, data)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(tasks_dir()), include_defaults=False, metadata=metadata or None)


def build_requests(
    tasks: Sequence[str], shots: int, limit: int | None, metadata: dict | None = None, seed: int = DEFAULT_SEED
) -> list:
    """lm-eval's request Instances for `tasks`, built as `simple_evaluate` builds them: what every backend is sent.

    For scoring several backends on identical requests (tests/harness/test_backend.py, benchmarks/bench_eval.py).
    """
    requests = []
    for task in task_manager(metadata).load(resolve_task_names(tasks))["tasks"].values():
        task.set_config(key="num_fewshot", value=shots)
        task.set_fewshot_seed(seed=seed)
        task.build_all_requests(limit=limit)
        requests.extend(task.instances)
    return requests


def evaluate(
    model,
    tasks: Sequence[str] = DEFAULT_TASKS,
    shots: int = 5,
    limit: int | None = None,
    *,
    tokenizer=None,
    batch_size: int | str = 8,
    device: str = "cpu",
    dtype: str | None = None,
    model_type: str = BACKEND_NAME,
    model_args: str | dict | None = None,
    metadata: dict | None = None,
    seed: int = DEFAULT_SEED,
    log_samples: bool = True,
    bootstrap_iters: int = 100_000,
    quiet: bool = False,
    apply_chat_template: bool = False,
    system_instruction: str | None = None,
    allow_truncation: bool = False,
) -> EvalResult:
    """Evaluate `model` on primbench tasks and groups, `shots`-shot from the train split, first `limit` items.

    `model` is a local HF folder or hub name (loaded once for all tasks), an already-loaded transformers model
    (pass `tokenizer` too; for scoring many checkpoints without reloading), or any lm-eval `LM` instance.
    `metadata` sets the data (`n`, `n_train`, `seed`, `knobs`, `data`; see tasks/data.py). `seed` fixes the
    few-shot draw. Accuracy stderrs are closed-form (bootstrap_iters=0 turns every stderr off). `model_type`:
    `primbench-hf` (lm-eval's `hf` backend with the output head only at scored positions; same answers), `hf`,
    or any lm-eval backend (`vllm`, `sglang`). `dtype` None: as saved, but float32 for half precision that the
    CPU only emulates (`models.choose_dtype`).
    `apply_chat_template` wraps prompts in the tokenizer's chat template, the few-shot examples as turns, after
    `system_instruction` (lm-eval's own options, passed through).
    A prompt longer than the model's context raises `HarnessError` before any forward pass, unless
    `allow_truncation` (then lm-eval cuts it from the left, and `EvalResult.truncated` counts it).
    """
    if shots < 0:
        raise HarnessError(f"--shots must be 0 or more, not {shots}")
    if limit is not None and limit < 1:
        raise HarnessError(f"--limit must be 1 or more, not {limit}")
    with quiet_loggers(quiet):
        from lm_eval import simple_evaluate

        # cheap checks first: a typo should not cost a model load
        if isinstance(model, (str, Path)) and model_type in HF_MODEL_TYPES:
            check_model_source(str(model))
        manager = task_manager(metadata)
        names = resolve_task_names(tasks)
        check_each_task_once(names)
        loaded = manager.load(names)
        _check_fewshot_pools(loaded["tasks"], shots)
        _size_generation(loaded["tasks"], chat=apply_chat_template)
        extra = _model_arguments(model_args)
        if isinstance(model, (str, Path)) and model_type in HF_MODEL_TYPES:
            # read once (a 262k-vocabulary tokenizer.json takes seconds): the chat check and the backend share it
            tokenizer = load_tokenizer(str(model), bool(extra.get("trust_remote_code", False)))
        if apply_chat_template:
            _check_chat_template(model, tokenizer)
        lm = _language_model(model, tokenizer, batch_size, device, dtype, model_type, extra)
        top_level = [loaded["groups"][name] if name in loaded["groups"] else loaded["tasks"][name] for name in names]
        # samples are always logged: they hold the per-item scores (`item_scores`); dropped below unless asked for
        with quiet_git_probe(), PromptFit(lm, shots, allow_truncation).watching() as fit:
            raw = simple_evaluate(
                model=lm,
                tasks=top_level,
                task_manager=manager,
                num_fewshot=shots,
                limit=limit,
                log_samples=True,
                bootstrap_iters=bootstrap_iters,
                random_seed=seed,
                numpy_random_seed=seed,
                torch_random_seed=seed,
                fewshot_random_seed=seed,
                apply_chat_template=apply_chat_template,
                fewshot_as_multiturn=apply_chat_template,
                system_instruction=system_instruction,
            )
        truncated = fit.truncated
        items = _item_scores(raw["samples"], loaded["tasks"])
        if not log_samples:
            del raw["samples"]
        # lm-eval names a pre-built model by its class ("HFLM"); keep what a rerun needs
        raw["config"]["primbench"] = {
            "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
            "tasks": names,
            "shots": shots,
            "limit": limit,
            "metadata": metadata or {},
            "seed": seed,
            "model_type": model_type,
            "model_args": model_args,
            "truncated": truncated,
            "apply_chat_template": apply_chat_template,
            "system_instruction": system_instruction,
            "longest_prompt": fit.longest,
            "context": fit.max_length,
        }
        return EvalResult(scores=_scores(raw, loaded), raw=raw, truncated=truncated, items=items)


@contextlib.contextmanager
def quiet_loggers(quiet: bool):
    """Lower lm-eval's, transformers' and datasets' loggers to errors for the block, then restore them."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS] if quiet else []
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _check_chat_template(model, tokenizer) -> None:
    """Before any weights load: a model asked to chat must have a chat template (lm-eval would fail mid-run)."""
    if tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        where = model if isinstance(model, (str, Path)) else type(model).__name__
        raise HarnessError(
            f"the tokenizer of {where} has no chat template (chat_template.jinja or tokenizer_config.json); "
            "drop --apply-chat-template to score it on raw prompts"
        )


@contextlib.contextmanager
def quiet_git_probe():
    """lm-eval's `get_git_commit_hash`, same value, without git's `fatal: not a git repository` on our stderr.

    lm-eval records the commit of the working directory by running `git describe` with stderr inherited, which
    prints that line whenever primbench runs outside a git checkout. Nothing else is silenced.
    """
    import subprocess

    import lm_eval.evaluator
    from lm_eval.loggers.utils import get_commit_from_path

    def commit_hash():
        try:
            done = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, check=True)
            return done.stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return get_commit_from_path(os.getcwd())

    original = lm_eval.evaluator.get_git_commit_hash
    lm_eval.evaluator.get_git_commit_hash = commit_hash
    try:
        yield
    finally:
        lm_eval.evaluator.get_git_commit_hash = original


def _item_scores(samples: dict, tasks: dict) -> dict[str, list[float]]:
    """Per task, the headline metric of each scored item in doc order (what intervals over items resample)."""
    scores = {}
    for name, task_samples in samples.items():
        metric, filter_name = HEADLINE[tasks[name].config.output_type]
        by_doc = {s["doc_id"]: float(s[metric]) for s in task_samples if s.get("filter", "none") == filter_name}
        scores[name] = [by_doc[doc] for doc in sorted(by_doc)]
    return scores


def _model_arguments(model_args: str | dict | None) -> dict:
    """`--model-args` as a dict (lm-eval's `k=v,k=v` form, or a dict already)."""
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(model_args) if isinstance(model_args, str) else dict(model_args or {})


def _language_model(model, tokenizer, batch_size, device, dtype, model_type, extra: dict):
    """Turn what the caller gave into an lm-eval `LM`, loading weights once and failing in one line.

    For a transformers folder, `tokenizer` is the one `evaluate` already read: the backend takes it as is."""
    from lm_eval.api.model import LM
    from lm_eval.api.registry import get_model

    if isinstance(model, LM):
        return model
    if not isinstance(model, (str, Path)):  # an in-memory transformers model
        from lm_eval.models.huggingface import HFLM

        if tokenizer is None:
            raise HarnessError("pass tokenizer= together with an in-memory model")
        check_tokenizer(tokenizer, type(model).__name__)
        lm_class = HFLM if model_type != BACKEND_NAME else get_model(BACKEND_NAME)
        return lm_class(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, **extra)
    model = str(model)
    try:
        model_class = get_model(model_type)
    except HarnessError:
        raise  # importing primbench-hf refused this lm-eval (backend.check_overridden_method)
    except (KeyError, ValueError):
        from lm_eval.api.registry import model_registry

        raise HarnessError(
            f"unknown --model-type {model_type!r}; lm-eval knows {', '.join(sorted(model_registry))}"
        ) from None
    if model_type in HF_MODEL_TYPES:
        dtype = choose_dtype(model, device, dtype)
    arguments = {"pretrained": model, **({"dtype": dtype} if dtype else {}), **extra}
    if model_type in HF_MODEL_TYPES:
        arguments["tokenizer"] = tokenizer
    try:
        return model_class.create_from_arg_obj(arguments, {"batch_size": batch_size, "device": device})
    except ImportError as error:
        raise HarnessError(f"--model-type {model_type} needs a package that is not installed ({error})") from None
    except Exception as error:  # noqa: BLE001 - transformers signals corrupt weights with many exception types
        raise load_model_error(model, error) from None


def _check_fewshot_pools(tasks: dict, shots: int) -> None:
    for name, task in tasks.items():
        pool = len(task.dataset[task.config.fewshot_split])
        if shots > pool:
            raise HarnessError(
                f"{name}: --shots {shots} is more than the {pool} train items it draws examples "
                f"from; use --shots {pool} or fewer, or a larger pool: --metadata n_train={shots}"
            )


def _size_generation(tasks: dict, chat: bool = False) -> None:
    """Fit `max_gen_toks` to the longest answer actually loaded (knobs in --metadata can lengthen answers).

    A chat model tends to open its reply with words ("The value of n is ..."), so with a chat template the budget
    adds `CHAT_REPLY_TOKENS` for flexible-extract to find the answer in (strict match compares the whole reply, so
    a reply that opens with words fails it at any budget)."""
    for task in tasks.values():
        if task.config.output_type == "generate_until":
            longest = max(len(answer) for split in task.dataset.values() for answer in split["answer"])
            budget = generation_budget(longest) + (CHAT_REPLY_TOKENS if chat else 0)
            task.set_config(key="generation_kwargs", value={"max_gen_toks": budget}, update=True)


def _scores(raw: dict, loaded: dict) -> list[Score]:
    """Tidy rows from lm-eval's results: groups first (in request order), then tasks by name."""
    results, counts, versions = raw["results"], raw.get("n-samples", {}), raw.get("versions", {})

    def row(name: str, kind: str, output_type: str, n: int) -> Score:
        metric, filter_name = HEADLINE[output_type]
        stderr = results[name].get(f"{metric}_stderr,{filter_name}")
        flexible = results[name].get(f"{metric},flexible-extract") if output_type == "generate_until" else None
        return Score(
            name=name,
            kind=kind,
            scoring="loglikelihood" if output_type == "loglikelihood" else "generation",
            accuracy=float(results[name][f"{metric},{filter_name}"]),
            stderr=float(stderr) if isinstance(stderr, (int, float)) else None,
            n=n,
            version=versions.get(name),
            flexible=float(flexible) if isinstance(flexible, (int, float)) else None,
        )

    task_rows = {
        name: row(name, "task", task.config.output_type, counts.get(name, {}).get("effective", 0))
        for name, task in loaded["tasks"].items()
    }
    group_rows = []
    for name, group in loaded["groups"].items():
        members = [task.task_name for task in group.get_all_tasks()]
        output_types = {loaded["tasks"][member].config.output_type for member in members}
        if name in results and len(output_types) == 1:
            group_rows.append(row(name, "group", output_types.pop(), sum(task_rows[m].n for m in members)))
    return group_rows + [task_rows[name] for name in sorted(task_rows)]


def score_tasks(
    model, tokenizer, tasks: list[str], shots: int, limit: int | None, batch_size: int = 16
) -> dict[str, dict]:
    """{task: {"accuracy", "stderr", "n", "truncated", "items"}} of an in-memory model through `evaluate`."""
    result = evaluate(
        model,
        tasks,
        shots=shots,
        limit=limit,
        tokenizer=tokenizer,
        batch_size=batch_size,
        log_samples=False,
        quiet=True,
    )
    return {
        task: {
            "accuracy": score.accuracy,
            "stderr": score.stderr,
            "n": score.n,
            "truncated": result.truncated.get(task, 0),
            "items": result.items.get(task, []),
        }
        for task, score in result.tasks.items()
        if task in tasks
    }
