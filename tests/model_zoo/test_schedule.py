"""Stage lengths, FLOPs ratios and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest

from primbench.model_zoo.config import load_config
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.flops import flops_per_token, layer_matmul_params
from primbench.model_zoo.schedule import (
    layer_flops_speedup,
    learning_rate,
    stage_lengths,
    stage_of,
    stage_starts,
)


@pytest.mark.parametrize("total", [100, 997, 2100, 12345])
@pytest.mark.parametrize("schedule,alpha", [("uniform", 0.0), ("prop", 1.0), ("prop", 2.0), ("prop", 0.5)])
def test_stage_lengths_sum_to_total_and_never_shrink(total, schedule, alpha):
    lengths = stage_lengths(total, 6, schedule, alpha)
    assert sum(lengths) == total and len(lengths) == 6 and min(lengths) >= 1
    if schedule == "prop":
        assert lengths == sorted(lengths)


def test_prop_lengths_are_proportional_when_exact():
    assert stage_lengths(2100, 6, "prop", 1.0) == [100, 200, 300, 400, 500, 600]
    assert stage_lengths(9100, 6, "prop", 2.0) == [100, 400, 900, 1600, 2500, 3600]
    assert stage_lengths(600, 6, "uniform") == [100] * 6
    assert stage_lengths(10, 3, "explicit", explicit=[1, 2, 7]) == [1, 2, 7]


@pytest.mark.parametrize(
    "schedule,alpha,total,expected",
    [
        ("uniform", 0.0, 600, 1.714),
        ("prop", 1.0, 2100, 1.385),
        ("prop", 2.0, 9100, 1.238),
        ("prop", 1.0, 1000, 1.385),
        ("prop", 2.0, 1000, 1.238),
    ],
)
def test_flops_speedup_for_six_stages_matches_paper(schedule, alpha, total, expected):
    lengths = stage_lengths(total, 6, schedule, alpha)
    assert layer_flops_speedup(lengths) == pytest.approx(expected, abs=0.002)


def test_flops_speedup_closed_form():
    # k * sum i^a / sum i^(a+1), computed independently of the schedule code
    for alpha in (0, 1, 2):
        closed = 6 * sum(i**alpha for i in range(1, 7)) / sum(i ** (alpha + 1) for i in range(1, 7))
        lengths = [i**alpha * 10 for i in range(1, 7)]
        assert layer_flops_speedup(lengths) == pytest.approx(closed, rel=1e-12)


def test_too_few_steps_for_prop_schedule_is_a_config_error():
    assert stage_lengths(6, 6, "uniform") == [1] * 6
    with pytest.raises(ConfigError, match="cannot give each of 6 stages"):
        stage_lengths(7, 6, "prop", 1.0)  # stage 1 would get 1/3 of a step
    with pytest.raises(ConfigError, match="cannot give each of 6 stages"):
        load_config(
            None,
            ["growth.stages=6", "growth.block_size=1", "model.num_hidden_layers=6", "run.steps=20", "growth.alpha=2"],
        )


def test_stage_of_steps():
    lengths = [2, 3, 5]
    assert stage_starts(lengths) == [0, 2, 5]
    assert [stage_of(s, lengths) for s in range(10)] == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]


def test_flops_per_token_counts_layers_and_head():
    cfg = load_config(None).model  # hidden 192, heads 6 (kv 6), ffn 512, vocab 4096
    assert layer_matmul_params(cfg) == 4 * 192 * 192 + 3 * 192 * 512
    per_layer = 6 * layer_matmul_params(cfg) + 12 * 192 * 128
    assert flops_per_token(cfg, 3, 128) - flops_per_token(cfg, 2, 128) == per_layer
    assert flops_per_token(cfg, 0, 128) == 6 * 192 * 4096


def _config(schedule: str):
    return load_config(
        None,
        [
            "run.steps=100",
            "optim.warmup_steps=10",
            "optim.lr=1.0",
            "optim.min_lr=0.1",
            f"optim.lr_schedule={schedule}",
            "growth.block_size=2",
            "growth.stages=3",
        ],
    )


def test_global_lr_warms_up_then_follows_cosine_to_min():
    config = _config("global")
    lengths = stage_lengths(100, 3)
    lrs = [learning_rate(s, config, lengths) for s in range(100)]
    assert lrs[:10] == pytest.approx([(s + 1) / 11 for s in range(10)])
    assert lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # monotone decay after warm-up
    assert learning_rate(100, config, lengths) == pytest.approx(0.1)
    midpoint = 10 + 45
    assert lrs[midpoint] == pytest.approx(0.1 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 0.9)


def test_per_stage_lr_rewarms_at_each_stage_start():
    config = _config("per_stage")
    lengths = stage_lengths(100, 3)  # [17, 33, 50]
    global_config = _config("global")
    for start in stage_starts(lengths):
        assert learning_rate(start, config, lengths) < 0.1 * learning_rate(start + 10, config, lengths) + 0.1
        assert learning_rate(start + 10, config, lengths) == pytest.approx(
            learning_rate(start + 10, global_config, lengths)
        )
    assert learning_rate(17, config, lengths) == pytest.approx(learning_rate(17, global_config, lengths) / 11)
