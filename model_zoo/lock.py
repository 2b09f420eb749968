"""One writer per run folder: `--out/train.lock` names the host and pid of the trainer writing it.

A second trainer on the same folder (a double launch, a resume while killed ranks still run) is refused with one
line instead of interleaving checkpoints. A lock left by a process that no longer exists on this host is stale and
is taken over with a warning; a lock from another host cannot be checked, so the message says how to clear it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

from primbench.model_zoo.errors import RunLocked

LOCK_FILE = "train.lock"


def _alive(pid: int) -> bool:
    """Whether `pid` runs on this host. A zombie (killed, not yet reaped: a kill -9'd rank in a container whose
    init reaps nothing) no longer runs, so it does not hold the folder."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): trust the signal check
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state field follows the parenthesised command name


class RunLock:
    """Held from `acquire()` to `release()`; the file is created with O_EXCL, so two trainers cannot both win."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_FILE
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for _ in range(2):  # second try after removing a stale lock
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_if_stale()
                continue
            with os.fdopen(handle, "w") as file:
                json.dump(me, file)
            self.held = True
            return
        raise RunLocked(f"could not take the lock {self.path}; another trainer took it first, pick a new --out")

    def _clear_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            host, pid = holder["host"], int(holder["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            holder, host, pid = {}, None, None  # unreadable: a writer died between create and write
        if host == socket.gethostname() and pid is not None and _alive(pid):
            raise RunLocked(
                f"{self.path.parent} is being written by another trainer (host {host}, pid {pid}, since "
                f"{holder.get('since', '?')}); wait for it or stop it, or train into a new --out"
            )
        if host not in (None, socket.gethostname()):
            raise RunLocked(
                f"{self.path.parent} is locked by a trainer on host {host} (pid {pid}); if it is no longer "
                f"running, delete {self.path} and start again"
            )
        warnings.warn(f"taking over the stale lock {self.path} of pid {pid}, which is no longer running", stacklevel=3)
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
