"""MIDAS and friends for any PyTorch loop: grow a Hugging Face causal LM by one block, carry its optimizer along.

    sources = grow(model, "midas", block_size=2)             # any registered operator (model_zoo/operators.py)
    grow_optimizer(optimizer, model, sources, mode="copy")   # new parameters join their source's param group

`sources` lists, for every layer of the grown model, the index (in the old model) of the layer it was copied or
moved from; the Adam state of the new layers is derived from it. `GrowthCallback` does both on a schedule inside
`transformers.Trainer`. Our own trainer re-wraps the model after growth and moves the state by parameter name
(`grow_optimizer_state`), which also works for FSDP2's sharded state.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.operators import layer_sources
from primbench.model_zoo.surgery import copied_positions, decoder_layers, layer_path, rebuild

OPTIMIZER_STATE_MODES = ("copy", "zero")
GROWTH_FILE = "growth.json"  # GrowthCallback's record in each checkpoint: method, block size, stage, sources


def grow(model: nn.Module, method: str, block_size: int) -> list[int]:
    """Grow `model` (unwrapped) by one block of `method` in place; return the sources (see the module docstring)."""
    sources = layer_sources(method, len(decoder_layers(model)), block_size)
    rebuild(model, sources)
    return sources


def _layer_parameters(model: nn.Module) -> list[list[nn.Parameter]]:
    """Each decoder layer's parameters, in `named_parameters` order (the same order in every copy of a layer)."""
    return [list(layer.parameters()) for layer in decoder_layers(model)]


def grow_optimizer(
    optimizer: torch.optim.Optimizer, model: nn.Module, sources: list[int], mode: str = "copy"
) -> list[nn.Parameter]:
    """Add the parameters `grow` created to `optimizer`; return them.

    Each new parameter joins the param group of the parameter it was copied from (so it gets the same weight decay
    and learning rate, and an LR scheduler needs no change), and every group is put back into the model's
    parameter order, as a fresh optimizer built over the grown model would list it (so a checkpoint of this
    optimizer loads into that one). Its state is a copy of its source's (`copy`), or zero moments with the source's
    step count kept (`zero`), so bias correction does not restart. Works on a wrapper such as accelerate's
    `AcceleratedOptimizer`, whose groups and state are the wrapped optimizer's.
    """
    if mode not in OPTIMIZER_STATE_MODES:
        raise ConfigError(f"optimizer state mode must be copy or zero, got {mode!r}")
    inner = getattr(optimizer, "optimizer", optimizer)
    group_of = {id(p): group for group in inner.param_groups for p in group["params"]}
    layers = _layer_parameters(model)
    added: list[nn.Parameter] = []
    first = {source: position for position, source in reversed(list(enumerate(sources)))}
    for position in sorted(copied_positions(sources)):
        for new, old in zip(layers[position], layers[first[sources[position]]], strict=True):
            group = group_of.get(id(old))
            if group is None:  # frozen, or never handed to the optimizer
                continue
            group["params"].append(new)
            group_of[id(new)] = group
            if old in inner.state:
                inner.state[new] = {
                    key: torch.zeros_like(value) if mode == "zero" and key != "step" else value.clone()
                    for key, value in inner.state[old].items()
                }
            added.append(new)
    order = {id(p): index for index, p in enumerate(model.parameters())}
    for group in inner.param_groups:
        group["params"].sort(key=lambda p: order.get(id(p), len(order)))
    return added


_INDEX = re.compile(r"^(\d+)(\..*)$")


def source_name(name: str, sources: list[int], prefix: str) -> str:
    """The pre-growth name of the parameter now called `name` (`model.layers.5.mlp...` -> `model.layers.3.mlp...`);
    `prefix` is the layer list's dotted path plus a dot."""
    match = _INDEX.match(name.removeprefix(prefix)) if name.startswith(prefix) else None
    return f"{prefix}{sources[int(match.group(1))]}{match.group(2)}" if match else name


def new_layer_names(names: list[str], sources: list[int], prefix: str) -> set[str]:
    """Names of parameters that belong to the freshly copied layers."""
    copied = copied_positions(sources)
    return {
        name
        for name in names
        if name.startswith(prefix) and (m := _INDEX.match(name.removeprefix(prefix))) and int(m.group(1)) in copied
    }


def layer_prefix(model: nn.Module) -> str:
    """`model.layers.` for Llama: the prefix of decoder-layer parameter names, without a DDP `module.`."""
    return layer_path(model).removeprefix("module.") + "."


def grow_optimizer_state(
    state: dict[str, dict], names: list[str], sources: list[int], mode: str, prefix: str = "model.layers."
) -> dict[str, dict]:
    """Adam state for the grown model, keyed by parameter name: each layer takes its source layer's state;
    with mode `zero` the copies start from zero moments (keeping the step count, so bias correction stays off)."""
    fresh = new_layer_names(names, sources, prefix)
    grown = {}
    for name in names:
        old = state.get(source_name(name, sources, prefix))
        if old is None:
            continue
        grown[name] = {
            key: (torch.zeros_like(value) if mode == "zero" and name in fresh and key != "step" else value.clone())
            for key, value in old.items()
        }
    return grown


def __getattr__(name: str):
    """`GrowthCallback` lives in growth_callback.py (it imports transformers' Trainer machinery); load it lazily."""
    if name == "GrowthCallback":
        from primbench.model_zoo.growth_callback import GrowthCallback

        return GrowthCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
