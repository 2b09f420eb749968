"""Hooks named by the YAML files (`!function utils.<name>`); lm-eval loads this file by its path.

The logic lives in the importable `tasks.data` and `tasks.filters`, so that the harness and the hooks share one implementation.
"""

from primbench.tasks.data import load_preset  # noqa: F401  (re-exported for `custom_dataset: !function utils.load_preset`)
from primbench.tasks.filters import FlexibleExtract  # noqa: F401  (`function: !function utils.FlexibleExtract`)
