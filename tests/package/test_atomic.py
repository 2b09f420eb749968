"""primbench.atomic: the one way every room writes files; a failure leaves the old target and no temporary."""

import json
import os

import pytest

from primbench import atomic


def test_write_json_replaces_the_target_and_keeps_key_order(tmp_path):
    target = tmp_path / "deep" / "results.json"
    atomic.write_json({"b": 1, "a": [1, 2]}, target)
    atomic.write_json({"z": "é", "a": 2}, target)
    assert target.read_text(encoding="utf-8") == '{\n  "z": "é",\n  "a": 2\n}\n'
    assert json.loads(target.read_text(encoding="utf-8")) == {"z": "é", "a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "table.md"
    atomic.write_text("old\n", target)

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text("new\n", target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_an_error_while_writing_a_folder_leaves_the_old_folder(tmp_path):
    target = tmp_path / "final"
    with atomic.atomic_path(target, directory=True) as scratch:
        (scratch / "weights").write_text("v1")
    with pytest.raises(RuntimeError, match="crash"), atomic.atomic_path(target, directory=True) as scratch:
        (scratch / "weights").write_text("half")
        raise RuntimeError("crash")
    assert (target / "weights").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def test_a_folder_is_replaced_as_a_whole(tmp_path):
    target = tmp_path / "final"
    with atomic.atomic_path(target, directory=True) as scratch:
        (scratch / "old_only").write_text("x")
    with atomic.atomic_path(target, directory=True) as scratch:
        (scratch / "new").write_text("y")
    assert sorted(os.listdir(target)) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def test_a_write_killed_at_its_write_point_leaves_the_old_target_and_a_removable_temporary(tmp_path):
    """PRIMBENCH_KILL_AT_WRITE=2: the second write dies before its rename, as a SIGKILL there would leave it."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "summary.json"
    script = "import sys; from primbench.atomic import write_text as w; w('one', sys.argv[1]); w('two', sys.argv[1])"
    result = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        env={**os.environ, atomic.KILL_ENV: "2"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == -signal.SIGKILL
    assert result.stderr == f"write point 1: {target}\nwrite point 2: {target}\n"
    assert target.read_text() == "one"
    (left,) = atomic.leftovers(tmp_path, "summary.json")
    assert left.read_text() == "two" and left.name.startswith(".summary.json-")
    atomic.write_text("", tmp_path / ".other-file")  # another name's file is not a leftover of this one
    atomic.remove_leftovers(tmp_path, "summary.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other-file", "summary.json"]
