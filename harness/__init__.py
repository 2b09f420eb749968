"""The harness: everything that runs models on the primitives, in rooms by job.

cli/         the `primbench` click group, one thin module per command
evaluation/  lm-eval glue, model checks and loading, oracle models, the fine-tuned protocol
analysis/    diagnostics of checkpoints (similarity, sweep, isoplot, loop) and interval statistics
reports/     tables and plots
reproduce/   the baseline / GradStack / MIDAS comparison pipeline
"""
