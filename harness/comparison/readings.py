"""The three readings of each recipe against the reference, each with 95% intervals over seeds and items.

A recipe's runs are its seeds. Every reading turns per-run cells (per task: the 0/1 score of each test item, or
its mean over fine-tuning runs) into [seeds, items] arrays for `harness.analysis.intervals`:
- at the end of training: each run's final model;
- at equal training FLOPs: each recipe's final model against the reference's checkpoint nearest its FLOPs;
- at equal loss (bits per byte, or validation loss): each recipe's accuracy at the reference's final loss,
  interpolated item by item between the two checkpoints around it, against the reference's final model.
Differences pair seed k with seed k when both recipes have the same seeds, and are unpaired (labelled so)
otherwise; items are always paired, since every run is scored on the same test items.
"""

from __future__ import annotations

from primbench.harness.analysis.intervals import bootstrap_interval, unpaired_difference
from primbench.harness.statistics import PROTOCOLS


def item_scores(run: dict, protocol: str, task: str) -> list[float] | None:
    """One run's per-item scores on `task` under `protocol` (None when that was not scored)."""
    cell = (run.get(protocol) or {}).get(task)
    return cell.get("items") or None if cell else None


def matrix(runs: list[dict], protocol: str, task: str) -> list[list[float]] | None:
    rows = [item_scores(run, protocol, task) for run in runs]
    return None if not rows or any(row is None for row in rows) else rows


def model_intervals(runs: list[dict], tasks: list[str]) -> dict:
    """{protocol: {task: {mean, low, high, seeds, items}}} over one recipe's runs and items.

    `runs` holds one dict per seed: {"seed", "fewshot": {task: cell}, "finetuned": {task: cell}}.
    """
    summary: dict[str, dict] = {}
    for protocol in PROTOCOLS:
        for task in tasks:
            scores = matrix(runs, protocol, task)
            if scores is not None:
                cell = bootstrap_interval(scores).to_dict()
                summary.setdefault(protocol, {})[task] = {**cell, "seeds": len(scores), "items": len(scores[0])}
    return summary


def difference(mine: list[dict], theirs: list[dict], protocol: str, task: str) -> dict | None:
    """`mine - theirs` on one task: paired over seeds when both hold the same seeds, unpaired otherwise."""
    paired = [run["seed"] for run in mine] == [run["seed"] for run in theirs]
    a, b = matrix(mine, protocol, task), matrix(theirs, protocol, task)
    if a is None or b is None or len(a[0]) != len(b[0]):
        return None
    interval = bootstrap_interval(a, b) if paired else unpaired_difference(a, b)
    return {**interval.to_dict(), "seeds": len(a), "reference_seeds": len(b), "paired": paired}


def differences(recipes: dict[str, list[dict]], tasks: list[str], reference: str) -> dict:
    """{"<recipe> - <reference>": {protocol: {task: interval}}} for every recipe but the reference, in order."""
    if reference not in recipes:
        return {}
    result = {}
    for name, runs in recipes.items():
        if name == reference:
            continue
        for protocol in PROTOCOLS:
            for task in tasks:
                gap = difference(runs, recipes[reference], protocol, task)
                if gap is not None:
                    result.setdefault(f"{name} - {reference}", {}).setdefault(protocol, {})[task] = gap
    return result


def nearest_by_flops(checkpoints: list[dict], flops: float) -> dict:
    """The checkpoint whose training FLOPs are nearest `flops` (the earlier one on a tie)."""
    return min(enumerate(checkpoints), key=lambda pair: (abs(pair[1]["flops"] - flops), pair[0]))[1]


def equal_flops(recipes: dict[str, list[dict]], tasks: list[str], reference: str) -> dict:
    """Each recipe's final models against the reference's checkpoints nearest their FLOPs (few-shot).

    Runs are {"seed", "checkpoints": [{"name", "flops", "x", "fewshot"}], ...}, final model last. Seed k of a
    recipe is read against seed k of the reference when both have the same seeds; otherwise every reference
    seed is read at the recipe's mean final FLOPs and the difference is unpaired.
    """
    result = {}
    references = recipes[reference]
    for name, runs in recipes.items():
        if name == reference:
            continue
        paired = [run["seed"] for run in runs] == [run["seed"] for run in references]
        targets = [run["checkpoints"][-1]["flops"] for run in runs]
        if paired:
            chosen = [nearest_by_flops(ref["checkpoints"], target) for ref, target in zip(references, targets)]
        else:
            mean_target = sum(targets) / len(targets)
            chosen = [nearest_by_flops(ref["checkpoints"], mean_target) for ref in references]
        read = [{"seed": ref["seed"], "fewshot": point["fewshot"]} for ref, point in zip(references, chosen)]
        finals = [{"seed": run["seed"], "fewshot": run["checkpoints"][-1]["fewshot"]} for run in runs]
        result[name] = {
            "reference_checkpoints": [point["name"] for point in chosen],
            "reference_flops": [point["flops"] for point in chosen],
            "flops": targets,
            "flops_ratio": sum(p["flops"] for p in chosen) / len(chosen) / (sum(targets) / len(targets)),
            "reference": model_intervals(read, tasks).get("fewshot", {}),
            "differences": {task: difference(finals, read, "fewshot", task) for task in tasks},
        }
    return result


def at_loss(checkpoints: list[dict], level: float) -> dict | None:
    """A run's few-shot items at loss `level`, interpolated between the first two checkpoints around it.

    None when the run's checkpoints never straddle `level` (it never got that low, or started below it).
    """
    for before, after in zip(checkpoints, checkpoints[1:]):
        high, low = before["x"], after["x"]
        if min(high, low) <= level <= max(high, low) and high != low:
            weight = (high - level) / (high - low)
            cells = {}
            for task, cell in before["fewshot"].items():
                later = after["fewshot"].get(task)
                if cell.get("items") is None or later is None or later.get("items") is None:
                    continue
                items = [(1 - weight) * a + weight * b for a, b in zip(cell["items"], later["items"])]
                cells[task] = {"accuracy": sum(items) / len(items), "n": len(items), "items": items}
            return {"between": [before["name"], after["name"]], "weight": weight, "fewshot": cells}
        if high == low == level:
            return {"between": [before["name"], after["name"]], "weight": 0.0, "fewshot": before["fewshot"]}
    return None


def equal_loss(recipes: dict[str, list[dict]], tasks: list[str], reference: str) -> dict:
    """Every recipe read at the reference's final loss (mean over its seeds), interpolated; the reference final.

    {"level": L, "recipes": {name: {"between", "intervals", "differences"} or {"not_reached": reason}}}.
    """
    references = recipes[reference]
    level = sum(run["checkpoints"][-1]["x"] for run in references) / len(references)
    finals = [{"seed": run["seed"], "fewshot": run["checkpoints"][-1]["fewshot"]} for run in references]
    result: dict = {"level": level, "recipes": {}}
    result["recipes"][reference] = {"intervals": model_intervals(finals, tasks).get("fewshot", {})}
    for name, runs in recipes.items():
        if name == reference:
            continue
        read = [at_loss(run["checkpoints"], level) for run in runs]
        missing = [str(run["path"]) for run, point in zip(runs, read) if point is None]
        if missing:
            lowest = min(point["x"] for run in runs for point in run["checkpoints"])
            result["recipes"][name] = {
                "not_reached": f"the checkpoints of {', '.join(missing)} never straddle {level:.4f} (lowest: {lowest:.4f})"
            }
            continue
        seeded = [{"seed": run["seed"], "fewshot": point["fewshot"]} for run, point in zip(runs, read)]
        result["recipes"][name] = {
            "between": [point["between"] for point in read],
            "weights": [point["weight"] for point in read],
            "intervals": model_intervals(seeded, tasks).get("fewshot", {}),
            "differences": {task: difference(seeded, finals, "fewshot", task) for task in tasks},
        }
    return result
