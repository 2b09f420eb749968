"""The run's log: `metrics.jsonl` (one line per log step), mirrored to TensorBoard when that package is installed.

On resume, lines past the checkpoint's step are dropped (and TensorBoard purges its events past that step), so
the log of a resumed run reads as one uninterrupted run. A line cut short by a kill can only be the last one, past
the checkpoint the run resumes from, so it goes with them.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from primbench.atomic import write_point, write_text

METRICS_FILE = "metrics.jsonl"


def read_metrics(path: Path) -> list[dict]:
    """The complete lines of a run's log, in order; a last line cut short by a kill is left out."""
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # the killed run's last, unfinished line
                break
    return records


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class MetricsLog:
    def __init__(self, path: Path, resumed_step: int, tensorboard: bool | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = [record for record in read_metrics(path) if record["step"] <= resumed_step]
        write_text("".join(json.dumps(record) + "\n" for record in kept), path)
        self.board = None
        if tensorboard_available() if tensorboard is None else tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.board = SummaryWriter(path.parent / "tensorboard", purge_step=resumed_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        write_point(f"{self.path} (step {record['step']})")
        with self.path.open("a") as handle:
            handle.write(json.dumps(clean) + "\n")
        if self.board is not None:
            for key, value in clean.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.board.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
