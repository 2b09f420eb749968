"""DDP (and FSDP2, slow) over two CPU processes (gloo, torchrun) match one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import micro_config
from safetensors.torch import load_file

from primbench.model_zoo.data import prepare_data
from primbench.model_zoo.train import train

# 12 steps, 4 stages ([1, 2, 4, 5]): three growth steps happen under DDP, each followed by a re-wrap.
SHORT = ("run.steps=12", "run.checkpoint_every=0", "run.log_every=1", "run.eval_every=6")


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
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)


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
