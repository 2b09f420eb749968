"""The fine-tuned protocol: copies of a checkpoint tuned on a small mixture of primitive examples, then scored.

Few-shot accuracy at small scale mostly measures whether a model picked up the prompt format. The paper's second
protocol asks a sharper question: given 64 worked examples in total (a mixture over the primitives), how far can
the model go? Each seed tunes a fresh copy with AdamW for a fixed number of steps at a fixed learning rate, with
the loss on the answer tokens only, and the copy is scored on the test split through the same lm-eval registry
as the few-shot protocol (`primbench.harness.evaluation.evaluate`). Runs are deterministic on CPU: the seed fixes the examples drawn,
their order and everything torch draws.

Examples come from the train split after the few-shot pool (items `DEFAULT_TRAIN_ITEMS` onwards), so in a large
knob space the tuned model never sees the exact demonstrations the few-shot protocol shows. A preset whose train
split holds fewer problems than pool plus examples (PSM) wraps around it (`training_mixture`), so there the tuned
model may see them. The test split is disjoint by design.

Given a `progress_file`, each finished seed's scores are stored there, so a run killed anywhere and started again
with the same model, tasks and settings continues after its last finished seed, with the same result.
"""

from __future__ import annotations

import copy
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from primbench.atomic import write_json
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.evaluate import score_tasks
from primbench.harness.statistics import mean_accuracy
from primbench.tasks.data import DEFAULT_SEED
from primbench.tasks.selection import expand_tasks, preset_of, presets_of, training_mixture

if TYPE_CHECKING:
    import torch

PROGRESS_FILE = "finetune.seeds.json"  # the `primbench finetune --out` folder's record of finished seeds
IGNORE_INDEX = -100  # label value that the causal-LM loss skips (prompt and padding positions)
STOP = "\n"  # the generation tasks stop at a newline; tuning on it teaches the model to end its answer


@dataclass(frozen=True)
class FinetuneConfig:
    """The protocol's knobs; defaults follow the paper where it speaks (64 examples, 3 runs)."""

    n_train: int = 64  # examples in the mixture, over all presets together
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 48
    lr: float = 1e-4  # safe for pretrained checkpoints; the tiny models of `reproduce` take 1e-3
    batch_size: int = 8
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    shots: int = 0  # demonstrations when scoring the tuned copy
    limit: int | None = 100  # test items per task
    data_seed: int = DEFAULT_SEED  # the dataset seed of the lm-eval tasks, so train and test stay disjoint

    def validate(self) -> None:
        checks = [
            (self.n_train >= 1, f"--n-train must be at least 1, got {self.n_train}"),
            (len(self.seeds) >= 1, "--seeds must name at least one seed, e.g. --seeds 3"),
            (len(set(self.seeds)) == len(self.seeds), f"--seeds repeats a seed: {list(self.seeds)}"),
            (self.steps >= 1, f"--steps must be at least 1, got {self.steps}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.shots >= 0, f"--shots must be 0 or more, got {self.shots}"),
            (self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}"),
        ]
        for ok, message in checks:
            if not ok:
                raise HarnessError(message)

    def to_dict(self) -> dict:
        settings = asdict(self)
        settings["seeds"] = list(self.seeds)
        return settings


@dataclass
class FinetuneResult:
    """Per task: accuracy of each seed's tuned copy, their mean and sample standard deviation."""

    model: str
    settings: dict
    tasks: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "settings": self.settings,
            "tasks": self.tasks,
            "mean": mean_accuracy(cell["mean"] for cell in self.tasks.values()),
            "fit": mean_accuracy(cell["fit"] for cell in self.tasks.values()),
        }


def encode_example(record: dict, tokenizer, stop: str = STOP) -> tuple[list[int], list[int]]:
    """(input ids, labels) with the prompt masked out, split the way lm-eval splits context and continuation."""
    context = tokenizer.encode(record["prompt"], add_special_tokens=False)
    whole = tokenizer.encode(record["prompt"] + " " + record["answer"] + stop, add_special_tokens=False)
    if whole[: len(context)] != context:  # a merge across the boundary: fall back to encoding the parts apart
        whole = context + tokenizer.encode(" " + record["answer"] + stop, add_special_tokens=False)
    labels = [IGNORE_INDEX] * len(context) + whole[len(context) :]
    return whole, labels


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked from attention and from the loss."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, target) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(target)] = torch.tensor(target)
        attention[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def fitted(model, tokenizer, records: list[dict], batch_size: int = 16) -> list[bool]:
    """Per record: is every token of `" " + answer` the model's greedy choice after the prompt?

    The loglikelihood tasks' `acc`, computed on the tuned copy's own training examples: a copy that cannot
    reproduce the answers it was tuned on has not taken the tuning, whatever its test accuracy says.
    """
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    right: list[bool] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(records), batch_size):
            batch = collate(
                [encode_example(r, tokenizer, stop="") for r in records[start : start + batch_size]], pad_id
            )
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            guesses, targets = logits[:, :-1].argmax(-1), batch["labels"][:, 1:]  # position t predicts token t+1
            right += ((guesses == targets) | (targets == IGNORE_INDEX)).all(dim=1).tolist()
    return right


def tune_copy(model, tokenizer, records: list[dict], config: FinetuneConfig, seed: int, progress: bool = False):
    """A fine-tuned deep copy of `model`; the original is left untouched."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    examples = [encode_example(record, tokenizer) for record in records]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tuned = copy.deepcopy(model)
    tuned.train()
    optimizer = torch.optim.AdamW(tuned.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batch_size = min(config.batch_size, len(examples))
    queue: list[int] = []
    for _ in tqdm(range(config.steps), desc=f"fine-tune seed {seed}", disable=not progress, leave=False):
        if len(queue) < batch_size:  # epochs of a fresh permutation each, drawn from the seeded generator
            queue.extend(torch.randperm(len(examples), generator=order).tolist())
        batch = collate([examples[index] for index in queue[:batch_size]], pad_id)
        del queue[:batch_size]
        loss = tuned(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(tuned.parameters(), config.grad_clip)
        optimizer.step()
    tuned.eval()
    return tuned


def finetune(
    model,
    tokenizer,
    tasks: list[str],
    config: FinetuneConfig = FinetuneConfig(),
    name: str = "model",
    progress: bool = True,
    progress_file: Path | None = None,
) -> FinetuneResult:
    """Tune one copy per seed on the mixture of `tasks`' presets (groups expanded) and score each copy on them.
    With `progress_file`, seeds already stored there (same model name, tasks and settings) are not run again."""
    config.validate()
    tasks = expand_tasks(tasks)
    presets = presets_of(tasks)
    run = {"model": name, "tasks": tasks, "settings": config.to_dict()}
    done = _finished_seeds(progress_file, run)
    for seed in config.seeds:
        if str(seed) in done:
            continue
        records = training_mixture(presets, config.n_train, seed, config.data_seed)
        tuned = tune_copy(model, tokenizer, records, config, seed, progress=progress)
        right = fitted(tuned, tokenizer, records)
        scores = score_tasks(tuned, tokenizer, tasks, shots=config.shots, limit=config.limit)
        del tuned
        done[str(seed)] = {}
        for task in tasks:
            mine = [ok for ok, record in zip(right, records) if record["preset"] == preset_of(task)]
            cell = scores[task]
            done[str(seed)][task] = {"fit": sum(mine) / len(mine), **{k: cell[k] for k in ("accuracy", "items", "n")}}
        if progress_file is not None:
            write_json({**run, "seeds": done}, progress_file)
    per_seed = [done[str(seed)] for seed in config.seeds]
    cells = {}
    for task in tasks:
        values = [seed_cells[task]["accuracy"] for seed_cells in per_seed]
        fits = [seed_cells[task]["fit"] for seed_cells in per_seed]
        cells[task] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,  # one seed has no spread
            "per_seed": values,
            "n": per_seed[-1][task]["n"],
            "fit": statistics.fmean(fits),  # accuracy on the tuned copies' own training examples
            "fit_per_seed": fits,
            # per test item, over seeds
            "items": [statistics.fmean(column) for column in zip(*(c[task]["items"] for c in per_seed))],
        }
    return FinetuneResult(model=name, settings=config.to_dict(), tasks=cells)


def _finished_seeds(progress_file: Path | None, run: dict) -> dict[str, dict]:
    """{seed: {task: scores}} stored by an earlier run of the same model, tasks and settings; else nothing."""
    if progress_file is None or not progress_file.is_file():
        return {}
    try:
        stored = json.loads(progress_file.read_text())
    except ValueError:  # not ours, or damaged by hand: start over (it is rewritten after the first seed)
        return {}
    same = isinstance(stored, dict) and all(stored.get(key) == value for key, value in run.items())
    return dict(stored.get("seeds", {})) if same else {}


def finetune_checkpoint(
    path,
    tasks: list[str],
    config: FinetuneConfig = FinetuneConfig(),
    progress: bool = True,
    progress_file: Path | None = None,
) -> FinetuneResult:
    """`finetune` of a Hugging Face folder on disk (loaded once; each seed tunes its own copy)."""
    from primbench.harness.evaluation.models import check_model_source, load_causal_lm, load_tokenizer

    config.validate()
    check_model_source(str(path))
    tokenizer = load_tokenizer(str(path))
    model = load_causal_lm(path, what="model", dtype="float32")  # the updates need float32 weights
    return finetune(model, tokenizer, tasks, config, name=str(path), progress=progress, progress_file=progress_file)
