"""Pretrain a baseline, GradStack or MIDAS model.

    python -m primbench.model_zoo.train --config model_zoo/configs/tiny-midas.yaml --out runs/tiny-midas
    torchrun --nproc_per_node 8 -m primbench.model_zoo.train --config model_zoo/configs/base-midas.yaml --out runs/base-midas
    python -m primbench.model_zoo.train --config ... --out runs/tiny-midas --resume      # continue from the last checkpoint

The loop, per optimizer step: grow if a new stage begins, set the LR, run the micro-batches (gradient
accumulation), clip, step, log, evaluate, checkpoint. Everything it depends on is a function of the step
(batch, LR, stage), and the checkpoint holds the rest (weights, Adam state, RNG), so a resumed run is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import transformers
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM

from primbench.atomic import write_text
from primbench.model_zoo import checkpoint, distributed
from primbench.model_zoo.config import TrainConfig, load_config
from primbench.model_zoo.data import prepare_data, train_batch, val_batches
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.flops import flops_per_token, peak_flops
from primbench.model_zoo.growth import grow_model, grow_optimizer_state
from primbench.model_zoo.mixture import blend_mixture
from primbench.model_zoo.model import build_model, count_parameters, initial_layers, next_token_loss
from primbench.model_zoo.optimizer import build_optimizer, load_named_state, named_state, parameter_names
from primbench.model_zoo.schedule import (
    config_stage_lengths,
    layer_flops_speedup,
    learning_rate,
    stage_of,
    stage_starts,
)


class Trainer:
    """Holds the model, optimizer and progress of one run; `fit` is the loop."""

    def __init__(self, config: TrainConfig, out_dir: Path, runtime: distributed.Runtime, resume: bool):
        self.config, self.out_dir, self.runtime = config, out_dir, runtime
        self.lengths = config_stage_lengths(config)
        self.stage_ends = {start for start in stage_starts(self.lengths)[1:]} | {config.run.steps}
        run = config.run
        ranks_batch = run.micro_batch_size * runtime.world_size
        if run.batch_size % ranks_batch:
            raise ConfigError(
                f"run.batch_size ({run.batch_size}) must be a multiple of run.micro_batch_size x "
                f"processes ({run.micro_batch_size} x {runtime.world_size}); change either"
            )
        self.accumulation = run.batch_size // ranks_batch
        resume_from = self._resume_point(resume)

        # The first process builds the tokenised cache; the others wait and read it.
        if runtime.is_main:
            self.data = prepare_data(config)
        distributed.barrier(runtime)
        if not runtime.is_main:
            self.data = prepare_data(config, build=False)
        self.data = blend_mixture(self.data, config.data)  # data.mix, when set: training tokens only
        self.val = val_batches(self.data.val, run.eval_batches, run.micro_batch_size, config.data.seq_len)

        self.step, self.tokens, self.flops, self.elapsed = 0, 0, 0, 0.0
        torch.manual_seed(run.seed)
        if resume_from is None:
            self.model = build_model(config, initial_layers(config), self.data.special_ids)
            self._attach(None)
        else:
            state = checkpoint.load_trainer_state(resume_from, config)
            self.model = LlamaForCausalLM.from_pretrained(resume_from, dtype=torch.float32)
            self._attach(state["optimizer"])
            self.step, self.tokens, self.flops = state["step"], state["tokens"], state["flops"]
            self.elapsed = state["elapsed_s"]
            checkpoint.set_rng_state(state["rng"])
        self.model.generation_config.pad_token_id = self.data.special_ids["pad"]
        self.peak = run.peak_flops or (peak_flops(torch.cuda.get_device_name()) if runtime.device.type == "cuda" else 0)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if runtime.device.type == "cuda" else nullcontext()

    def _resume_point(self, resume: bool) -> Path | None:
        """The checkpoint to continue from; refuse to overwrite a run that was not asked to resume."""
        existing = checkpoint.list_checkpoints(self.out_dir)
        if resume:
            if not existing:
                raise ConfigError(f"nothing to resume in {self.out_dir}: it has no checkpoints/step_*/; drop --resume")
            return existing[-1]
        if existing or (self.out_dir / "final").exists():
            raise ConfigError(f"{self.out_dir} already holds a run; pass --resume to continue it or pick a new --out")
        return None

    @property
    def layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def stage(self) -> int:
        """0-indexed stage the model's depth belongs to (baseline: the schedule's stage of the last step taken)."""
        if self.config.growth.method == "baseline":
            return stage_of(max(self.step - 1, 0), self.lengths)
        return self.layers // self.config.growth.block_size - 1

    def _attach(self, optimizer_state: dict | None) -> None:
        """Move to the device, wrap for DDP/FSDP, (re)compile, build AdamW and load its state if given."""
        self.model.to(self.runtime.device)
        self.wrapped = distributed.wrap(self.model, self.runtime)
        self.forward = torch.compile(self.wrapped) if self.config.run.compile else self.wrapped
        self.optimizer = build_optimizer(self.wrapped, self.config.optim, self.runtime.device)
        if optimizer_state is not None:
            load_named_state(self.wrapped, self.optimizer, optimizer_state)

    @property
    def _sharded(self) -> bool:
        return self.runtime.parallel == "fsdp" and self.runtime.distributed

    def _full_weights(self, cpu_offload: bool) -> dict[str, torch.Tensor]:
        """Every rank's FSDP2 shards gathered into one full state dict (a collective: every rank calls it)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload)
        return get_model_state_dict(self.wrapped, options=options)

    def grow(self) -> None:
        """Add one block (gradstack/midas), carry Adam state over by name, re-wrap and recompile."""
        state = named_state(self.wrapped, self.optimizer)
        if self._sharded:
            # FSDP2 shards in place: gather full weights into a fresh unsharded model before changing its depth.
            weights = self._full_weights(cpu_offload=False)
            self.model = build_model(self.config, self.layers, self.data.special_ids)
            self.model.load_state_dict(weights)
        sources = grow_model(self.model, self.config.growth.method, self.config.growth.block_size)
        grown = grow_optimizer_state(
            state, parameter_names(self.model), sources, self.config.growth.new_layer_optimizer_state
        )
        self._attach(grown)

    def train_step(self, step: int, lr: float) -> float:
        """One optimizer step over the global batch of `step`; returns the mean loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        run, seq_len, rank = self.config.run, self.config.data.seq_len, self.runtime.rank
        batch = train_batch(self.data.train, step, run.seed, run.batch_size, seq_len)  # [B_global, T+1]
        per_rank = run.batch_size // self.runtime.world_size
        micro_batches = batch[rank * per_rank : (rank + 1) * per_rank].split(run.micro_batch_size)
        total = torch.zeros((), device=self.runtime.device)
        for index, micro in enumerate(micro_batches):
            micro = micro.to(self.runtime.device, non_blocking=True)
            last = index == len(micro_batches) - 1
            with distributed.gradient_sync(self.wrapped, self.runtime, last), self.autocast:
                loss = next_token_loss(self.forward, micro)
            (loss / self.accumulation).backward()
            total += loss.detach()
        if self.config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.wrapped.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return distributed.all_mean(total.item() / len(micro_batches), self.runtime)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the fixed validation windows, each rank taking every world_size-th batch."""
        self.forward.eval()
        losses = []
        for micro in self.val[self.runtime.rank :: self.runtime.world_size]:
            micro = micro.to(self.runtime.device)
            with self.autocast:
                losses.append(next_token_loss(self.forward, micro).item())
        self.forward.train()
        distributed.reshard(self.wrapped, self.runtime)
        return distributed.all_mean(sum(losses) / max(1, len(losses)), self.runtime)

    def _model_saver(self):
        """A function writing weights + tokenizer as a Hugging Face folder. Every rank must call this (under
        FSDP2 it gathers the full weights, a collective); only the first rank then calls the returned function."""
        weights = None
        if self._sharded:
            weights = self._full_weights(cpu_offload=True)
            if self.config.model.tie_word_embeddings:  # stored once, as save_pretrained does for a plain model
                weights.pop("lm_head.weight", None)

        def save(folder: Path) -> None:
            self.model.save_pretrained(folder, state_dict=weights)
            self.data.tokenizer.save_pretrained(folder)

        return save

    def save_checkpoint(self) -> None:
        optimizer_state = named_state(self.wrapped, self.optimizer)  # collectives under FSDP: every rank calls them
        save_model = self._model_saver()
        state = {
            "step": self.step,
            "stage": self.stage,
            "layers": self.layers,
            "tokens": self.tokens,
            "flops": self.flops,
            "elapsed_s": self.elapsed,
            "data_position": {"next_step": self.step},
            "optimizer": optimizer_state,
            "rng": checkpoint.rng_state(),
            "config": self.config.to_dict(),
        }
        if self.runtime.is_main:
            checkpoint.save_checkpoint(
                self.out_dir,
                self.step,
                save_model,
                state,
                stage_end=self.step in self.stage_ends,
                keep_last=self.config.run.keep_last,
            )
        distributed.barrier(self.runtime)

    def fit(self, progress: bool = True) -> dict[str, Any]:
        run, main = self.config.run, self.runtime.is_main
        metrics = MetricsLog(self.out_dir / "metrics.jsonl", self.step) if main else None
        tokens_per_step = run.batch_size * self.config.data.seq_len
        bar = tqdm(total=run.steps, initial=self.step, disable=not (progress and main), desc="train", unit="step")
        # tokens/s covers everything in the loop but evaluation and checkpoint writing (`paused` seconds)
        window_start, window_tokens, paused, val_loss = time.perf_counter(), 0, 0.0, float("nan")
        for step in range(self.step, run.steps):
            while self.config.growth.method != "baseline" and self.stage < stage_of(step, self.lengths):
                self.grow()
            lr = learning_rate(step, self.config, self.lengths)
            started = time.perf_counter()
            loss = self.train_step(step, lr)
            if self.runtime.device.type == "cuda":
                torch.cuda.synchronize()
            self.elapsed += time.perf_counter() - started
            step_flops = flops_per_token(self.config.model, self.layers, self.config.data.seq_len) * tokens_per_step
            self.step, self.tokens, self.flops = step + 1, self.tokens + tokens_per_step, self.flops + step_flops
            window_tokens += tokens_per_step
            record: dict[str, Any] = {}
            if run.eval_every and self.step % run.eval_every == 0 or self.step == run.steps:
                eval_started = time.perf_counter()
                val_loss = record["val_loss"] = self.evaluate()
                paused += time.perf_counter() - eval_started
            if main and (self.step % run.log_every == 0 or "val_loss" in record or self.step == run.steps):
                seconds = time.perf_counter() - window_start - paused
                record = {
                    "step": self.step,
                    "stage": self.stage + 1,
                    "layers": self.layers,
                    "loss": loss,
                    **record,
                    "lr": lr,
                    "tokens": self.tokens,
                    "flops": self.flops,
                    "tokens_per_s": window_tokens / seconds,
                }
                if self.peak:
                    steps_per_s = record["tokens_per_s"] / tokens_per_step
                    record["mfu"] = steps_per_s * step_flops / (self.peak * self.runtime.world_size)
                metrics.write(record)
                window_start, window_tokens, paused = time.perf_counter(), 0, 0.0
            bar.set_postfix(loss=f"{loss:.3f}", layers=self.layers, refresh=False)
            bar.update()
            if self.step in self.stage_ends or (run.checkpoint_every and self.step % run.checkpoint_every == 0):
                save_started = time.perf_counter()
                self.save_checkpoint()
                paused += time.perf_counter() - save_started
        bar.close()
        return self.finish(val_loss)

    def finish(self, val_loss: float) -> dict[str, Any]:
        """Write `final/` and `summary.json`; return the summary."""
        run, seq_len = self.config.run, self.config.data.seq_len
        full_depth = self.config.model.num_hidden_layers
        baseline_flops = flops_per_token(self.config.model, full_depth, seq_len) * run.batch_size * seq_len * run.steps
        summary = {
            "method": self.config.growth.method,
            "steps": self.step,
            "tokens": self.tokens,
            "layers": self.layers,
            "parameters": count_parameters(self.model),
            "stage_steps": self.lengths,
            "flops": self.flops,
            "baseline_flops": baseline_flops,
            "baseline_flops_ratio": baseline_flops / self.flops,
            "layer_flops_speedup": 1.0
            if self.config.growth.method == "baseline"
            else layer_flops_speedup(self.lengths),
            # seconds spent in optimizer steps, summed over resumes (data prep, evaluation, checkpoints excluded)
            "wall_clock_s": round(self.elapsed, 3),
            "final_val_loss": val_loss,
            "config": self.config.to_dict(),
        }
        save_model = self._model_saver()
        if self.runtime.is_main:
            checkpoint.write_hf_folder(self.out_dir / "final", save_model)
            _write_json(self.out_dir / "summary.json", summary)
        distributed.barrier(self.runtime)
        return summary


class MetricsLog:
    """metrics.jsonl, one line per log step; on resume, lines past the checkpoint's step are dropped."""

    def __init__(self, path: Path, resumed_step: int):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= resumed_step]
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a") as handle:
            handle.write(json.dumps(clean) + "\n")


def _write_json(path: Path, value: dict[str, Any]) -> None:
    write_text(json.dumps(value, indent=1, allow_nan=False, default=str) + "\n", path)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, config: TrainConfig) -> float:
    """The run's validation loss for any model, in one process: the number `Trainer.evaluate` logs as val_loss."""
    data = prepare_data(config)
    batches = val_batches(data.val, config.run.eval_batches, config.run.micro_batch_size, config.data.seq_len)
    model.eval()
    return sum(next_token_loss(model, batch).item() for batch in batches) / len(batches)


def train(config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train one run into `out_dir` and return its summary (see the module docstring).
    Process-wide settings it changes (torch threads, transformers' progress bars) are restored on return."""
    threads, hf_bars = torch.get_num_threads(), transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # our own bar is the one progress display
    try:
        runtime = distributed.setup(config)
        return Trainer(config, Path(out_dir), runtime, resume).fit(progress)
    finally:
        distributed.teardown()
        torch.set_num_threads(threads)
        if hf_bars:
            transformers.utils.logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML file or shipped name such as tiny-midas")
    parser.add_argument("--out", required=True, help="run folder (final/, checkpoints/, metrics.jsonl, summary.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    args = parser.parse_args(argv)
    try:
        summary = train(load_config(args.config, args.overrides), args.out, resume=args.resume)
    except ConfigError as error:  # same contract as `primbench train`: one line, exit status 2
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}))


if __name__ == "__main__":
    main()
