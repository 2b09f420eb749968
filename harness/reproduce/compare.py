"""The comparison over pretraining seeds: each model's accuracy and the stacked-minus-baseline differences.

Every per-seed stage stores, per task, the 0/1 score of each test item (fine-tuned: its mean over the
fine-tuning runs). Here those become [seeds, items] arrays, and `harness.analysis.intervals` gives each model's
mean with a 95% interval over seeds and items, and each difference with a paired one. The report only lays the
numbers out; the statement that closes it is computed from these intervals.
"""

from __future__ import annotations

from primbench.harness.analysis.intervals import bootstrap_interval
from primbench.model_zoo.operators import stacked_methods

STACKED = stacked_methods()
PROTOCOLS = ("fewshot", "finetuned")


def item_scores(run: dict, protocol: str, task: str) -> list[float] | None:
    """One seed's per-item scores on `task` under `protocol` (None when the stage did not score it)."""
    cell = (run.get(protocol) or {}).get(task)
    return cell.get("items") or None if cell else None


def matrix(runs: list[dict], protocol: str, task: str) -> list[list[float]] | None:
    rows = [item_scores(run, protocol, task) for run in runs]
    return None if not rows or any(row is None for row in rows) else rows


def model_intervals(runs: list[dict], tasks: list[str]) -> dict:
    """{protocol: {task: {mean, low, high, seeds, items}}} over a model's seeds and items.

    `runs` holds one dict per pretraining seed: {"seed", "fewshot": {task: cell}, "finetuned": {task: cell}}.
    """
    summary: dict[str, dict] = {}
    for protocol in PROTOCOLS:
        for task in tasks:
            scores = matrix(runs, protocol, task)
            if scores is not None:
                cell = bootstrap_interval(scores).to_dict()
                summary.setdefault(protocol, {})[task] = {**cell, "seeds": len(scores), "items": len(scores[0])}
    return summary


def differences(models: dict[str, list[dict]], tasks: list[str]) -> dict:
    """{"midas - baseline": {protocol: {task: interval}}, ...} from per-seed runs, paired over shared seeds."""
    if "baseline" not in models:
        return {}
    result = {}
    for method in (m for m in STACKED if m in models):
        pairs = _paired_runs(models[method], models["baseline"])
        if not pairs:
            continue
        name = f"{method} - baseline"
        for protocol in PROTOCOLS:
            for task in tasks:
                mine, theirs = (
                    matrix([a for a, _ in pairs], protocol, task),
                    matrix([b for _, b in pairs], protocol, task),
                )
                if mine is not None and theirs is not None:
                    cell = bootstrap_interval(mine, theirs).to_dict()
                    result.setdefault(name, {}).setdefault(protocol, {})[task] = {**cell, "seeds": len(mine)}
    return result


def _paired_runs(runs: list[dict], references: list[dict]) -> list[tuple[dict, dict]]:
    by_seed = {run["seed"]: run for run in references}
    return [(run, by_seed[run["seed"]]) for run in runs if run["seed"] in by_seed]
