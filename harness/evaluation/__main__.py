"""lm-eval's own command line with primbench's backend registered: `python -m primbench.harness.evaluation`.

    python -m primbench.harness.evaluation --model primbench-hf --model_args pretrained=MODEL \
        --include_path "$(primbench tasks-path)" --tasks reasoning_primitives --limit 100

Until lm-eval ships its `lm_eval.models` plugin entry points (declared in pyproject.toml, so a plain `lm_eval
--model primbench-hf` works from that release on), this is that command after `import primbench.harness.evaluation`.
Bad arguments get the house contract: one line, exit status 2 (`primbench.errors`).
"""

from __future__ import annotations

import os
import traceback

from lm_eval._cli import HarnessCLI
from lm_eval.utils import setup_logging

import primbench.harness.evaluation  # noqa: F401 - registers primbench-hf
from primbench.errors import UserError, exit_on_user_error

# lm-eval's modules that check what the user typed: a ValueError raised in them is a bad argument, not a bug
ARGUMENT_CHECKS = (f"lm_eval{os.sep}_cli{os.sep}", f"lm_eval{os.sep}config{os.sep}")


def raised_by_argument_check(error: BaseException) -> bool:
    """Whether the innermost frame of `error`'s traceback is in one of lm-eval's argument checks."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and any(part in frames[-1].filename for part in ARGUMENT_CHECKS)


def main() -> None:
    """lm-eval's `cli_evaluate`, with the ValueError its argument checks raise (a malformed --metadata or
    --model_args, an unknown task) reported as a user error instead of a traceback."""
    setup_logging()
    parser = HarnessCLI()
    with exit_on_user_error():
        try:
            parser.execute(parser.parse_args())
        except ValueError as error:
            if isinstance(error, UserError) or not raised_by_argument_check(error):
                raise
            raise UserError(str(error).strip().splitlines()[0]) from None


if __name__ == "__main__":
    main()
