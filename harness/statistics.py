"""The numbers every table and plot agrees on: chance bands, means over tasks, the two protocols.

One leaf module (it imports nothing of ours) so that evaluation, analysis, reports, comparison and reproduce
all read the same definitions without any of those packages importing another that imports it back.
Intervals over seeds and items are `primbench.harness.analysis.intervals`.
"""

from __future__ import annotations

import math

Z_95 = 1.96  # two-sided 95% normal quantile, for "is this accuracy distinguishable from chance?"
PROTOCOLS = ("fewshot", "finetuned")  # the two ways a model's accuracy on a primitive is measured


def chance_margin(chance: float, n: int) -> float:
    """Half-width of the 95% band around chance for an accuracy measured on n items (normal approximation)."""
    if n <= 0:
        return float("inf")
    return Z_95 * math.sqrt(max(chance * (1.0 - chance), 1.0 / (4 * n)) / n)


def above_chance(accuracy: float | None, chance: float, n: int) -> bool:
    """True when the accuracy clears chance by more than sampling noise on n items."""
    return accuracy is not None and accuracy - chance > chance_margin(chance, n)


def mean_accuracy(accuracies) -> float | None:
    """Mean of the values that were measured (None skipped), over a dict or any iterable; None if none was."""
    given = accuracies.values() if isinstance(accuracies, dict) else accuracies
    values = [value for value in given if value is not None]
    return sum(values) / len(values) if values else None
