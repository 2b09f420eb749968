"""What is measured on one model: its loss on the x axis, few-shot and fine-tuned accuracy, block similarity.

Each is a plain function of a (lazily loaded) model and settings, shared by `compare` and `reproduce`, so both
commands score every model by the same code.
"""

from __future__ import annotations

import json
from pathlib import Path

from primbench.harness.analysis.similarity import block_similarity
from primbench.harness.evaluation.evaluate import score_tasks
from primbench.harness.evaluation.finetune import FinetuneConfig, finetune
from primbench.harness.evaluation.models import load_causal_lm
from primbench.tasks.selection import CHANCE_ITEMS, chance_level, expand_tasks


def task_table(requested: tuple[str, ...]) -> dict[str, dict]:
    """{task: {"chance": ...}} for every task of the requested groups, in order.

    Chance is a property of the task, so it is estimated on CHANCE_ITEMS test items whatever the scoring limit.
    """
    return {task: {"chance": chance_level(task, CHANCE_ITEMS)} for task in expand_tasks(list(requested))}


def task_versions(requested: tuple[str, ...]) -> dict[str, float]:
    """{task: version}: a folder's stored scores belong to these versions of its tasks' data and scoring."""
    from primbench.tasks.registry import task_version

    return {task: task_version(task) for task in expand_tasks(list(requested))}


class LazyModel:
    """A checkpoint loaded on first use, so a re-run whose stages are all done never touches the weights."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._model = self._tokenizer = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_causal_lm(self.folder, what="model").eval()
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from primbench.harness.evaluation.models import load_tokenizer

            self._tokenizer = load_tokenizer(str(self.folder))
        return self._tokenizer


def fewshot(loaded: LazyModel, tasks: list[str], settings) -> dict[str, dict]:
    """`score_tasks` cells (accuracy, stderr, n, truncated, items) under the settings' shots and limit."""
    return score_tasks(loaded.model, loaded.tokenizer, tasks, shots=settings.shots, limit=settings.limit)


def finetuned(loaded: LazyModel, tasks: list[str], config: FinetuneConfig, progress: bool) -> dict[str, dict]:
    return finetune(loaded.model, loaded.tokenizer, tasks, config, name=str(loaded.folder), progress=progress).tasks


def similarity(loaded: LazyModel, run_dir: Path | None) -> dict:
    """Block similarity at the growth block size of a primbench run (1 layer per block for any other model)."""
    block_size = 1
    if run_dir is not None and (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
        block_size = summary["config"]["growth"]["block_size"]
    return block_similarity(loaded.model, block_size).to_dict()
