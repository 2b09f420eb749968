"""The three readings on hand-made runs: interpolation at equal loss, nearest FLOPs, paired and unpaired intervals."""

import numpy as np
import pytest

from primbench.harness.analysis.intervals import bootstrap_interval, unpaired_difference
from primbench.harness.comparison import readings

TASK = "prim_t"


def checkpoint(name, x, flops, items):
    return {"name": name, "x": x, "flops": flops, "fewshot": {TASK: {"accuracy": np.mean(items), "items": items}}}


def run(seed, points):
    checkpoints = [checkpoint(*point) for point in points]
    return {"seed": seed, "path": f"run{seed}", "checkpoints": checkpoints, "fewshot": checkpoints[-1]["fewshot"]}


def test_equal_loss_interpolates_each_item_between_the_checkpoints_around_the_level():
    points = [("a", 3.0, 1, [0, 0, 0, 0]), ("b", 2.0, 2, [1, 0, 0, 0]), ("c", 1.0, 3, [1, 1, 1, 0])]
    read = readings.at_loss([checkpoint(*p) for p in points], 1.25)
    assert read["between"] == ["b", "c"] and read["weight"] == pytest.approx(0.75)
    assert read["fewshot"][TASK]["items"] == pytest.approx([1.0, 0.75, 0.75, 0.0])
    assert readings.at_loss([checkpoint(*p) for p in points], 0.5) is None  # never that low
    recipes = {"ref": [run(0, [("z", 1.25, 1, [0, 1, 0, 1])])], "new": [run(0, points)]}
    result = readings.equal_loss(recipes, [TASK], "ref")
    assert result["level"] == 1.25 and result["recipes"]["new"]["between"] == [["b", "c"]]
    gap = result["recipes"]["new"]["differences"][TASK]
    assert gap["mean"] == pytest.approx(np.mean([1.0, 0.75, 0.75, 0.0]) - 0.5) and gap["paired"] is True
    recipes["ref"] = [run(0, [("z", 0.5, 1, [0, 1, 0, 1])])]
    assert "never straddle 0.5000" in readings.equal_loss(recipes, [TASK], "ref")["recipes"]["new"]["not_reached"]


def test_equal_flops_reads_the_reference_checkpoint_nearest_each_runs_flops():
    reference = [run(s, [("r1", 3, 10, [0, 0]), ("r2", 2, 20, [1, 0]), ("r3", 1, 30, [1, 1])]) for s in (0, 1)]
    recipe = [run(0, [("m", 2, 24, [1, 1])]), run(1, [("m", 2, 25, [0, 1])])]
    result = readings.equal_flops({"ref": reference, "new": recipe}, [TASK], "ref")["new"]
    assert result["reference_checkpoints"] == ["r2", "r2"]  # 25 is as far from 20 as from 30: the earlier wins
    assert result["flops_ratio"] == pytest.approx(20 / 24.5)
    expected = bootstrap_interval([[1, 1], [0, 1]], [[1, 0], [1, 0]]).to_dict()
    gap = result["differences"][TASK]
    assert {key: gap[key] for key in expected} == expected and gap["paired"] is True


def test_unequal_seed_counts_give_an_unpaired_interval():
    ones, zeros = [[1.0] * 5] * 3, [[0.0] * 5] * 2
    interval = unpaired_difference(ones, zeros)
    assert (interval.mean, interval.low, interval.high) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (3, 40)), rng.integers(0, 2, (2, 40))
    forward, backward = unpaired_difference(a, b), unpaired_difference(b, a)
    assert forward.mean == pytest.approx(a.mean() - b.mean()) and forward.low <= forward.mean <= forward.high
    assert backward.mean == pytest.approx(-forward.mean)
    with pytest.raises(ValueError, match="same items"):
        unpaired_difference(a, b[:, :10])
    runs = {"ref": [{"seed": s, "fewshot": {TASK: {"items": list(b[s])}}} for s in (0, 1)]}
    runs["new"] = [{"seed": s, "fewshot": {TASK: {"items": list(a[s])}}} for s in (0, 1, 2)]
    gap = readings.differences(runs, [TASK], "ref")["new - ref"]["fewshot"][TASK]
    assert gap["paired"] is False and (gap["seeds"], gap["reference_seeds"]) == (3, 2)
    assert gap["mean"] == pytest.approx(forward.mean)
