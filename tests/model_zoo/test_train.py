"""End-to-end micro runs: loss falls, outputs are Hugging Face folders, resume is bit-identical."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import micro_config
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from primbench.model_zoo import train as train_module
from primbench.model_zoo.flops import flops_per_token
from primbench.model_zoo.train import train


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def midas_run(tmp_path_factory, corpus_file):
    out = tmp_path_factory.mktemp("runs") / "midas"
    summary = train(micro_config("midas", corpus_file), out, progress=False)
    return out, summary


def test_loss_falls_and_model_grows(midas_run):
    out, summary = midas_run
    metrics = _metrics(out)
    assert metrics[0]["loss"] > 4.0 and metrics[-1]["loss"] < metrics[0]["loss"] - 1.5
    assert summary["final_val_loss"] < metrics[0]["loss"] - 1.5
    # stage_steps [4, 8, 12, 16] for 40 steps, Prop-1, 4 stages of 1 layer
    assert summary["stage_steps"] == [4, 8, 12, 16]
    layers_at = {m["step"]: m["layers"] for m in metrics}
    assert layers_at[5] == 2 and layers_at[10] == 2 and layers_at[15] == 3 and layers_at[25] == 4
    assert {"step", "stage", "layers", "loss", "lr", "tokens", "flops", "tokens_per_s"} <= set(metrics[0])
    assert any("val_loss" in m for m in metrics)


def test_summary_flops_add_up(midas_run):
    out, summary = midas_run
    config = micro_config("midas", "unused")
    tokens_per_step = 8 * 32
    expected = sum(
        flops_per_token(config.model, depth, 32) * tokens_per_step * steps
        for depth, steps in zip([1, 2, 3, 4], [4, 8, 12, 16])
    )
    assert summary["flops"] == expected
    assert summary["tokens"] == 40 * tokens_per_step
    assert summary["baseline_flops"] == flops_per_token(config.model, 4, 32) * tokens_per_step * 40
    assert summary["layer_flops_speedup"] == pytest.approx(4 * 40 / (4 + 16 + 36 + 64))
    assert json.loads((out / "summary.json").read_text())["flops"] == expected


def test_final_and_checkpoints_are_hugging_face_folders(midas_run):
    out, _ = midas_run
    model = AutoModelForCausalLM.from_pretrained(out / "final")
    tokenizer = AutoTokenizer.from_pretrained(out / "final")
    assert model.config.num_hidden_layers == 4
    assert tokenizer.decode(tokenizer("The old sailor")["input_ids"], skip_special_tokens=True) == "The old sailor"
    last = AutoModelForCausalLM.from_pretrained(out / "checkpoints" / "step_0000040")  # the run's last step
    assert model.state_dict().keys() == last.state_dict().keys()
    assert all(torch.equal(tensor, last.state_dict()[name]) for name, tensor in model.state_dict().items())
    # stage ends (4, 12, 24, 40) are kept; periodic ones only the newest keep_last=2 (20, 30)
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step_0000004", "step_0000012", "step_0000020", "step_0000024", "step_0000030", "step_0000040"]
    early = AutoModelForCausalLM.from_pretrained(out / "checkpoints" / "step_0000012")
    assert early.config.num_hidden_layers == 2
    assert AutoTokenizer.from_pretrained(out / "checkpoints" / "step_0000012").pad_token == "<|pad|>"


def _interrupt_at(monkeypatch, step_to_fail: int) -> None:
    original = train_module.Trainer.train_step

    def failing(self, step, lr):
        if step == step_to_fail:
            raise KeyboardInterrupt("simulated crash")
        return original(self, step, lr)

    monkeypatch.setattr(train_module.Trainer, "train_step", failing)


@pytest.mark.parametrize(
    "crash_step,resumed_from,layers_at_resume",
    [
        (14, "step_0000012", 2),  # last checkpoint is stage 2's end: growth to 3 layers happens after resuming
        (22, "step_0000020", 3),  # last checkpoint is after the growth at step 12
    ],
)
def test_resume_is_bit_identical_across_growth(
    midas_run, tmp_path, monkeypatch, corpus_file, crash_step, resumed_from, layers_at_resume
):
    reference, summary = midas_run
    out = tmp_path / "crashed"
    with monkeypatch.context() as patch:
        _interrupt_at(patch, crash_step)
        with pytest.raises(KeyboardInterrupt):
            train(micro_config("midas", corpus_file), out, progress=False)
    newest = sorted((out / "checkpoints").iterdir())[-1]
    assert newest.name == resumed_from
    assert json.loads((newest / "checkpoint.json").read_text())["layers"] == layers_at_resume
    resumed = train(micro_config("midas", corpus_file), out, resume=True, progress=False)
    expected, actual = (
        load_file(reference / "final" / "model.safetensors"),
        load_file(out / "final" / "model.safetensors"),
    )
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert _metrics(out) == [
        {**m, "tokens_per_s": n["tokens_per_s"], "elapsed_s": n["elapsed_s"]}
        for m, n in zip(_metrics(reference), _metrics(out))
    ]
    assert (resumed["flops"], resumed["tokens"], resumed["final_val_loss"]) == (
        summary["flops"],
        summary["tokens"],
        summary["final_val_loss"],
    )


def test_optimizer_state_and_lr_options_change_the_run(tmp_path, corpus_file):
    short = ("run.steps=12", "run.checkpoint_every=0")
    losses = {}
    for name, option in [
        ("copy", "growth.new_layer_optimizer_state=copy"),
        ("zero", "growth.new_layer_optimizer_state=zero"),
        ("rewarm", "optim.lr_schedule=per_stage"),
    ]:
        summary = train(micro_config("midas", corpus_file, option, *short), tmp_path / name, progress=False)
        assert summary["layers"] == 4
        losses[name] = summary["final_val_loss"]
    assert len(set(losses.values())) == 3, losses


@pytest.mark.parametrize("method", ["baseline", "gradstack"])
def test_other_methods_train(tmp_path, corpus_file, method):
    summary = train(
        micro_config(method, corpus_file, "run.steps=12", "run.checkpoint_every=0"), tmp_path / method, progress=False
    )
    assert summary["layers"] == 4
    metrics = _metrics(tmp_path / method)
    assert [m["layers"] for m in metrics] == ([4, 4, 4] if method == "baseline" else [3, 4, 4])  # stages [1, 2, 4, 5]
    assert summary["baseline_flops_ratio"] == (
        1.0 if method == "baseline" else pytest.approx(summary["baseline_flops"] / summary["flops"])
    )


def test_a_finished_run_is_not_overwritten_without_resume(midas_run, corpus_file):
    from primbench.model_zoo.errors import ConfigError

    reference, _ = midas_run
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train(micro_config("midas", corpus_file), reference, progress=False)


@pytest.mark.slow
def test_compiled_run_recompiles_after_growth_and_matches_eager(tmp_path, corpus_file):
    """torch.compile (inductor, needs a C compiler) is rebuilt after each growth step; same numbers as eager."""
    short = ("run.steps=12", "run.checkpoint_every=0")
    eager = train(micro_config("midas", corpus_file, *short), tmp_path / "eager", progress=False)
    compiled = train(
        micro_config("midas", corpus_file, *short, "run.compile=true"), tmp_path / "compiled", progress=False
    )
    assert compiled["layers"] == 4
    assert compiled["final_val_loss"] == pytest.approx(eager["final_val_loss"], rel=1e-3)


def test_train_restores_process_settings(tmp_path, corpus_file):
    import transformers

    torch.set_num_threads(2)
    train(
        micro_config("baseline", corpus_file, "run.steps=10", "run.checkpoint_every=0"), tmp_path / "r", progress=False
    )
    assert torch.get_num_threads() == 2  # micro.yaml trains on one thread
    assert transformers.utils.logging.is_progress_bar_enabled()
