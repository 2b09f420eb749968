"""The project installs one import name, `primbench`; the folders' bare names belong to other PyPI projects."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("primitives", "tasks", "harness", "model_zoo")


def _run_outside_the_repo(tmp_path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("room", ROOMS)
def test_bare_room_names_are_not_importable_outside_the_repo(tmp_path, room):
    done = _run_outside_the_repo(tmp_path, f"import {room}")
    assert done.returncode != 0 and "No module named" in done.stderr, done.stderr


def test_every_room_imports_under_primbench_and_resolves_to_its_folder(tmp_path):
    code = "; ".join(f"import primbench.{room} as m{i}; print(m{i}.__file__)" for i, room in enumerate(ROOMS))
    done = _run_outside_the_repo(tmp_path, code)
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert files == [str(ROOT / room / "__init__.py") for room in ROOMS]


def test_a_users_own_tasks_module_does_not_shadow_ours(tmp_path):
    (tmp_path / "tasks.py").write_text("raise SystemExit('the user module was imported')\n")
    (tmp_path / "harness.py").write_text("raise SystemExit('the user module was imported')\n")
    done = _run_outside_the_repo(
        tmp_path, "from primbench.tasks.registry import expected_names; print(len(expected_names()[0]))"
    )
    assert done.returncode == 0 and int(done.stdout) > 0, done.stderr


def test_every_package_folder_is_listed_for_setuptools():
    """A sub-folder with an __init__.py that pyproject does not list would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"primbench"}
    for room in ROOMS:
        for init in (ROOT / room).rglob("__init__.py"):
            found.add(".".join(("primbench", *init.parent.relative_to(ROOT).parts)))
    assert found == listed


def test_the_cli_entry_point_and_tasks_path_work_outside_the_repo(tmp_path):
    primbench = Path(sys.executable).with_name("primbench")
    help_text = subprocess.run([primbench, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "primbench: reasoning primitives" in help_text.stdout
    path = subprocess.run([primbench, "tasks-path"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert path.returncode == 0 and Path(path.stdout.strip()) == ROOT / "tasks"


def test_lint_bans_the_bare_room_names(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from tasks.data import load_preset\nimport harness\n")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(probe)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "`tasks` is banned: import primbench.tasks" in done.stdout
    assert "`harness` is banned: import primbench.harness" in done.stdout


# An import of a room by its bare name in any form ruff cannot see: code in strings (`python -c`, probes),
# `import_module` or `python -m` with a bare room name. It would load a second copy of the package from the
# working directory (or someone else's package), so a test would check the wrong code. This file holds the
# check's own examples, so it is the one file not scanned.
BARE_ROOM = re.compile(
    r"""(?:^|[^.\w])from\s+(?:primitives|tasks|harness|model_zoo)(?![\w'])"""
    r"""|(?:^\s*|[;"']\s*)import\s+(?:[\w.]+\s*,\s*)*(?:primitives|tasks|harness|model_zoo)(?![\w'])"""
    r"""|import_module\(\s*["'](?:primitives|tasks|harness|model_zoo)\b"""
    r"""|(?:-m["']?,?\s*["']?)(?:primitives|tasks|harness|model_zoo)[.\s"']"""
)


def repository_files(endings: tuple[str, ...]) -> list[Path]:
    """The project's files whose names end with one of `endings`, without hidden folders (.venv, .git) or caches."""
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name != "__pycache__"]
        found += [Path(folder) / name for name in names if name.endswith(endings)]
    return sorted(found)


def test_no_test_script_or_doc_imports_a_room_by_its_bare_name():
    offenders = []
    for path in repository_files((".py", ".md", ".sh", ".toml", "Makefile")):
        relative = path.relative_to(ROOT)
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BARE_ROOM.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "write primbench.<room>:\n" + "\n".join(offenders)


def test_citations_point_at_documents_in_the_repository():
    """The paper's facts and the offline set-up live in docs/; nothing cites a file a user does not have."""
    cited, stale = set(), []
    for path in repository_files((".py", ".md", ".yaml", ".toml", ".j2")):
        relative = path.relative_to(ROOT)
        text = path.read_text(encoding="utf-8")
        cited |= set(re.findall(r"docs/[a-z_]+\.md", text))
        stale += [f"{relative}: {name}" for name in re.findall(r"\b(?:PAPER|OFFLINE)\.md", text)]
    assert stale == []
    assert {"docs/paper.md", "docs/offline.md"} <= cited
    assert all((ROOT / name).is_file() for name in cited), cited


def test_the_bare_room_check_finds_each_form():
    for line in (
        "code = 'import sys; from harness.cli import main'",
        '"import re; from primitives.writer import generate"',
        "importlib.import_module('model_zoo.train')",
        'subprocess.run([sys.executable, "-m", "tasks.registry"])',
        "python -m harness.evaluation --model primbench-hf",
        "import tasks, harness",
        '"import sys, primitives.registry, primitives.export; "',
    ):
        assert BARE_ROOM.search(line), line
    for line in (
        "from primbench.harness.cli import main",
        "python -m primbench.model_zoo.train --config micro",
        "# Numbers from model_zoo's summary.json",
        "import primbench.tasks",
        "from primbench import primitives",
        "import sys, primbench.primitives.registry",
    ):
        assert not BARE_ROOM.search(line), line


@pytest.mark.slow
def test_pypi_packages_named_tasks_and_harness_install_beside_primbench(tmp_path):
    """PyPI's `tasks` and `harness` own those top-level names; with them importable, primbench still works."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), "tasks", "harness"],
        check=True,
        timeout=300,
    )
    code = (
        "import tasks, harness, primbench.tasks, primbench.harness.cli; "
        "from primbench.tasks.selection import expand_tasks; "
        "print(tasks.__file__.startswith(%r), harness.__file__.startswith(%r), len(expand_tasks(['reasoning_primitives'])))"
        % (str(site), str(site))
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "8"]
