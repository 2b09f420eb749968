"""Training FLOPs from the current depth (PaLM / nanoGPT accounting), and MFU against the accelerator's peak."""

from __future__ import annotations

from primbench.model_zoo.config import ModelConfig

# Dense bf16 peak FLOP/s (vendor data sheets, without sparsity), by the exact name torch.cuda.get_device_name gives:
# a fragment match would count an L40S as an L4 and every H100 as the SXM part.
PEAK_BF16_FLOPS = {
    "NVIDIA H100 80GB HBM3": 989e12,  # H100 SXM5
    "NVIDIA H100 SXM5 80GB": 989e12,
    "NVIDIA H100 PCIe": 756e12,
    "NVIDIA H100 NVL": 835e12,
    "NVIDIA H200": 989e12,  # H200 SXM
    "NVIDIA H200 NVL": 835e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A100-PCIE-40GB": 312e12,
    "NVIDIA A100 80GB PCIe": 312e12,
    "NVIDIA L4": 121e12,
    "NVIDIA L40S": 362e12,
}


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
    """The bf16 peak of a known accelerator, or 0 when unknown (MFU is then not reported; set run.peak_flops)."""
    name = device_name.strip()
    return PEAK_BF16_FLOPS.get(name) or PEAK_BF16_FLOPS.get(f"NVIDIA {name}", 0.0)
