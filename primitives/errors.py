"""The one exception type primitives raise for bad user input (unknown names, impossible knobs)."""

from primbench.errors import UserError


class PrimitiveError(UserError):
    """A preset, knob, template or count the user gave cannot work; the message says what to change."""
