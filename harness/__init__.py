"""Evaluation protocols, reports and the `primbench` command line."""
