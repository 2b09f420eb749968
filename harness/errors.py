"""User errors: problems with the user's input that get one line and exit 2, never a traceback."""


class HarnessError(ValueError):
    """Bad input to an evaluation, fine-tuning or reproduction command; the message names the fix."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every room's user-error class. Imported lazily so `primbench --help` stays fast."""
    from primbench.model_zoo.errors import ConfigError
    from primbench.primitives.errors import PrimitiveError

    return (HarnessError, PrimitiveError, ConfigError)
