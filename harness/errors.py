"""User errors of the harness: one line, exit status 2, never a traceback (`primbench.errors`)."""

from primbench.errors import UserError


class HarnessError(UserError):
    """Bad input to an evaluation, fine-tuning or reproduction command; the message names the fix."""


class CommandLineError(UserError):
    """A command-line flag, or a combination of flags, that the command cannot run with."""
