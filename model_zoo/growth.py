"""Growth operators: add one block of b decoder layers, initialised as a copy of an existing block.

- gradstack: copy the top block and put the copy on top.
- midas: with n blocks, copy block ceil(n/2) (1-indexed) and insert the copy right after it.

Each operator returns `sources`: for every layer of the grown model, the index (in the old model) of the layer
it was copied from or moved from. The optimizer state of new layers is derived from the same map.
"""

from __future__ import annotations

import copy
import math
import re

import torch
from transformers import LlamaForCausalLM

from primbench.model_zoo.errors import ConfigError


def layer_sources(method: str, layers: int, block_size: int) -> list[int]:
    """Old-layer index for each layer after one growth step (pure: no model needed)."""
    if layers % block_size:
        raise ConfigError(f"cannot grow a {layers}-layer model in blocks of {block_size}; depth must be a multiple")
    old = list(range(layers))
    if method == "gradstack":
        return old + old[layers - block_size :]
    if method == "midas":
        middle = math.ceil(layers // block_size / 2)  # 1-indexed block to copy
        end = middle * block_size
        return old[:end] + old[end - block_size : end] + old[end:]
    raise ConfigError(f"growth.method '{method}' does not grow; use gradstack or midas")


def grow_model(model: LlamaForCausalLM, method: str, block_size: int) -> list[int]:
    """Grow `model` (unwrapped) by one block in place; renumbers layer_idx and num_hidden_layers."""
    old_layers = list(model.model.layers)
    sources = layer_sources(method, len(old_layers), block_size)
    copies = copied_positions(sources)
    # the first occurrence of a source keeps the original module; the copies are deep copies
    new_layers = [
        copy.deepcopy(old_layers[source]) if index in copies else old_layers[source]
        for index, source in enumerate(sources)
    ]
    model.model.layers = torch.nn.ModuleList(new_layers)
    for index, layer in enumerate(model.model.layers):
        layer.self_attn.layer_idx = index
    model.config.num_hidden_layers = len(new_layers)
    return sources


_LAYER_NAME = re.compile(r"^(.*\blayers\.)(\d+)(\..*)$")


def source_name(name: str, sources: list[int]) -> str:
    """The pre-growth name of the parameter now called `name` (`model.layers.5.mlp...` -> `model.layers.3.mlp...`)."""
    match = _LAYER_NAME.match(name)
    if not match:
        return name
    return f"{match.group(1)}{sources[int(match.group(2))]}{match.group(3)}"


def copied_positions(sources: list[int]) -> set[int]:
    """Positions of the grown model that hold a fresh copy: every occurrence of a source after its first."""
    return {index for index, source in enumerate(sources) if source in sources[:index]}


def new_layer_names(names: list[str], sources: list[int]) -> set[str]:
    """Names of parameters that belong to the freshly copied layers."""
    copied = copied_positions(sources)
    return {n for n in names if (m := _LAYER_NAME.match(n)) and int(m.group(2)) in copied}


def grow_optimizer_state(state: dict[str, dict], names: list[str], sources: list[int], mode: str) -> dict[str, dict]:
    """Adam state for the grown model, keyed by parameter name: each layer takes its source layer's state;
    with mode `zero` the copies start from zero moments (keeping the step count, so bias correction stays off)."""
    fresh = new_layer_names(names, sources)
    grown = {}
    for name in names:
        old = state.get(source_name(name, sources))
        if old is None:
            continue
        grown[name] = {
            key: (torch.zeros_like(value) if mode == "zero" and name in fresh and key != "step" else value.clone())
            for key, value in old.items()
        }
    return grown
