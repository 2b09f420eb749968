"""GrowthCallback in transformers.Trainer: depth on schedule, Adam state carried, checkpoints, resume, DDP, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.growth import GrowthCallback

PROBE = Path(__file__).with_name("trainer_growth_probe.py")
# 12 steps, 3 stages, Prop-1: lengths [2, 4, 6], so the model grows before steps 2 and 6
STEPS, GROWTH_STEPS = 12, {2: 4, 6: 6}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def state_hash(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()


class WatchGrowth(TrainerCallback):
    """Runs after GrowthCallback: records the depth each step starts at, and at each growth whether every new
    layer's Adam moments equal its source layer's."""

    def __init__(self):
        self.depths, self.moments_match = {}, {}

    def on_step_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        layers = model.model.layers
        self.depths[state.global_step] = len(layers)
        if state.global_step in GROWTH_STEPS:
            sources = growth_sources(len(layers))
            first = {source: sources.index(source) for source in sources}
            checks = []
            for position, source in enumerate(sources):
                if first[source] == position:
                    continue
                for new, old in zip(layers[position].parameters(), layers[first[source]].parameters(), strict=True):
                    new_state, old_state = optimizer.state[new], optimizer.state[old]
                    checks.append(new is not old and torch.equal(new_state["exp_avg"], old_state["exp_avg"]))
                    checks.append(torch.equal(new_state["exp_avg_sq"], old_state["exp_avg_sq"]))
            self.moments_match[state.global_step] = bool(checks) and all(checks)


def growth_sources(layers: int) -> list[int]:
    """MIDAS with blocks of 2, written out: 2 -> 4 layers copies block 1; 4 -> 6 copies block 1 again."""
    return {4: [0, 1, 0, 1], 6: [0, 1, 0, 1, 2, 3]}[layers]


def train(out: Path, resume: str | None = None, extra_callbacks=()) -> tuple[Trainer, LlamaForCausalLM]:
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)
    )
    tokens = torch.randint(0, 128, (64, 16), generator=torch.Generator().manual_seed(1))
    args = TrainingArguments(
        str(out),
        max_steps=STEPS,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        save_steps=4,
        logging_steps=2,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callbacks = [GrowthCallback(method="midas", block_size=2, stages=3), *extra_callbacks]
    data = [{"input_ids": ids, "labels": ids} for ids in tokens]
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, model


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    watch = WatchGrowth()
    out = tmp_path_factory.mktemp("midas-hf")
    trainer, model = train(out, extra_callbacks=[watch])
    return out, trainer, model, watch


def test_depth_follows_the_schedule_and_is_logged(finished):
    out, trainer, model, watch = finished
    assert watch.depths == {step: 2 if step < 2 else 4 if step < 6 else 6 for step in range(STEPS)}
    logged = {entry["step"]: entry["layers"] for entry in trainer.state.log_history if "loss" in entry}
    assert logged == {2: 2, 4: 4, 6: 4, 8: 6, 10: 6, 12: 6}  # the depth the logged steps ran at
    assert model.config.num_hidden_layers == 6 and [a.self_attn.layer_idx for a in model.model.layers] == [*range(6)]


def test_new_layers_start_from_their_source_layers_adam_moments(finished):
    assert finished[3].moments_match == {2: True, 6: True}


def test_every_checkpoint_records_its_growth(finished):
    out = finished[0]
    record = json.loads((out / "checkpoint-8" / "growth.json").read_text())
    assert record == {
        "method": "midas",
        "block_size": 2,
        "stages": 3,
        "stage_steps": [2, 4, 6],
        "stage": 3,
        "layers": 6,
        "growths": [
            {"step": 2, "layers": 4, "sources": growth_sources(4)},
            {"step": 6, "layers": 6, "sources": growth_sources(6)},
        ],
    }
    assert json.loads((out / "checkpoint-4" / "config.json").read_text())["num_hidden_layers"] == 4


def test_resuming_a_grown_checkpoint_reaches_the_same_depth_step_and_weights(finished, tmp_path):
    out, trainer, model, _ = finished
    shutil.copytree(out / "checkpoint-4", tmp_path / "checkpoint-4")
    # checkpoint-4 holds 4 layers; the fresh 2-layer model grows to that depth as the Trainer loads it
    resumed_trainer, resumed = train(tmp_path, resume=str(tmp_path / "checkpoint-4"))
    assert resumed.config.num_hidden_layers == 6 and resumed_trainer.state.global_step == STEPS
    assert state_hash(resumed) == state_hash(model)
    assert (tmp_path / "checkpoint-12" / "growth.json").read_text() == (
        out / "checkpoint-12" / "growth.json"
    ).read_text()


def test_a_model_deeper_than_one_block_is_refused_at_train_start(tmp_path):
    callback = GrowthCallback(method="midas", block_size=2, stages=3)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_attention_heads=2))
    state = SimpleNamespace(max_steps=12, global_step=0)
    with pytest.raises(ConfigError, match=r"expects a model of 2 decoder layers at step 0 \(one block\), got 32"):
        callback.on_train_begin(SimpleNamespace(fsdp="", deepspeed=None), state, None, model=model)


@pytest.mark.parametrize(
    "args, env, name",
    [({"fsdp": "full_shard"}, {}, "FSDP"), ({"deepspeed": "ds.json"}, {}, "DeepSpeed"), ({}, {"1": "1"}, "FSDP")],
)
def test_fsdp_and_deepspeed_are_refused_with_one_line(monkeypatch, args, env, name):
    if env:
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    callback = GrowthCallback()
    with pytest.raises(ConfigError) as error:
        callback.on_init_end(SimpleNamespace(**{"fsdp": "", "deepspeed": None, **args}), None, None)
    assert str(error.value).startswith(f"GrowthCallback cannot grow a model under {name}; it supports one process")
    assert "\n" not in str(error.value)


def test_bad_arguments_name_the_choices():
    with pytest.raises(ConfigError, match="method must be one of gradstack, midas, solar, llama_pro, got 'baseline'"):
        GrowthCallback(method="baseline")
    with pytest.raises(ConfigError, match="schedule must be prop or uniform"):
        GrowthCallback(schedule="cosine")
    with pytest.raises(ConfigError, match="stage_steps \\[1, 2\\] must list 3 positive lengths"):
        GrowthCallback(stages=3, stage_steps=[1, 2])


@pytest.mark.slow
@pytest.mark.parametrize("average", [True, False])
def test_ddp_ranks_end_bitwise_identical_only_with_the_callbacks_averaging(tmp_path, average):
    """torchrun, 2 gloo processes, clipping and accumulation on; then a resume of a mid-run checkpoint. Without the
    averaging (negative control) the grown layers' gradients stay local and the replicas drift apart."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(PROBE)]
    command += [str(tmp_path)] + ([] if average else ["--no-average"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank_{rank}.json").read_text()) for rank in (0, 1)]
    assert [(r["layers"], r["step"]) for r in ranks] == [(6, 9), (6, 9)]
    assert (ranks[0]["hash"] == ranks[1]["hash"]) is average
    if average:  # resumed under DDP from the 4-layer checkpoint: the same depth, step and weights on both ranks
        assert ranks[0]["resumed"] == ranks[1]["resumed"] == {"hash": ranks[0]["hash"], "layers": 6, "step": 9}
