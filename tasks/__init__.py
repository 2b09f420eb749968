"""The lm-eval task registry of primbench: one task per primitive preset, in two scorings, plus groups.

The folder itself is what lm-eval indexes (`TaskManager(include_path=TASKS_DIR)` or
`lm_eval --include_path $(primbench tasks-path)`); `tasks.registry` writes its YAML from the primitives'
registry and names every task and group that must be found there.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
