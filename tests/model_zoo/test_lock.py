"""One writer per run folder: a live holder refuses a second trainer, a dead one's lock is taken over."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from conftest import micro_config

from primbench.model_zoo.errors import RunLocked
from primbench.model_zoo.lock import LOCK_FILE, RunLock
from primbench.model_zoo.train import train

SHORT = ("run.steps=6", "run.checkpoint_every=0", "run.eval_every=0")


def _lock_file(folder, host, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps({"host": host, "pid": pid, "since": "earlier"}))


def test_a_second_trainer_on_a_locked_folder_is_refused(tmp_path, corpus_file):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(tmp_path / "run", socket.gethostname(), holder.pid)
        with pytest.raises(RunLocked, match=rf"being written by another trainer \(host .*, pid {holder.pid},"):
            train(micro_config("baseline", corpus_file, *SHORT), tmp_path / "run", progress=False)
        assert json.loads((tmp_path / "run" / LOCK_FILE).read_text())["pid"] == holder.pid  # left alone
        assert not (tmp_path / "run" / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_cli_refusal_is_one_line_and_exit_2(tmp_path, corpus_file):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(tmp_path / "run", socket.gethostname(), holder.pid)
        command = [sys.executable, "-m", "primbench.model_zoo.train", "--config", "micro-baseline"]
        result = subprocess.run(
            [*command, "--out", str(tmp_path / "run"), "--set", f"data.corpus={corpus_file}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {holder.pid}" in lines[0]


def test_a_stale_lock_is_taken_over_with_a_warning_and_released(tmp_path, corpus_file):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock_file(tmp_path / "run", socket.gethostname(), dead.pid)
    with pytest.warns(UserWarning, match=f"taking over the stale lock .* of pid {dead.pid}"):
        summary = train(micro_config("baseline", corpus_file, *SHORT), tmp_path / "run", progress=False)
    assert summary["steps"] == 6 and not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_lock_from_another_host_says_how_to_clear_it(tmp_path):
    _lock_file(tmp_path, "some-other-node", 123)
    with pytest.raises(RunLocked, match=f"locked by a trainer on host some-other-node .*delete {tmp_path}"):
        RunLock(tmp_path).acquire()


def test_the_lock_is_released_when_training_fails(tmp_path, corpus_file, monkeypatch):
    from primbench.model_zoo import train as train_module

    def crash(self, step, lr):
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(train_module.Trainer, "train_step", crash)
    with pytest.raises(KeyboardInterrupt):
        train(micro_config("baseline", corpus_file, *SHORT), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / LOCK_FILE).exists()
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    with pytest.raises(RunLocked, match="being written by another trainer"):
        RunLock(tmp_path / "run").acquire()  # this very process holds it
    lock.release()
