"""`state.json`: what a comparison measured, with which settings; every finished stage's result.

Each stage's result is written (atomically) before the next stage starts, so a command killed anywhere resumes
from the last finished stage, and a re-run of a finished folder only redraws its tables and plots.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from primbench.atomic import write_json
from primbench.harness.errors import HarnessError

STATE_FILE = "state.json"
STATE_FORMAT = 1


@dataclass
class StageBook:
    """Pins (settings a stored result depends on) and the stored results, by stage name."""

    path: Path
    pins: dict
    stages: dict = field(default_factory=dict)

    @classmethod
    def read(cls, out: Path, what: str) -> tuple[dict, dict] | None:
        """(pins, stages) stored in `out`, None for a new or empty folder; refuses any other folder."""
        path = out / STATE_FILE
        if not path.is_file():
            if out.is_dir() and any(out.iterdir()):
                raise HarnessError(
                    f"--out {out} already holds files but no {STATE_FILE}, so it is not a primbench {what}; "
                    "pick a new or empty folder"
                )
            return None
        try:
            saved = json.loads(path.read_text())
            return saved["pins"], saved["stages"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise HarnessError(f"{path} is unreadable; delete it to start this {what} again") from None

    @classmethod
    def open(cls, out: Path, pins: dict, what: str = "comparison") -> StageBook:
        """The book in `out`; stored results made under other pins are refused rather than mixed."""
        saved = cls.read(out, what)
        if saved is None:
            return cls(out / STATE_FILE, pins)
        saved_pins, stages = saved
        for key, value in pins.items():
            if key != "command" and saved_pins.get(key) != value:
                raise HarnessError(
                    f"--out {out} holds a {what} made with other {key} ({_show(saved_pins.get(key))}, not "
                    f"{_show(value)}); use another --out, or rerun with the same {key}"
                )
        return cls(out / STATE_FILE, saved_pins, stages)

    def run(self, key: str, compute: Callable[[], dict], log: Callable[[str], None]) -> dict:
        """The stored result of `key`, or compute, store and return it."""
        if key in self.stages:
            log(f"[done] {key}")
            return self.stages[key]
        log(f"[run]  {key}")
        self.stages[key] = compute()
        write_json({"format": STATE_FORMAT, "pins": self.pins, "stages": self.stages}, self.path)
        return self.stages[key]


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
