"""Layer surgery: the one place a decoder's layer list changes (growth, `loop`, the trainer).

`rebuild(model, sources)` makes layer i of the new decoder a copy of old layer `sources[i]`: the first occurrence
of an index keeps the original module (and so its parameters, which an optimizer or a DDP wrapper may hold), later
occurrences are deep copies (a saved folder cannot share weights between layers). Every module's `layer_idx` is
renumbered, because the KV cache is indexed by it, and the config's layer count and per-layer lists (such as
Qwen2's and Gemma-3's `layer_types`) follow the new order, so a copy of a sliding-window layer stays sliding and
the saved config matches the weights.
"""

from __future__ import annotations

import copy

from torch import nn

from primbench.model_zoo.errors import ConfigError

# Where well-known decoder families keep their layer list; other models are searched for one (see `decoder_layers`).
KNOWN_LAYER_PATHS = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers", "transformer.blocks")
# Config keys that hold the decoder's layer count in the families transformers ships.
LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers")
# Lists in a config that are not per-layer even when their length happens to equal the layer count.
NOT_PER_LAYER = ("architectures",)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder layers, found by name for known families or by shape for the rest."""
    return _get_dotted(model, layer_path(model))


def layer_path(model: nn.Module) -> str:
    """Dotted name of the decoder layer list (`model.layers`, `transformer.h`, ...), a DDP `module.` prefix kept."""
    expected = configured_layer_count(model)
    for dotted in KNOWN_LAYER_PATHS:
        for prefix in ("", "module."):
            found = _get_dotted(model, prefix + dotted)
            if isinstance(found, nn.ModuleList) and len(found) > 0 and expected in (None, len(found)):
                return prefix + dotted
    candidates = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList)
        and len(module) > 0
        and len({type(child) for child in module}) == 1
        and (expected is None or len(module) == expected)
    ]
    if len(candidates) == 1:
        return candidates[0]
    raise ConfigError(
        f"cannot find the decoder layers of {type(model).__name__}: primbench reads decoders that keep their "
        "layers in one list (Llama, Qwen2, Mistral, Gemma, GPT-2, GPT-NeoX, OPT); convert the checkpoint to one"
    )


def configured_layer_count(model: nn.Module) -> int | None:
    """The layer count the model's config states (None for a model without a transformers config)."""
    config = getattr(getattr(model, "module", model), "config", None)
    for key in LAYER_COUNT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def copied_positions(sources: list[int]) -> set[int]:
    """Positions of the rebuilt model that hold a fresh copy: every occurrence of a source after its first."""
    return {index for index, source in enumerate(sources) if source in sources[:index]}


def rebuild(model: nn.Module, sources: list[int]) -> None:
    """Rebuild `model`'s decoder in place from `sources` (old index per new layer); see the module docstring."""
    layers = decoder_layers(model)
    old_count = len(layers)
    copies = copied_positions(sources)
    rebuilt = [
        copy.deepcopy(layers[source]) if index in copies else layers[source] for index, source in enumerate(sources)
    ]
    del layers[:]
    layers.extend(rebuilt)
    for index, layer in enumerate(layers):
        for module in layer.modules():  # attention keeps its index for the KV cache; some layers do too
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = index
    config = getattr(model, "config", None)
    if config is not None:
        remap_config(config, old_count, sources)


def remap_config(config, old_count: int, sources: list[int]) -> None:
    """The layer count and every per-layer list (one entry per layer, e.g. `layer_types`) follow `sources`."""
    for key, value in config.to_dict().items():
        if key in LAYER_COUNT_KEYS and value == old_count:
            setattr(config, key, len(sources))
        elif isinstance(value, list) and len(value) == old_count and key not in NOT_PER_LAYER:
            setattr(config, key, [value[source] for source in sources])


def _get_dotted(root: nn.Module, dotted: str):
    current = root
    for part in dotted.split("."):
        current = getattr(current, part, None)
        if current is None:
            return None
    return current
