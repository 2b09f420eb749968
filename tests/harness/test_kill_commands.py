"""Kill `finetune` and `reproduce` anywhere (SIGKILL at a chosen write point, see primbench.atomic), run the same
command again: the same scores and tables as an uninterrupted run, timings aside, and no temporaries left."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_finetune import EASY_TASK, random_model, tokenizer  # noqa: F401 - tokenizer is a fixture

from primbench.atomic import KILL_ENV
from primbench.harness.cli import main
from primbench.harness.evaluation import finetune as finetune_module
from primbench.harness.evaluation.finetune import PROGRESS_FILE


def _killed(arguments: list[str], point: int) -> str:
    """`primbench ARGUMENTS` in a subprocess that SIGKILLs itself at write point `point`; the point's name."""
    env = {**os.environ, KILL_ENV: str(point), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "primbench.harness.cli", *arguments]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return re.findall(rf"write point {point}: (.*)", result.stderr)[-1]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def finetune_args(tmp_path_factory, tokenizer):  # noqa: F811 - the fixture imported above
    folder = tmp_path_factory.mktemp("finetune")
    random_model(tokenizer).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    arguments = ["finetune", str(folder / "model"), "--tasks", EASY_TASK, "--n-train", "8", "--seeds", "2"]
    arguments += ["--steps", "3", "--limit", "5", "--out"]
    uninterrupted = CliRunner().invoke(main, [*arguments, str(folder / "uninterrupted")])
    assert uninterrupted.exit_code == 0, uninterrupted.output
    return arguments, (folder / "uninterrupted" / "finetune.json").read_bytes()


def _kill_and_rerun_finetune(point: int, out: Path, finetune_args, monkeypatch) -> tuple[str, list[int]]:
    """Kill at `point`, run again in this process; return the point's name and the seeds the second run tuned."""
    arguments, expected = finetune_args
    where = _killed([*arguments, str(out)], point)
    tuned = []
    original = finetune_module.tune_copy
    with monkeypatch.context() as patch:  # (model, tokenizer, records, config, seed): note each seed tuned
        patch.setattr(finetune_module, "tune_copy", lambda *a, **k: tuned.append(a[4]) or original(*a, **k))
        again = CliRunner().invoke(main, [*arguments, str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "finetune.json").read_bytes() == expected
    assert sorted(p.name for p in out.iterdir()) == ["finetune.json"]  # no temporaries, no record of seeds
    return where.removeprefix(f"{out}/"), tuned


def test_a_killed_finetune_continues_after_its_last_finished_seed(tmp_path, finetune_args, monkeypatch):
    where, tuned = _kill_and_rerun_finetune(2, tmp_path / "ft", finetune_args, monkeypatch)
    assert where == PROGRESS_FILE and tuned == [1]  # killed while recording seed 1: seed 0 was kept


@pytest.mark.slow
def test_a_finetune_killed_at_any_write_point_gives_the_same_scores(tmp_path, finetune_args, monkeypatch):
    """After each seed (2) and in the final write; the second run tunes only the seeds not yet recorded."""
    runs = [_kill_and_rerun_finetune(p, tmp_path / f"ft{p}", finetune_args, monkeypatch) for p in range(1, 4)]
    assert runs == [(PROGRESS_FILE, [0, 1]), (PROGRESS_FILE, [1]), ("finetune.json", [])]


TIMINGS = {"wall_clock_s", "stage_seconds"}


def _without_timings(value):
    """A results.json value with every timing removed."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _tables(out: Path) -> dict[str, object]:
    """results.json and every table under `out`, the wall-clock columns blanked and the folder's name as OUT."""

    def read(path: Path) -> str:
        return path.read_text().replace(str(out), "OUT")

    tables: dict[str, object] = {"results.json": _without_timings(json.loads(read(out / "results.json")))}
    for path in sorted(out.glob("*.csv")):
        rows = list(csv.reader(io.StringIO(read(path))))
        keep = [i for i, name in enumerate(rows[0]) if name not in TIMINGS]
        tables[path.name] = [[row[i] for i in keep] for row in rows]
    for path in sorted(out.glob("*.md")):
        lines, wall = [], None
        for line in read(path).splitlines():
            cells = line.split("|")
            if any("wall-clock" in cell for cell in cells):
                wall = next(i for i, cell in enumerate(cells) if "wall-clock" in cell)
            elif not line.startswith("|"):
                wall = None
            elif wall is not None and len(cells) > wall:
                cells[wall] = " - "
            lines.append("|".join(cells))
        tables[path.name] = lines
    return tables


@pytest.mark.slow
def test_a_reproduction_killed_anywhere_gives_the_same_tables(tmp_path, monkeypatch):
    """`reproduce --preset micro` killed inside a checkpoint write, in the final save the issue found (no summary
    yet), between measurement stages and while writing the report; each run again to the end."""
    from primbench.primitives.registry import PRESETS, build_dataset

    lines = [f"{r['prompt']} {r['answer']}\n" for p in PRESETS for r in build_dataset(p, 7).records("train", 40)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines))
    monkeypatch.setenv("PRIMBENCH_CACHE", str(tmp_path / "cache"))  # each run prepares its shards: same points
    arguments = ["reproduce", "--preset", "micro", "--set", f"data.corpus={tmp_path / 'corpus.txt'}", "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", KILL_ENV: "1000000"}
    counted = subprocess.run(
        [sys.executable, "-m", "primbench.harness.cli", *arguments, str(tmp_path / "uninterrupted")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert counted.returncode == 0, counted.stderr[-2000:]
    points = re.findall(r"write point (\d+): (.*)", counted.stderr)
    expected = _tables(tmp_path / "uninterrupted")

    def first(pattern: str) -> int:
        return next(int(n) for n, name in points if re.search(pattern, name))

    chosen = [
        first(r"runs/baseline/checkpoints/\.step_0000012-partial \(model written\)"),
        first(r"runs/baseline/final$"),
        [int(n) for n, name in points if name.endswith("state.json")][3],  # the fourth stage, not yet recorded
        first(r"table.md$"),
    ]
    for point in chosen:
        out = tmp_path / f"killed_at_{point}"
        monkeypatch.setenv("PRIMBENCH_CACHE", str(tmp_path / f"cache_{point}"))
        where = _killed([*arguments, str(out)], point)
        assert where.removeprefix(str(out)) == points[point - 1][1].removeprefix(str(tmp_path / "uninterrupted"))
        again = CliRunner().invoke(main, [*arguments, str(out)])
        assert again.exit_code == 0, again.output
        assert _tables(out) == expected, point
        assert _hidden(out) == [] and _hidden(out / "runs" / "baseline") == []
