"""Run under torchrun by test_distributed.py (not a test module itself).

torchrun --nproc_per_node 2 torchrun_probe.py count OUT CORPUS    # reduce-scatters per FSDP2 unit and step
torchrun --nproc_per_node 2 torchrun_probe.py timeout              # rank 1 stalls past run.timeout_s
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch.distributed as dist

from primbench.model_zoo import distributed
from primbench.model_zoo.config import load_config
from primbench.model_zoo.train import train


def count_reduce_scatters(out: str, corpus: str) -> None:
    """4 steps of micro-baseline, 4 micro-batches per rank and step (batch 16 = micro 2 x 2 ranks x 4)."""
    calls = 0
    original = dist.reduce_scatter_single

    def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    dist.reduce_scatter_single = counting  # FSDP2 looks it up on torch.distributed at every call
    overrides = [
        f"data.corpus={corpus}",
        "run.parallel=fsdp",
        "run.steps=4",
        "growth.schedule=uniform",
        "run.batch_size=16",
        "run.micro_batch_size=2",
        "run.checkpoint_every=0",
        "run.eval_every=0",
    ]
    summary = train(load_config("micro-baseline", overrides), out, progress=False)
    units = summary["layers"] + 1  # fully_shard on every decoder layer and on the root
    # one write of the whole line: both ranks share the test's stdout pipe, and print's separate newline write
    # could land after the other rank's line
    sys.stdout.write(json.dumps({"rank": int(os.environ["RANK"]), "calls": calls, "units": units}) + "\n")
    sys.stdout.flush()


def stall() -> None:
    runtime = distributed.setup(load_config("micro-midas", ["run.timeout_s=3"]))
    if runtime.rank == 1:
        time.sleep(12)
        return
    with distributed.timeouts_explained(runtime):
        distributed.barrier(runtime)


if __name__ == "__main__":
    if sys.argv[1] == "count":
        count_reduce_scatters(sys.argv[2], sys.argv[3])
    else:
        try:
            stall()
        except distributed.CollectiveTimeout as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
