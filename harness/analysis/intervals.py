"""95% intervals over pretraining seeds and test items, for one model's accuracy and for paired differences.

A reproduction's accuracy moves for two reasons: which test items were scored, and which pretraining seed
(initialisation and data order) a model got. The percentile bootstrap here resamples both at once: seeds with
replacement, and items with replacement, and takes the mean over the resampled grid. For a difference between
two methods the resampling is paired: the same item indices for both (they were scored on the same items) and
the same seed indices (seed k of one method beside seed k of the other: they saw the same data order). With one
seed it is the plain item bootstrap. With few seeds it understates the seed-to-seed spread (three seeds resample
to at most three distinct values), so the interval is a floor on the uncertainty, and tables say so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 0  # the resampling is seeded, so a table is reproducible


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def excludes(self, value: float) -> int:
        """+1 when the whole interval lies above `value`, -1 when below, 0 when it holds it."""
        return 1 if self.low > value else -1 if self.high < value else 0

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def bootstrap_interval(correct, reference=None, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Mean of `correct` (or of `correct - reference`, paired) with its 95% percentile interval.

    `correct` and `reference` are [seeds, items] arrays of per-item scores in [0, 1] (an item's mean over
    fine-tuning runs is fine); rows are pretraining seeds, columns the same test items in the same order.
    """
    scores = np.asarray(correct, dtype=np.float64)
    if reference is not None:
        other = np.asarray(reference, dtype=np.float64)
        if other.shape != scores.shape:
            raise ValueError(f"paired scores need equal shapes (seeds, items), got {scores.shape} and {other.shape}")
        scores = scores - other
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"scores must be a non-empty [seeds, items] array, got shape {scores.shape}")
    seeds, items = scores.shape
    seed_weights, item_weights = _resampling(seeds, items, resamples, seed)
    replicates = ((seed_weights @ scores) * item_weights).sum(axis=1) / (seeds * items)  # [R]
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return Interval(float(scores.mean()), float(low), float(high))


@functools.lru_cache(maxsize=4)
def _resampling(seeds: int, items: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Resampled counts: the weight of each seed row [R, seeds] and each item column [R, items] per replicate.

    A pure function of the shape and the seed, so the draws are made once for every cell of a table.
    """
    rng = np.random.default_rng(seed)
    seed_weights = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=resamples)
    item_weights = rng.multinomial(items, np.full(items, 1.0 / items), size=resamples)
    seed_weights.flags.writeable = item_weights.flags.writeable = False
    return seed_weights, item_weights


def unpaired_difference(correct, reference, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Mean of `correct` minus mean of `reference`, with seeds resampled apart and items together.

    For recipes with unequal seed counts: seed k of one is no partner of seed k of the other, but both were scored
    on the same test items, so each replicate draws one item resampling for both and each side's seeds on its own.
    """
    mine, theirs = np.asarray(correct, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if mine.ndim != 2 or theirs.ndim != 2 or 0 in mine.shape or 0 in theirs.shape or mine.shape[1] != theirs.shape[1]:
        raise ValueError(f"scores must be [seeds, items] arrays on the same items, got {mine.shape} and {theirs.shape}")
    items = mine.shape[1]
    rng = np.random.default_rng(seed)
    item_weights = rng.multinomial(items, np.full(items, 1.0 / items), size=resamples)  # [R, items]
    sides = []
    for scores in (mine, theirs):
        seeds = scores.shape[0]
        seed_weights = rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=resamples)  # [R, seeds]
        sides.append(((seed_weights @ scores) * item_weights).sum(axis=1) / (seeds * items))
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(sides[0] - sides[1], [tail, 1.0 - tail])
    return Interval(float(mine.mean() - theirs.mean()), float(low), float(high))
