"""primbench: reasoning-primitive benchmarks for language models, and a MIDAS (middle gradual stacking) trainer.

The repository's top-level folders install as the rooms of this one package:

    primbench.primitives   seeded generators, solvers, exports (imports nothing else of ours)
    primbench.tasks        the lm-eval task registry built on the primitives
    primbench.model_zoo    the baseline / GradStack / MIDAS trainer (imports nothing else of ours)
    primbench.harness      evaluation, fine-tuning, analysis, reproduction, reports and the `primbench` CLI
    primbench.atomic       the one way every room writes files (a leaf: imports nothing of ours)
"""

from importlib import metadata

try:
    __version__ = metadata.version("primbench")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
