"""lm-eval's own command line with primbench's backend registered: `python -m primbench.harness.evaluation`.

    python -m primbench.harness.evaluation --model primbench-hf --model_args pretrained=MODEL \
        --include_path "$(primbench tasks-path)" --tasks reasoning_primitives --limit 100

lm-eval 0.4.13 finds models only in its registry (no plugin entry points), so a plain `lm_eval --model
primbench-hf` cannot see ours; this is that command after `import primbench.harness.evaluation`.
"""

from lm_eval.__main__ import cli_evaluate

import primbench.harness.evaluation  # noqa: F401 - registers primbench-hf

if __name__ == "__main__":
    cli_evaluate()
