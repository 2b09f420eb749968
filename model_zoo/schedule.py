"""Stage lengths, the stage of a step, and the learning rate: pure functions of the step, so they test in isolation."""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

from primbench.model_zoo.errors import ConfigError

if TYPE_CHECKING:
    from primbench.model_zoo.config import TrainConfig


def stage_lengths(
    total_steps: int, stages: int, schedule: str = "prop", alpha: float = 1.0, explicit: list[int] | None = None
) -> list[int]:
    """Steps per stage. Prop-alpha gives stage i (1-indexed) a share i**alpha / sum_j j**alpha of the steps;
    `uniform` is alpha = 0. Rounded by largest remainder so the lengths sum exactly to `total_steps`."""
    if schedule == "explicit":
        return list(explicit or [])
    exponent = 0.0 if schedule == "uniform" else alpha
    weights = [i**exponent for i in range(1, stages + 1)]
    exact = [total_steps * w / sum(weights) for w in weights]
    lengths = [math.floor(x) for x in exact]
    # hand the leftover steps to the stages that lost most to rounding (later stage wins ties)
    by_remainder = sorted(range(stages), key=lambda i: (exact[i] - lengths[i], i), reverse=True)
    for i in by_remainder[: total_steps - sum(lengths)]:
        lengths[i] += 1
    if min(lengths) < 1:
        raise ConfigError(
            f"run.steps ({total_steps}) cannot give each of {stages} stages a step under schedule {schedule} "
            f"(lengths {lengths}); raise run.steps or lower growth.alpha"
        )
    return lengths


def stage_starts(lengths: list[int]) -> list[int]:
    """The first step of each stage: [0, T1, T1+T2, ...]."""
    starts = [0]
    for length in lengths[:-1]:
        starts.append(starts[-1] + length)
    return starts


def stage_of(step: int, lengths: list[int]) -> int:
    """0-indexed stage that `step` (0-indexed) belongs to."""
    return bisect.bisect_right(stage_starts(lengths), step) - 1


def layer_flops_speedup(lengths: list[int]) -> float:
    """Baseline layer-steps over stacked layer-steps: k * sum T_i / sum i * T_i (layer FLOPs only).
    For Prop-alpha this is k * sum i^a / sum i^(a+1): 1.714 uniform, 1.385 Prop-1, 1.238 Prop-2 at k = 6."""
    k = len(lengths)
    return k * sum(lengths) / sum((i + 1) * t for i, t in enumerate(lengths))


def config_stage_lengths(config: TrainConfig) -> list[int]:
    g = config.growth
    return stage_lengths(config.run.steps, g.stages, g.schedule, g.alpha, g.stage_steps)


def learning_rate(step: int, config: TrainConfig, lengths: list[int]) -> float:
    """LR for optimizer step `step` (0-indexed).

    1. A cosine from `lr` down to `min_lr` over all steps after the first warm-up (the envelope).
    2. global: a linear warm-up over the first `warmup_steps` steps of the run.
       per_stage: the same warm-up restarted at each stage's first step (Reddi et al.'s stacking recipe).
    """
    o, total = config.optim, config.run.steps
    warmup = o.warmup_steps
    decay_steps = max(1, total - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / decay_steps))
    envelope = o.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (o.lr - o.min_lr)
    since_start = step - stage_starts(lengths)[stage_of(step, lengths)] if o.lr_schedule == "per_stage" else step
    if warmup > 0 and since_start < warmup:
        return envelope * (since_start + 1) / (warmup + 1)
    return envelope
