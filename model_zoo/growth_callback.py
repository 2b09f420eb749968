"""`GrowthCallback`: MIDAS (or any registered operator) inside `transformers.Trainer`, one process or DDP.

The model handed to the Trainer has one block; at the first step of each stage the callback grows it by one block
(`growth.grow`), adds the new parameters to the optimizer with their source's Adam state (`growth.grow_optimizer`;
they join existing param groups, so the LR scheduler needs nothing), and logs `layers` into the log history.
Stage lengths come from the same `schedule.stage_lengths` as our trainer, over the Trainer's `max_steps`.

DDP: the wrapper is built before training and its reducer averages only the parameters it saw then. The callback
averages the gradients of every parameter added later itself: a hook in the backward that ends each gradient
accumulation all-reduces them in one flat tensor over a process group of their own, the way DDP reduces its own,
before the Trainer clips and steps. So every rank applies the same update, and a run resumed after a growth (where
the wrapper, built over the grown model, owns those parameters) ends with the same weights, bit for bit. FSDP and
DeepSpeed shard parameters at train start, so a grown layer cannot join them: they are refused.

Checkpoints: every `checkpoint-N/` gets `growth.json` (stage, layers, the sources of each growth). When the Trainer
loads a checkpoint deeper than the model (`resume_from_checkpoint`), a load hook replays the growth first, so
weights, optimizer and scheduler load into the right depth and order.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate.state import GradientState
from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from primbench.atomic import write_json
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.growth import GROWTH_FILE, OPTIMIZER_STATE_MODES, grow, grow_optimizer, layer_prefix
from primbench.model_zoo.operators import stacked_methods
from primbench.model_zoo.schedule import stage_lengths, stage_of, stage_starts
from primbench.model_zoo.surgery import decoder_layers

SCHEDULES = ("prop", "uniform")


class GrowthCallback(TrainerCallback):
    """Grow the Trainer's model by one block at the start of each of `stages` stages (see the module docstring).

    `schedule`: `prop` (stage i gets steps in proportion to i**alpha) or `uniform`; `stage_steps` lists explicit
    lengths summing to `max_steps` instead. `optimizer_state`: `copy` (new layers take their source's Adam
    moments) or `zero` (zero moments, step count kept).
    """

    def __init__(
        self,
        method: str = "midas",
        block_size: int = 2,
        stages: int = 6,
        schedule: str = "prop",
        alpha: float = 1.0,
        stage_steps: list[int] | None = None,
        optimizer_state: str = "copy",
    ):
        if method not in stacked_methods():
            raise ConfigError(f"GrowthCallback method must be one of {', '.join(stacked_methods())}, got {method!r}")
        if schedule not in SCHEDULES:
            raise ConfigError(f"GrowthCallback schedule must be prop or uniform, got {schedule!r}")
        if optimizer_state not in OPTIMIZER_STATE_MODES:
            raise ConfigError(f"GrowthCallback optimizer_state must be copy or zero, got {optimizer_state!r}")
        if block_size < 1 or stages < 1 or alpha < 0:
            raise ConfigError("GrowthCallback needs block_size >= 1, stages >= 1 and alpha >= 0")
        if stage_steps is not None and (len(stage_steps) != stages or min(stage_steps) < 1):
            raise ConfigError(f"GrowthCallback stage_steps {stage_steps} must list {stages} positive lengths")
        self.method, self.block_size, self.stages = method, block_size, stages
        self.schedule, self.alpha, self.stage_steps = schedule, alpha, stage_steps
        self.optimizer_state = optimizer_state
        self.growths: list[list[int]] = []  # the sources of each growth so far, replayed ones included
        self.lengths: list[int] = []
        self._managed: set[int] = set()  # ids of the parameters the DDP wrapper reduces
        self._unmanaged: list[nn.Parameter] = []  # added by growth: their gradients are averaged here
        self._ready = 0
        self._group = None

    # --- schedule -------------------------------------------------------------------------------------------
    def _lengths(self, max_steps: int) -> list[int]:
        if self.stage_steps is not None:
            if sum(self.stage_steps) != max_steps:
                raise ConfigError(
                    f"GrowthCallback stage_steps {self.stage_steps} sum to {sum(self.stage_steps)}, but the Trainer "
                    f"runs max_steps={max_steps}; make them agree"
                )
            return list(self.stage_steps)
        return stage_lengths(max_steps, self.stages, self.schedule, self.alpha)

    def _stage(self, model: nn.Module) -> int:
        return len(decoder_layers(model)) // self.block_size - 1

    # --- Trainer events ---------------------------------------------------------------------------------------
    def on_init_end(self, args, state, control, model=None, **kwargs):
        refuse_sharded(args)
        if model is not None:
            model.register_load_state_dict_pre_hook(self._grow_to_checkpoint)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        refuse_sharded(args)
        self.lengths = self._lengths(state.max_steps)
        done = state.global_step
        expected = self.block_size * (stage_of(done - 1, self.lengths) + 1 if done else 1)
        layers = len(decoder_layers(model))
        if layers != expected:
            raise ConfigError(
                f"GrowthCallback expects a model of {expected} decoder layers at step {done} "
                f"({'one block' if not done else 'the checkpoint depth'}), got {layers}; hand the Trainer a model of "
                f"block_size={self.block_size} layers (num_hidden_layers={self.block_size})"
            )
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self._managed = {id(p) for p in model.parameters()}
            self._unmanaged, self._ready = [], 0
            self._group = dist.new_group()  # our all-reduces never interleave with DDP's buckets

    def on_step_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        while self._stage(model) < stage_of(state.global_step, self.lengths):
            sources = self._grow(model)
            added = grow_optimizer(optimizer, model, sources, self.optimizer_state)
            if self._group is not None:
                self._watch([p for p in added if id(p) not in self._managed])

    def on_log(self, args, state, control, model=None, **kwargs):
        if state.log_history and model is not None:
            state.log_history[-1]["layers"] = len(decoder_layers(model))

    def on_save(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            write_json(self.record(model), folder / GROWTH_FILE)

    def record(self, model: nn.Module) -> dict:
        """What `growth.json` holds: the method, the current stage and depth, and each growth with its sources."""
        starts = stage_starts(self.lengths)
        return {
            "method": self.method,
            "block_size": self.block_size,
            "stages": self.stages,
            "stage_steps": self.lengths,
            "stage": self._stage(model) + 1,
            "layers": len(decoder_layers(model)),
            "growths": [
                {"step": starts[index + 1], "layers": len(sources), "sources": sources}
                for index, sources in enumerate(self.growths)
            ],
        }

    # --- growth -----------------------------------------------------------------------------------------------
    def _grow(self, model: nn.Module) -> list[int]:
        sources = grow(model, self.method, self.block_size)
        self.growths.append(sources)
        return sources

    def _grow_to_checkpoint(self, module, state_dict, prefix, *args) -> None:
        """Load hook: a state dict of a deeper model (a resumed checkpoint) grows the model to its depth first."""
        pattern = re.compile(re.escape(prefix + layer_prefix(module)) + r"(\d+)\.")
        indices = [int(match.group(1)) for key in state_dict if (match := pattern.match(key))]
        while indices and len(decoder_layers(module)) <= max(indices):
            self._grow(module)

    # --- DDP: average the gradients of parameters the wrapper does not know ----------------------------------
    def _watch(self, parameters: list[nn.Parameter]) -> None:
        self._unmanaged.extend(parameters)
        for parameter in parameters:
            parameter.register_post_accumulate_grad_hook(self._gradient_ready)

    def _gradient_ready(self, parameter: nn.Parameter) -> None:
        """Once every added parameter has its gradient of this backward, average them over ranks in one tensor,
        as DDP does its own: only in the backward that ends an accumulation (accelerate's `sync_gradients`),
        divided by the rank count before the sum. So a layer reduced here gets the bits it would get from DDP,
        and a run resumed after growth (where DDP owns these parameters) matches the uninterrupted one."""
        self._ready += 1
        if self._ready < len(self._unmanaged):
            return
        self._ready = 0
        if not GradientState().sync_gradients:
            return
        grads = [p.grad for p in self._unmanaged]
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat /= dist.get_world_size(self._group)
        dist.all_reduce(flat, group=self._group)
        for grad, averaged in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            grad.copy_(averaged.view_as(grad))


def refuse_sharded(args) -> None:
    """FSDP and DeepSpeed shard the parameters when training starts; a layer grown later cannot join them."""
    fsdp = bool(getattr(args, "fsdp", None)) or os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")
    deepspeed = bool(getattr(args, "deepspeed", None)) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in (
        "1",
        "true",
    )
    if fsdp or deepspeed:
        raise ConfigError(
            f"GrowthCallback cannot grow a model under {'FSDP' if fsdp else 'DeepSpeed'}; it supports one process "
            "and DDP (torchrun): drop the fsdp/deepspeed setting, or use `primbench train --set run.parallel=fsdp`"
        )
