"""Growth operators: the one registry of growth methods. Torch-free, so CLI help and config checks can read it.

An operator is a pure function `(layers, block_size) -> sources`: for every layer of the model after one growth
step, the index of the layer (before growth) it is copied from. A growth adds exactly one block of `block_size`
layers and keeps every old layer; the first occurrence of an index keeps the trained module and later ones are
copies (`model_zoo/surgery.py`). Adding one is one function and one line:

    @register_operator("my_method")
    def my_method(layers: int, block_size: int) -> list[int]:
        return list(range(layers)) + list(range(block_size))   # copy the bottom block onto the top

Everything that names methods (config validation, CLI help, report colours, `reproduce`) asks this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from primbench.model_zoo.errors import ConfigError

Operator = Callable[[int, int], list[int]]

BASELINE = "baseline"  # trains at full depth from step 0: the one method that never grows
_OPERATORS: dict[str, Operator] = {}
_COMPARED: list[str] = []


def register_operator(name: str, *, compared: bool = False) -> Callable[[Operator], Operator]:
    """Decorator: register `function` as growth method `name`. `compared` puts it into `reproduce`'s comparison,
    which then needs `model_zoo/configs/<size>-<name>.yaml` for every preset size."""

    def register(function: Operator) -> Operator:
        if name in _OPERATORS:
            raise ConfigError(f"growth method '{name}' is registered twice; pick another name")
        _OPERATORS[name] = function
        if compared:
            _COMPARED.append(name)
        return function

    return register


def methods() -> tuple[str, ...]:
    """Every registered method, baseline first, then in registration order."""
    return tuple(_OPERATORS)


def stacked_methods() -> tuple[str, ...]:
    """The methods that grow (all but baseline)."""
    return tuple(name for name in _OPERATORS if name != BASELINE)


def compared_methods() -> tuple[str, ...]:
    """The methods `reproduce` trains and compares (the paper's three unless more are registered as compared)."""
    return tuple(_COMPARED)


def layer_sources(method: str, layers: int, block_size: int) -> list[int]:
    """Old-layer index for each layer after one growth step of `method`, checked: one block more, no layer lost."""
    if method not in _OPERATORS:
        raise ConfigError(f"growth method '{method}' is not registered; choose one of {', '.join(methods())}")
    if method == BASELINE:
        raise ConfigError(f"growth.method '{method}' does not grow; use one of {', '.join(stacked_methods())}")
    if block_size < 1 or layers < block_size or layers % block_size:
        raise ConfigError(f"cannot grow a {layers}-layer model in blocks of {block_size}; depth must be a multiple")
    sources = list(_OPERATORS[method](layers, block_size))
    if (
        len(sources) != layers + block_size
        or not all(isinstance(s, int) and 0 <= s < layers for s in sources)
        or set(sources) != set(range(layers))
    ):
        raise ConfigError(
            f"growth operator '{method}' returned {sources} for {layers} layers in blocks of {block_size}; it must "
            f"list {layers + block_size} indices in 0..{layers - 1} that keep every layer"
        )
    return sources


@register_operator(BASELINE, compared=True)
def baseline(layers: int, block_size: int) -> list[int]:
    """No growth: the model trains at its final depth throughout."""
    return list(range(layers))


@register_operator("gradstack", compared=True)
def gradstack(layers: int, block_size: int) -> list[int]:
    """Gradual stacking (Reddi et al. 2023): copy the top block and put the copy on top."""
    old = list(range(layers))
    return old + old[layers - block_size :]


@register_operator("midas", compared=True)
def midas(layers: int, block_size: int) -> list[int]:
    """MIDAS (Saunshi et al. 2024): with n blocks, copy block ceil(n/2) (1-indexed), insert the copy after it."""
    old = list(range(layers))
    end = math.ceil(layers // block_size / 2) * block_size
    return old[:end] + old[end - block_size : end] + old[end:]


@register_operator("solar")
def solar(layers: int, block_size: int) -> list[int]:
    """SOLAR's depth up-scaling (Kim et al. 2023), one block at a time: two copies of the stack, the first without
    its top ceil((n-b)/2) layers and the second without its bottom floor((n-b)/2), end to end; plain copies.
    From one block it is G_stack's depthwise stacking (Du et al. 2024) with growth factor 2."""
    top_cut, bottom_cut = math.ceil((layers - block_size) / 2), (layers - block_size) // 2
    return list(range(layers - top_cut)) + list(range(bottom_cut, layers))


@register_operator("llama_pro")
def llama_pro(layers: int, block_size: int) -> list[int]:
    """LLaMA-Pro's block expansion (Wu et al. 2024) placement: cut the stack into `block_size` equal groups and
    insert a copy of each group's last layer after it. Initialised as a plain copy, not LLaMA-Pro's zeroed output
    projections, so the operator stays a pure layer map."""
    group = layers // block_size
    return [index for top in range(group - 1, layers, group) for index in [*range(top - group + 1, top + 1), top]]
