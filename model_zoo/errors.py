"""The one exception type the trainer raises for bad user input (config, corpus, resume checkpoint)."""


class ConfigError(ValueError):
    """A config key, value, corpus or checkpoint the user gave cannot work; the message says what to change."""
