"""model_zoo: pretrain decoder-only LMs (Llama, Qwen2, Gemma-3) at full depth or grown by a registered operator
(GradStack, MIDAS, ...), and grow any Hugging Face causal LM in another trainer.

Entry points: `model_zoo.config.load_config`, `model_zoo.train.train`, `python -m primbench.model_zoo.train`,
`model_zoo.operators` (the growth methods), `model_zoo.growth` (`grow`, `grow_optimizer`, `GrowthCallback`).
Imports nothing else of primbench's but `primbench.atomic` and `primbench.errors`.
"""
