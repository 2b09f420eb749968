"""Build a decoder-only LM of `model.architecture` (Llama, Qwen2 or Gemma-3; SDPA attention) at a given depth."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from primbench.model_zoo.config import ARCHITECTURES, TrainConfig
from primbench.model_zoo.operators import stacked_methods


def hf_config(config: TrainConfig, layers: int, seq_len: int, special_ids: dict[str, int]) -> PretrainedConfig:
    """The HF config for `layers` decoder layers; everything else comes from the train config."""
    m = config.model
    extra = {}
    if m.architecture == "gemma3":
        # Gemma-3 interleaves sliding-window and full attention. Here the last layer of every block attends fully,
        # so a block copied by any growth operator keeps the pattern a full-depth model has.
        block = config.growth.block_size
        extra = {
            "head_dim": m.hidden_size // m.num_attention_heads,
            "query_pre_attn_scalar": m.hidden_size // m.num_attention_heads,
            "sliding_window": max(1, seq_len // 2),
            "layer_types": [
                "full_attention" if (index + 1) % block == 0 else "sliding_attention" for index in range(layers)
            ],
        }
    return AutoConfig.for_model(
        ARCHITECTURES[m.architecture],
        vocab_size=m.vocab_size,
        hidden_size=m.hidden_size,
        intermediate_size=m.intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_key_value_heads,
        max_position_embeddings=seq_len,
        rope_theta=m.rope_theta,
        initializer_range=m.initializer_range,
        tie_word_embeddings=m.tie_word_embeddings,
        bos_token_id=special_ids["bos"],
        eos_token_id=special_ids["eos"],
        pad_token_id=special_ids["pad"],
        attn_implementation="sdpa",
        **extra,
    )


def build_model(config: TrainConfig, layers: int, special_ids: dict[str, int]) -> PreTrainedModel:
    """A freshly initialised model; the caller seeds torch first so initialisation is reproducible."""
    model = AutoModelForCausalLM.from_config(hf_config(config, layers, config.data.seq_len, special_ids))
    return model.to(torch.float32)


def initial_layers(config: TrainConfig) -> int:
    """A growing method starts with one block; baseline starts at full depth."""
    g = config.growth
    return g.block_size if g.method in stacked_methods() else g.stages * g.block_size


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def next_token_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting batch[:, 1:] from batch[:, :-1] (batch is [B, T+1] token ids)."""
    logits = model(input_ids=batch[:, :-1]).logits  # [B, T, vocab]
    return F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
