"""model_zoo: pretrain decoder-only Llama models as a full-depth baseline, with GradStack, or with MIDAS.

Entry points: `model_zoo.config.load_config`, `model_zoo.train.train`, and `python -m primbench.model_zoo.train`.
Imports nothing else of primbench's but `primbench.atomic` and `primbench.errors`.
"""
