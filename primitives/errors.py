"""The one exception type primitives raise for bad user input (unknown names, impossible knobs)."""


class PrimitiveError(ValueError):
    """A preset, knob, template or count the user gave cannot work; the message says what to change."""
