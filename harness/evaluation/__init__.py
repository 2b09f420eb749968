"""Running lm-eval on primbench tasks: model checks and loading, the oracle models, the fine-tuned protocol."""
