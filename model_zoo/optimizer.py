"""AdamW with decay on matrices only, and its state keyed by parameter name, so it survives growth and resume.

Names (`model.layers.3.mlp.up_proj.weight`) rather than positions key the state because growth inserts layers in
the middle; torch.distributed.checkpoint's state_dict helpers give the same name-keyed form for plain, DDP and
FSDP2 models alike.
"""

from __future__ import annotations

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from primbench.model_zoo.config import OptimConfig

_FULL = StateDictOptions(full_state_dict=True)


def build_optimizer(model: torch.nn.Module, optim: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """Weight decay on 2-D weights (projections, embeddings), none on norms; fused kernel on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": optim.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=(optim.beta1, optim.beta2), fused=device.type == "cuda")


def named_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict]:
    """{parameter name: {"step", "exp_avg", "exp_avg_sq"}} with full (unsharded) tensors."""
    return get_optimizer_state_dict(model, optimizer, options=_FULL)["state"]


def load_named_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, dict]) -> None:
    """Load name-keyed state into an optimizer built over `model` (param groups are the optimizer's own)."""
    current = get_optimizer_state_dict(model, optimizer, options=_FULL)
    set_optimizer_state_dict(model, optimizer, {"state": state, "param_groups": current["param_groups"]}, options=_FULL)


def parameter_names(model: torch.nn.Module) -> list[str]:
    """Names as the state_dict helpers use them (DDP's `module.` prefix removed)."""
    names = [name for name, _ in model.named_parameters()]
    return [name.removeprefix("module.") for name in names]
