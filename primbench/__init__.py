"""primbench: reasoning-primitive benchmarks for language models, and a MIDAS (middle gradual stacking) trainer.

The repository's top-level folders install as the rooms of this one package:

    primbench.primitives   seeded generators, solvers, exports (imports only primbench.atomic and .errors)
    primbench.tasks        the lm-eval task registry built on the primitives
    primbench.model_zoo    the baseline / GradStack / MIDAS trainer (imports only primbench.atomic and .errors)
    primbench.harness      evaluation, fine-tuning, analysis, reproduction, reports and the `primbench` CLI
    primbench.atomic       the one way every room writes files (a leaf: imports nothing of ours)
    primbench.errors       UserError, the base of every room's user errors, and the one exit-2 wrapper (a leaf)
"""

from importlib import metadata

try:
    __version__ = metadata.version("primbench")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
