"""The trainer's user errors: one line, exit status 2, never a traceback (`primbench.errors`)."""

from primbench.errors import UserError


class ConfigError(UserError):
    """A config key, value, corpus or checkpoint the user gave cannot work; the message says what to change."""


class RunLocked(UserError):
    """Another trainer holds the run folder's lock; train into a new --out or wait for it."""


class CollectiveTimeout(UserError):
    """A rank waited past run.timeout_s in a collective: another rank died, stalled or diverged."""
