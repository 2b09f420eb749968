"""DDP (and FSDP2, slow) over two CPU processes (gloo, torchrun) match one process with the same global batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import micro_config
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from primbench.model_zoo import checkpoint
from primbench.model_zoo.data import prepare_data
from primbench.model_zoo.train import train

# 12 steps, 4 stages ([1, 2, 4, 5]): three growth steps happen under DDP, each followed by a re-wrap.
# 3 validation batches over 2 ranks: unequal shares, which must neither hang FSDP2 nor skew the mean.
SHORT = ("run.steps=12", "run.checkpoint_every=0", "run.log_every=1", "run.eval_every=6", "run.eval_batches=3")
PROBE = Path(__file__).with_name("torchrun_probe.py")


def _env() -> dict[str, str]:
    """The environment at call time (the token_cache fixture has set PRIMBENCH_CACHE by then)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _torchrun(out, corpus_file, *overrides: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "primbench.model_zoo.train",
        "--config",
        "micro-midas",
        "--out",
        str(out),
        "--set",
        f"data.corpus={corpus_file}",
        *[f"--set={o}" for o in overrides],
    ]
    return subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=240)


@pytest.mark.parametrize("parallel", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_two_processes_match_one(tmp_path, corpus_file, parallel):
    # batch 8 = micro 4 x 2 accumulation on one process, micro 4 x 2 ranks under DDP / FSDP2
    config = micro_config("midas", corpus_file, *SHORT)
    prepare_data(config)  # build the token cache here so both launches read the same files
    single = train(config, tmp_path / "single", progress=False)
    result = _torchrun(tmp_path / "ddp", corpus_file, *SHORT, f"run.parallel={parallel}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.strip().splitlines()) == 1  # only rank 0 prints the summary
    printed = json.loads(result.stdout)
    assert printed["layers"] == 4 and printed["steps"] == 12
    one, two = (load_file(tmp_path / run / "final" / "model.safetensors") for run in ("single", "ddp"))
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    losses = [
        [json.loads(line)["loss"] for line in (tmp_path / run / "metrics.jsonl").open()] for run in ("single", "ddp")
    ]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert printed["final_val_loss"] == pytest.approx(single["final_val_loss"], rel=1e-4)


def test_torchrun_bad_input_is_one_line_exit_2(tmp_path, corpus_file):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "primbench.model_zoo.train",
            "--config",
            "micro-midas",
            "--out",
            str(tmp_path / "x"),
            "--set",
            "growth.stages=3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model.num_hidden_layers (4) must equal growth.stages x growth.block_size (3 x 1 = 3); "
        "change one of them"
    ]


def test_fsdp_reduces_gradients_once_per_step_with_four_micro_batches(tmp_path, corpus_file):
    prepare_data(micro_config("baseline", corpus_file))  # torchrun ranks only read shards
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(PROBE)]
    result = subprocess.run(
        [*command, "count", str(tmp_path / "run"), str(corpus_file)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(c["rank"] for c in counts) == [0, 1]
    # 4 steps x 5 FSDP2 units (4 layers + root): one reduce-scatter each per step, not one per micro-batch
    assert all(c["calls"] == 4 * c["units"] == 20 for c in counts), counts


@pytest.mark.slow
def test_a_rank_waiting_past_the_timeout_gets_one_clear_error(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(PROBE)]
    result = subprocess.run([*command, "timeout"], capture_output=True, text=True, env=_env(), timeout=240)
    assert result.returncode != 0
    assert "error: rank 0 waited more than run.timeout_s (3 s) for the other ranks" in result.stderr


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (torchrun may start its ranks in their own process groups)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_a_killed_two_rank_run_resumes_on_one_process(tmp_path, corpus_file, parallel, capfd):
    """kill -9 a torchrun run after its first stage ends; resume on one process; same steps, stages, data."""
    overrides = ("run.steps=120", "run.eval_every=40", "run.log_every=5")  # stages [12, 24, 36, 48]
    config = micro_config("midas", corpus_file, *overrides)
    reference = train(config, tmp_path / "reference", progress=False)  # also prepares the shards
    out = tmp_path / "killed"
    command = [
        *[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        *["-m", "primbench.model_zoo.train", "--config", "micro-midas", "--out", str(out)],
        *[f"--set={o}" for o in (f"data.corpus={corpus_file}", f"run.parallel={parallel}", *overrides)],
    ]
    process = subprocess.Popen(command, env=_env(), stderr=subprocess.DEVNULL)
    try:
        _wait_for(out / "checkpoints" / "step_0000012" / "checkpoint.json", process)
    finally:
        ranks = _descendants(process.pid)
        for pid in [process.pid, *ranks]:  # the launcher and both ranks, no clean-up
            os.kill(pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 30  # SIGKILL lands asynchronously; the ranks stay zombies (nobody reaps them)
    while any(_running(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (out / "final").exists() and (out / "train.lock").exists()
    saved = checkpoint.list_checkpoints(out)[-1]
    state = torch.load(saved / checkpoint.STATE_FILE, weights_only=True)
    assert state["world_size"] == 2 and state["data_position"] == {"next_step": state["step"]}
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        resumed = train(config, out, resume=True, progress=False)
    assert f"saved by 2 ranks, resumed on 1: RNG re-seeded from (seed 0, step {state['step']}, rank)" in (
        capfd.readouterr().err
    )
    for key in ("steps", "tokens", "flops", "layers", "stage_steps", "parameters"):
        assert resumed[key] == reference[key], key
    logged = [
        [(m["step"], m["stage"], m["layers"], m["tokens"]) for m in _metrics(run)]
        for run in (out, tmp_path / "reference")
    ]
    assert logged[0] == logged[1]
    assert _metrics(out)[-1]["loss"] == pytest.approx(_metrics(tmp_path / "reference")[-1]["loss"], rel=2e-3)
    model = AutoModelForCausalLM.from_pretrained(out / "final")
    assert model.config.num_hidden_layers == 4 and model.config.vocab_size == config.model.vocab_size


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_one_process_checkpoint_resumes_under_fsdp_on_two(tmp_path, corpus_file, monkeypatch):
    """1 -> 2 ranks: the optimizer state is resharded and each rank's RNG re-seeded; same steps, stages, FLOPs."""
    from primbench.model_zoo import train as train_module

    overrides = ("run.steps=40", "run.eval_every=20")
    config = micro_config("midas", corpus_file, *overrides)
    reference = train(config, tmp_path / "reference", progress=False)
    original = train_module.Trainer.train_step

    def crash_at_22(self, step, lr):
        if step == 22:
            raise KeyboardInterrupt("simulated crash")
        return original(self, step, lr)

    with monkeypatch.context() as patch:
        patch.setattr(train_module.Trainer, "train_step", crash_at_22)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "run", progress=False)
    assert checkpoint.list_checkpoints(tmp_path / "run")[-1].name == "step_0000020"
    command = [
        *[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        *["-m", "primbench.model_zoo.train", "--config", "micro-midas", "--out", str(tmp_path / "run"), "--resume"],
        *[f"--set={o}" for o in (f"data.corpus={corpus_file}", "run.parallel=fsdp", *overrides)],
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "saved by 1 ranks, resumed on 2: RNG re-seeded from (seed 0, step 20, rank)" in result.stderr
    resumed = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("steps", "tokens", "flops", "layers", "stage_steps"):
        assert resumed[key] == reference[key], key
    assert resumed["final_val_loss"] == pytest.approx(reference["final_val_loss"], rel=1e-3)
