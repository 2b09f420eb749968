"""Atomic file and folder writes: a failed or interrupted command leaves nothing half-written.

Every room writes through here. The new content goes to a hidden temporary name in the target's own folder (so
the final rename never crosses a file system) and replaces the target in one `os.replace`; on any error the
temporary is removed and the old target, if any, is untouched.

A process killed outright (SIGKILL, power loss) runs no clean-up: it can leave a temporary behind, under a name
`leftovers` recognises, so the command that resumes the work can remove it. For the tests that kill commands at
every such moment, each write is a `write_point`: with PRIMBENCH_KILL_AT_WRITE=N in the environment, the process
SIGKILLs itself at its Nth write point (counted per process; `prepare`'s pool workers drop the variable) after
printing one `write point N: NAME` line per point to stderr; unset (always, outside those tests), a write point
does nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KILL_ENV = "PRIMBENCH_KILL_AT_WRITE"
_write_points = 0


def write_point(name: str) -> None:
    """A moment where a kill leaves a distinct state on disk; see the module docstring (a no-op unless tested)."""
    global _write_points
    kill_at = os.environ.get(KILL_ENV)
    if not kill_at:
        return
    _write_points += 1
    print(f"write point {_write_points}: {name}", file=sys.stderr, flush=True)
    if _write_points == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)


def leftovers(folder: str | Path, name: str) -> list[Path]:
    """Temporaries that a killed `atomic_path(folder / name)` left behind (names no finished write uses)."""
    folder = Path(folder)
    return sorted(folder.glob(f".{name}-*")) if folder.is_dir() else []


def remove_leftovers(folder: str | Path, name: str) -> None:
    """Delete what `leftovers` finds; call it only while no other process writes `folder / name`."""
    for path in leftovers(folder, name):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is deleted.

    With `directory=True` the temporary is an empty folder to fill, and an existing folder at `path` is
    replaced as a whole (moved aside first, then deleted once the new one is in place).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    else:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=target.suffix)
        os.close(handle)
        scratch = Path(name)
    try:
        yield scratch
        write_point(str(target))
        if directory and target.exists():
            aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-old-"))
            target.rename(aside / target.name)
            write_point(f"{target} (the old one moved aside)")
            scratch.rename(target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(scratch, target)
    finally:
        if scratch.is_dir():
            shutil.rmtree(scratch, ignore_errors=True)
        elif scratch.exists():
            scratch.unlink()


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write bytes atomically and return the target path."""
    with atomic_path(path) as scratch:
        scratch.write_bytes(data)
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically (newlines as given) and return the target path."""
    return write_bytes(text.encode("utf-8"), path)


def write_json(data: Any, path: str | Path) -> Path:
    """Atomic, stable JSON: key order is the caller's (sorting would reorder tasks), indentation fixed."""
    return write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", path)
