"""Training FLOPs from the current depth (PaLM / nanoGPT accounting), and MFU against the accelerator's peak."""

from __future__ import annotations

from primbench.model_zoo.config import ModelConfig

# Dense bf16 peak FLOP/s by device-name fragment (vendor data sheets, SXM parts, no sparsity).
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}


def layer_matmul_params(model: ModelConfig) -> int:
    """Weights one decoder layer multiplies each token by: q, k, v, o projections and the SwiGLU MLP."""
    h = model.hidden_size
    kv = model.num_key_value_heads * (h // model.num_attention_heads)
    return 2 * h * h + 2 * h * kv + 3 * h * model.intermediate_size


def flops_per_token(model: ModelConfig, layers: int, seq_len: int) -> int:
    """Forward + backward FLOPs per token at `layers` depth: 6 per matmul weight (incl. the LM head)
    plus attention scores and weighted sum, 12 * layers * hidden * seq_len."""
    matmul = layers * layer_matmul_params(model) + model.hidden_size * model.vocab_size
    return 6 * matmul + 12 * layers * model.hidden_size * seq_len


def peak_flops(device_name: str) -> float:
    """The bf16 peak of a known accelerator, or 0 when unknown (MFU is then not reported)."""
    for fragment, peak in PEAK_BF16_FLOPS.items():
        if fragment in device_name:
            return peak
    return 0.0
