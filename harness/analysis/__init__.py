"""Diagnostics of a checkpoint beyond accuracy: how alike its blocks are, and how it changes when edited."""
