"""Running lm-eval on primbench tasks: model checks and loading, the oracle models, the fine-tuned protocol.

Importing this package registers primbench's lm-eval backend `primbench-hf` (`backend.PrimbenchLM`) by name only:
the class, and torch with it, load when lm-eval first asks for that name.
"""

import lm_eval.models  # noqa: F401 - lm-eval fills its registry here; an entry of ours first would hide its backends
from lm_eval.api.registry import model_registry

BACKEND_NAME = "primbench-hf"
model_registry.register(BACKEND_NAME, target="primbench.harness.evaluation.backend:PrimbenchLM")
