"""Build a decoder-only Llama (transformers' LlamaForCausalLM, SDPA attention) at a given depth."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from primbench.model_zoo.config import TrainConfig


def llama_config(config: TrainConfig, layers: int, seq_len: int, special_ids: dict[str, int]) -> LlamaConfig:
    """The HF config for `layers` decoder layers; everything else comes from the train config."""
    m = config.model
    return LlamaConfig(
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
    )


def build_model(config: TrainConfig, layers: int, special_ids: dict[str, int]) -> LlamaForCausalLM:
    """A freshly initialised model; the caller seeds torch first so initialisation is reproducible."""
    hf_config = llama_config(config, layers, config.data.seq_len, special_ids)
    model = LlamaForCausalLM(hf_config)
    return model.to(torch.float32)


def initial_layers(config: TrainConfig) -> int:
    """Baseline starts at full depth; stacking starts with one block."""
    g = config.growth
    return g.stages * g.block_size if g.method == "baseline" else g.block_size


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def next_token_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting batch[:, 1:] from batch[:, :-1] (batch is [B, T+1] token ids)."""
    logits = model(input_ids=batch[:, :-1]).logits  # [B, T, vocab]
    return F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
