"""Pretrain a baseline, GradStack or MIDAS model.

    python -m primbench.model_zoo.train --config model_zoo/configs/tiny-midas.yaml --out runs/tiny-midas
    torchrun --nproc_per_node 8 -m primbench.model_zoo.train --config model_zoo/configs/base-midas.yaml --out runs/base-midas
    python -m primbench.model_zoo.train --config ... --out runs/tiny-midas --resume      # continue from the last checkpoint

The loop, per optimizer step: grow if a new stage begins, set the LR, run the micro-batches (gradient
accumulation), clip, step, log, evaluate, checkpoint. Everything it depends on is a function of the step
(batch, LR, stage), and the checkpoint holds the rest (weights, Adam state, RNG, the last validation loss), so a
resumed run is bit-identical to an uninterrupted one. `--resume` works from whatever a kill leaves: a finished run
is left as it is, a run whose newest checkpoint is its last step only writes `final/` and `summary.json`, a run
without a complete checkpoint starts from step 0, and a checkpoint or file half-written when the process died is
deleted (only complete checkpoints carry a step name; everything else is written under a temporary name).
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

from primbench.atomic import remove_leftovers, write_text
from primbench.errors import exit_on_user_error
from primbench.model_zoo import checkpoint, distributed
from primbench.model_zoo.config import TrainConfig, load_config
from primbench.model_zoo.data import prepare_data, train_batch, val_batches, with_tokenizer_vocab
from primbench.model_zoo.errors import ConfigError, RunLocked
from primbench.model_zoo.flops import flops_per_token, peak_flops
from primbench.model_zoo.growth import grow, grow_optimizer_state, layer_prefix
from primbench.model_zoo.lock import RunLock
from primbench.model_zoo.metrics import METRICS_FILE, MetricsLog
from primbench.model_zoo.mixture import blend_mixture
from primbench.model_zoo.model import build_model, count_parameters, initial_layers, next_token_loss
from primbench.model_zoo.operators import stacked_methods
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

    def __init__(
        self, config: TrainConfig, out_dir: Path, runtime: distributed.Runtime, resume: bool, progress: bool = False
    ):
        # One process prepares missing token shards itself; ranks of a torchrun launch only read them.
        self.data = prepare_data(config, build=not runtime.distributed, progress=progress and runtime.is_main)
        config = with_tokenizer_vocab(config, self.data)
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
        if runtime.is_main:  # this process holds the run's lock: anything hidden here, a killed run left
            checkpoint.remove_partial(out_dir)
            for name in ("final", "summary.json", METRICS_FILE):
                remove_leftovers(out_dir, name)
        distributed.barrier(runtime)

        self.data = blend_mixture(self.data, config.data)  # data.mix, when set: training tokens only
        self.val = val_batches(self.data.val, run.eval_batches, run.micro_batch_size, config.data.seq_len)

        self.step, self.tokens, self.flops, self.elapsed = 0, 0, 0, 0.0
        self.val_loss = float("nan")  # the latest evaluation's
        self.stage_seconds = [0.0] * len(self.lengths)
        torch.manual_seed(run.seed)
        if resume_from is None:
            self.model = build_model(config, initial_layers(config), self.data.special_ids)
            self._attach(None)
        else:
            state = checkpoint.load_trainer_state(resume_from, config, self.data.manifest["tokenizer"]["sha256"])
            self.model = checkpoint.load_model(resume_from)
            self._attach(None)
            checkpoint.load_optimizer(resume_from, self.wrapped, self.optimizer)
            self.step, self.tokens, self.flops = state["step"], state["tokens"], state["flops"]
            self.elapsed, self.stage_seconds = state["elapsed_s"], list(state["stage_seconds"])
            self.val_loss = state.get("val_loss", self.val_loss)  # older checkpoints lack it; `finish` recomputes
            rng = checkpoint.restore_rng(resume_from, state["world_size"], runtime, run.seed, self.step)
            if runtime.is_main:
                print(
                    f"resuming {resume_from.name} at step {self.step}, stage {state['stage'] + 1}; {rng}",
                    file=sys.stderr,
                )
        self.model.generation_config.pad_token_id = self.data.special_ids["pad"]
        self.peak = run.peak_flops or (peak_flops(torch.cuda.get_device_name()) if runtime.device.type == "cuda" else 0)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if runtime.device.type == "cuda" else nullcontext()

    def _resume_point(self, resume: bool) -> Path | None:
        """The checkpoint to continue from; refuse to overwrite a run that was not asked to resume."""
        existing = checkpoint.list_checkpoints(self.out_dir)
        if resume:
            if not existing and self.runtime.is_main:
                print(f"no complete checkpoint in {self.out_dir} yet: starting from step 0", file=sys.stderr)
            return existing[-1] if existing else None
        if existing or (self.out_dir / "final").exists():
            raise ConfigError(f"{self.out_dir} already holds a run; pass --resume to continue it or pick a new --out")
        return None

    @property
    def layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def stage(self) -> int:
        """0-indexed stage the model's depth belongs to (baseline: the schedule's stage of the last step taken)."""
        if not self.grows:
            return stage_of(max(self.step - 1, 0), self.lengths)
        return self.layers // self.config.growth.block_size - 1

    @property
    def grows(self) -> bool:
        return self.config.growth.method in stacked_methods()

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
        """Add one block (growth.method's operator), carry Adam state over by name, re-wrap and recompile."""
        state = named_state(self.wrapped, self.optimizer)
        if self._sharded:
            # FSDP2 shards in place: gather full weights into a fresh unsharded model before changing its depth.
            weights = self._full_weights(cpu_offload=False)
            self.model = build_model(self.config, self.layers, self.data.special_ids)
            self.model.load_state_dict(weights)
        sources = grow(self.model, self.config.growth.method, self.config.growth.block_size)
        mode, prefix = self.config.growth.new_layer_optimizer_state, layer_prefix(self.model)
        grown = grow_optimizer_state(state, parameter_names(self.model), sources, mode, prefix)
        self._attach(grown)

    def train_step(self, step: int, lr: float) -> tuple[float, float]:
        """One optimizer step over the global batch of `step`; returns the mean loss and the gradient norm
        (before clipping)."""
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
            with distributed.micro_step(self.wrapped, self.runtime, last):
                with self.autocast:
                    loss = next_token_loss(self.forward, micro)
                (loss / self.accumulation).backward()
            total += loss.detach()
        clip = self.config.optim.grad_clip or math.inf  # inf: measure the norm, change nothing
        grad_norm = torch.nn.utils.clip_grad_norm_(self.wrapped.parameters(), clip)
        grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm  # FSDP2: DTensor
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return distributed.all_mean(total.item() / len(micro_batches), self.runtime), grad_norm.item()

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the fixed validation batches. Each rank takes a contiguous share (sizes differ by at most
        one) and all ranks run the same number of forwards, a short share repeating a batch with weight 0, so
        FSDP2's collectives line up; the mean is weighted by batches, equal to one process's."""
        self.forward.eval()
        mine, most = distributed.rank_share(len(self.val), self.runtime)
        loss_sum = 0.0
        for index in range(most):
            weight = 1.0 if index < len(mine) else 0.0
            micro = self.val[mine[index] if weight else 0].to(self.runtime.device)
            with self.autocast:
                loss_sum += weight * next_token_loss(self.forward, micro).item()
        self.forward.train()
        distributed.reshard(self.wrapped, self.runtime)
        total, count = distributed.all_sum([loss_sum, float(len(mine))], self.runtime)
        return total / count

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
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        optimizer_state = get_optimizer_state_dict(self.wrapped, self.optimizer)  # this rank's shards under FSDP2
        save_model = self._model_saver()  # under FSDP2 a collective: every rank calls it
        state = {
            "step": self.step,
            "stage": self.stage,
            "layers": self.layers,
            "tokens": self.tokens,
            "flops": self.flops,
            "elapsed_s": self.elapsed,
            "stage_seconds": self.stage_seconds,
            "data_position": {"next_step": self.step},
            "val_loss": self.val_loss,
            "tokenizer_sha256": self.data.manifest["tokenizer"]["sha256"],
            "config": self.config.to_dict(),
        }
        checkpoint.save_checkpoint(
            self.out_dir,
            self.step,
            self.runtime,
            save_model,
            state,
            optimizer_state,
            stage_end=self.step in self.stage_ends,
            keep_last=self.config.run.keep_last,
        )

    def fit(self, progress: bool = True) -> dict[str, Any]:
        run, main = self.config.run, self.runtime.is_main
        metrics = MetricsLog(self.out_dir / METRICS_FILE, self.step) if main else None
        tokens_per_step = run.batch_size * self.config.data.seq_len
        bar = tqdm(total=run.steps, initial=self.step, disable=not (progress and main), desc="train", unit="step")
        # tokens/s covers everything in the loop (growth included) but evaluation and checkpoint writing (`paused`)
        window_start, window_tokens, window_flops, paused = time.perf_counter(), 0, 0, 0.0
        for step in range(self.step, run.steps):
            started = time.perf_counter()
            while self.grows and self.stage < stage_of(step, self.lengths):
                self.grow()
            lr = learning_rate(step, self.config, self.lengths)
            loss, grad_norm = self.train_step(step, lr)
            if self.runtime.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            self.elapsed += seconds
            self.stage_seconds[stage_of(step, self.lengths)] += seconds
            # charged at the depth this step ran, so a log window that spans a growth adds up both depths
            step_flops = flops_per_token(self.config.model, self.layers, self.config.data.seq_len) * tokens_per_step
            self.step, self.tokens, self.flops = step + 1, self.tokens + tokens_per_step, self.flops + step_flops
            window_tokens, window_flops = window_tokens + tokens_per_step, window_flops + step_flops
            record: dict[str, Any] = {}
            if run.eval_every and self.step % run.eval_every == 0 or self.step == run.steps:
                eval_started = time.perf_counter()
                self.val_loss = record["val_loss"] = self.evaluate()
                paused += time.perf_counter() - eval_started
            if main and (self.step % run.log_every == 0 or "val_loss" in record or self.step == run.steps):
                seconds = time.perf_counter() - window_start - paused
                record = {
                    "step": self.step,
                    "stage": self.stage + 1,
                    "layers": self.layers,
                    "loss": loss,
                    **record,
                    "grad_norm": grad_norm,
                    "lr": lr,
                    "tokens": self.tokens,
                    "flops": self.flops,
                    "tokens_per_s": window_tokens / seconds,
                    "elapsed_s": self.elapsed,
                }
                if self.peak:
                    record["mfu"] = window_flops / seconds / (self.peak * self.runtime.world_size)
                metrics.write(record)
                window_start, window_tokens, window_flops, paused = time.perf_counter(), 0, 0, 0.0
            bar.set_postfix(loss=f"{loss:.3f}", layers=self.layers, refresh=False)
            bar.update()
            if self.step in self.stage_ends or (run.checkpoint_every and self.step % run.checkpoint_every == 0):
                save_started = time.perf_counter()
                self.save_checkpoint()
                paused += time.perf_counter() - save_started
        bar.close()
        if metrics is not None:
            metrics.close()
        return self.finish(self.val_loss)

    def finish(self, val_loss: float) -> dict[str, Any]:
        """Write `final/` and `summary.json`; return the summary. A loss not measured in this process (a resume at
        the last step from a checkpoint older than the stored validation loss) is measured again, deterministically."""
        if math.isnan(val_loss):
            val_loss = self.evaluate()
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
            "layer_flops_speedup": layer_flops_speedup(self.lengths) if self.grows else 1.0,
            # seconds in optimizer steps and growth, summed over resumes (data prep, evaluation, checkpoints
            # excluded); and the same per stage
            "wall_clock_s": round(self.elapsed, 3),
            "stage_seconds": [round(seconds, 3) for seconds in self.stage_seconds],
            "final_val_loss": val_loss,
            "config": self.config.to_dict(),
        }
        save_model = self._model_saver()
        if self.runtime.is_main:
            checkpoint.write_hf_folder(self.out_dir / "final", save_model)
            _write_json(self.out_dir / "summary.json", summary)
        distributed.barrier(self.runtime)
        return summary


def _write_json(path: Path, value: dict[str, Any]) -> None:
    write_text(json.dumps(value, indent=1, allow_nan=False, default=str) + "\n", path)


def finished_summary(out_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The summary of the run in `out_dir` if it has finished (`summary.json`, written after `final/`, beside it),
    checked against `config`; None if it has not."""
    path = out_dir / "summary.json"
    if not (path.is_file() and (out_dir / "final").is_dir()):
        return None
    try:
        summary = json.loads(path.read_text())
        differences = checkpoint.config_differences(summary["config"], config)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(
            f"could not read {path} ({type(error).__name__}); delete it to have --resume write it again"
        ) from None
    if differences:
        raise ConfigError(
            f"{out_dir} holds a run finished with another config ({'; '.join(differences[:3])}); "
            "resume with the run's own config or train into a new --out"
        )
    return summary


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
    if resume and (finished := finished_summary(Path(out_dir), config)) is not None:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"{out_dir} already finished at step {finished['steps']}; nothing to do", file=sys.stderr)
        return finished
    threads, hf_bars = torch.get_num_threads(), transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # our own bar is the one progress display
    lock = RunLock(Path(out_dir))
    try:
        runtime = distributed.setup(config)
        refusal = None
        if runtime.is_main:  # one lock per run: the first rank holds it for all ranks
            try:
                lock.acquire()
            except RunLocked as error:
                refusal = str(error)
        refusal = distributed.main_value(refusal, runtime)  # every rank stops, none waits for the others
        if refusal:
            raise RunLocked(refusal)
        with distributed.timeouts_explained(runtime):
            return Trainer(config, Path(out_dir), runtime, resume, progress).fit(progress)
    finally:
        lock.release()
        distributed.teardown()
        torch.set_num_threads(threads)
        if hf_bars:
            transformers.utils.logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML file or shipped name such as tiny-midas")
    parser.add_argument("--out", required=True, help="run folder (final/, checkpoints/, metrics.jsonl, summary.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out")
    args = parser.parse_args(argv)
    with exit_on_user_error():  # the same contract as `primbench train`: one line, exit status 2
        summary = train(load_config(args.config, args.overrides), args.out, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}))


if __name__ == "__main__":
    main()
