"""User errors: bad input that gets one line naming the problem and the fix, exit status 2, never a traceback.

Each room raises its own subclass of `UserError` (`PrimitiveError`, `ConfigError`, `HarnessError`, and the
narrower ones whose names say what went wrong), and every entry point runs its body inside `exit_on_user_error`:
`primbench ...`, `python -m primbench.model_zoo.train`, `python -m primbench.model_zoo.prepare` and
`python -m primbench.harness.evaluation`. Nothing catches a user error earlier. A leaf: imports nothing of ours.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

EXIT_USER_ERROR = 2  # the status argparse and click give a usage error


class UserError(ValueError):
    """Input the user gave cannot work; the message is one line that says what to change."""


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a `UserError` raised inside into `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
