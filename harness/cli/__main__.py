"""`python -m primbench.harness.cli ...` is the `primbench` command (for environments without its script)."""

from primbench.harness.cli import main

main()
