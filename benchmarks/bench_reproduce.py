"""What a re-run of `primbench reproduce` costs next to the run that did the work, and where that work goes.

    python benchmarks/bench_reproduce.py              # micro preset in a temporary folder, 1 torch thread
    python benchmarks/bench_reproduce.py --threads 2

The first run trains the three micro models and measures them (few-shot, isoplot, fine-tuning, similarity);
the second run, in the same process on the same folder, should only read state.json and redraw the report.
Printed: seconds per stage kind of the first run, both totals, and the ratio re-run / first run (target < 0.1).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch

from primbench.harness.reproduce.pipeline import reproduce
from primbench.primitives.registry import PRESETS, build_dataset


class StageClock:
    """A `log` callback for reproduce that charges the time between log lines to the stage that started."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.current, self.since = None, time.perf_counter()

    def __call__(self, line: str) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.seconds[self.current] += now - self.since
        self.current = line.split()[-1].split("/")[-1] if line.startswith("[run]") else None
        self.since = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["PRIMBENCH_CACHE"] = str(root / "cache")
        corpus = root / "corpus.txt"
        corpus.write_text(
            "\n".join(
                f"{r['prompt']} {r['answer']}\n"
                for preset in PRESETS
                for r in build_dataset(preset, 7).records("train", 40)
            )
        )
        overrides = [f"data.corpus={corpus}"]
        clock = StageClock()
        start = time.perf_counter()
        reproduce("micro", root / "out", overrides=overrides, log=clock, progress=False)
        clock("[end]")
        first = time.perf_counter() - start
        start = time.perf_counter()
        reproduce("micro", root / "out", overrides=overrides, log=lambda line: None, progress=False)
        again = time.perf_counter() - start
    for stage, seconds in sorted(clock.seconds.items(), key=lambda item: -item[1]):
        print(f"  {stage:<12} {seconds:7.1f} s")
    print(f"first run {first:.1f} s, re-run {again:.1f} s, ratio re-run/first = {again / first:.3f}")


if __name__ == "__main__":
    main()
