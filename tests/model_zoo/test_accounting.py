"""What a run reports about itself: FLOPs at the depth each step ran, MFU from them, growth inside wall-clock,
the gradient norm, and the accelerator peak looked up by exact name."""

from __future__ import annotations

import json
import time

import pytest
import torch
from conftest import micro_config

from primbench.model_zoo import train as train_module
from primbench.model_zoo.data import prepare_data, train_batch
from primbench.model_zoo.flops import flops_per_token, peak_flops
from primbench.model_zoo.metrics import tensorboard_available
from primbench.model_zoo.model import build_model, next_token_loss
from primbench.model_zoo.train import train


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "name,peak",
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H100 NVL", 835e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-40GB", 312e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A100 80GB PCIe", 312e12),
        ("NVIDIA L4", 121e12),
        ("L4", 121e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA L40", 0.0),  # not in the table: no MFU rather than the L4's or L40S's peak
        ("NVIDIA GeForce RTX 4090", 0.0),
    ],
)
def test_peak_flops_match_names_exactly(name, peak):
    assert peak_flops(name) == peak


def test_each_log_window_is_charged_at_the_depths_its_steps_ran(tmp_path, corpus_file):
    # log every 3 steps over stages [4, 8, 12, 16]: windows (3, 6], (9, 12], (12, 15] ... span a growth
    config = micro_config("midas", corpus_file, "run.log_every=3", "run.peak_flops=1e12", "run.checkpoint_every=0")
    train(config, tmp_path / "run", progress=False)
    records = _metrics(tmp_path / "run")
    depth_of_step = [1] * 4 + [2] * 8 + [3] * 12 + [4] * 16  # 0-indexed step -> layers it ran at
    step_flops = [flops_per_token(config.model, depth, 32) * 8 * 32 for depth in depth_of_step]
    previous = {"step": 0, "flops": 0, "tokens": 0}
    for record in records:
        window = step_flops[previous["step"] : record["step"]]
        assert record["flops"] - previous["flops"] == sum(window)
        seconds = (record["tokens"] - previous["tokens"]) / record["tokens_per_s"]
        assert record["mfu"] == pytest.approx(sum(window) / seconds / 1e12, rel=1e-9)
        previous = record
    assert [r["step"] for r in records][:5] == [3, 6, 9, 12, 15]


def test_growth_time_counts_in_wall_clock_and_its_stage(tmp_path, corpus_file, monkeypatch):
    original = train_module.Trainer.grow

    def slow_grow(self):
        time.sleep(0.3)
        original(self)

    monkeypatch.setattr(train_module.Trainer, "grow", slow_grow)
    config = micro_config("midas", corpus_file, "run.steps=12", "run.checkpoint_every=0", "run.eval_every=0")
    summary = train(config, tmp_path / "run", progress=False)  # stages [1, 2, 4, 5]: three growths
    assert summary["wall_clock_s"] >= 0.9
    assert all(seconds >= 0.3 for seconds in summary["stage_seconds"][1:])
    assert sum(summary["stage_seconds"]) == pytest.approx(summary["wall_clock_s"], abs=0.01)
    assert _metrics(tmp_path / "run")[-1]["elapsed_s"] == pytest.approx(summary["wall_clock_s"], abs=0.001)


def test_logged_grad_norm_matches_a_hand_computed_one(tmp_path, corpus_file):
    """Step 1's norm, recomputed outside the trainer from the same seed, batch and accumulation."""
    config = micro_config("baseline", corpus_file, "run.steps=6", "run.log_every=1", "run.checkpoint_every=0")
    train(config, tmp_path / "run", progress=False)
    logged = _metrics(tmp_path / "run")[0]["grad_norm"]
    data = prepare_data(config)
    torch.manual_seed(config.run.seed)
    model = build_model(config, 4, data.special_ids)
    for micro in train_batch(data.train, 0, config.run.seed, 8, 32).split(4):
        (next_token_loss(model, micro) / 2).backward()
    by_hand = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()
    assert logged == pytest.approx(by_hand, rel=1e-5)
    assert logged > config.optim.grad_clip  # the norm before clipping, not after


@pytest.mark.skipif(tensorboard_available(), reason="checks the run without the optional tensorboard package")
def test_no_tensorboard_output_without_the_package(tmp_path, corpus_file):
    config = micro_config("baseline", corpus_file, "run.steps=6", "run.checkpoint_every=0")
    train(config, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "metrics.jsonl").is_file() and not (tmp_path / "run" / "tensorboard").exists()


@pytest.mark.skipif(not tensorboard_available(), reason="the optional tensorboard package is not installed")
def test_tensorboard_events_beside_the_log(tmp_path, corpus_file):
    config = micro_config("baseline", corpus_file, "run.steps=6", "run.checkpoint_every=0")
    train(config, tmp_path / "run", progress=False)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
