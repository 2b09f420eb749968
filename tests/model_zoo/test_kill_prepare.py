"""Kill `prepare` anywhere (SIGKILL at a chosen write point, see primbench.atomic), run it again: the shard folder
is byte for byte the uninterrupted one, temporaries gone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import micro_config, write_corpus

from primbench.atomic import KILL_ENV
from primbench.model_zoo import prepare

UNIT_BYTES = 16_384  # the corpus below (~85 KB) makes 6 units: 14 write points (tokenizer, shards, records, manifest)
# `python -m primbench.model_zoo.prepare` at the test's unit size
PREPARE = "import sys; from primbench.model_zoo import prepare; prepare.UNIT_BYTES = {}; prepare.main(sys.argv[1:])"


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "small.txt", sentences=1200)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, small_corpus) -> dict[str, bytes]:
    """Every file of the shard folder an uninterrupted preparation writes (in a cache of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIMBENCH_CACHE", str(tmp_path_factory.mktemp("uninterrupted")))
        patch.setattr(prepare, "UNIT_BYTES", UNIT_BYTES)
        return _files(prepare.prepare_shards(micro_config("midas", small_corpus), progress=False))


def _kill_and_rerun(point: int, tmp_path: Path, small_corpus: Path, monkeypatch, expected: dict[str, bytes]) -> str:
    """Prepare with a SIGKILL at write point `point`, prepare again (in this process); return the point's name."""
    cache = tmp_path / f"cache_{point}"
    monkeypatch.setenv("PRIMBENCH_CACHE", str(cache))
    arguments = ["--config", "micro-midas", f"--set=data.corpus={small_corpus}", "--set=data.prepare_workers=1"]
    env = {**os.environ, KILL_ENV: str(point), "TOKENIZERS_PARALLELISM": "false"}
    killed = subprocess.run(
        [sys.executable, "-c", PREPARE.format(UNIT_BYTES), *arguments], env=env, capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    where = re.findall(rf"write point {point}: (.*)", killed.stderr)[-1]
    monkeypatch.setattr(prepare, "UNIT_BYTES", UNIT_BYTES)
    folder = prepare.prepare_shards(micro_config("midas", small_corpus, "data.prepare_workers=1"), progress=False)
    assert _files(folder) == expected
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    return where.removeprefix(f"{folder}/")


def test_a_preparation_killed_mid_shard_ends_with_the_same_shards(tmp_path, small_corpus, monkeypatch, uninterrupted):
    """Killed with unit 3's training shard written under its temporary name (every point: the slow test below)."""
    assert _kill_and_rerun(8, tmp_path, small_corpus, monkeypatch, uninterrupted) == "train_000003.bin"


@pytest.mark.slow
def test_a_preparation_killed_at_any_write_point_ends_with_the_same_shards(
    tmp_path, small_corpus, monkeypatch, uninterrupted
):
    """Every write point: the tokenizer, each unit's shards and record, the manifest."""
    reached = [_kill_and_rerun(point, tmp_path, small_corpus, monkeypatch, uninterrupted) for point in range(1, 15)]
    assert reached[-3:] == ["val_000005.bin", "000005.json", "manifest.json"]
