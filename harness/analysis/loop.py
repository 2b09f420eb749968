"""Inference-time looping: a checkpoint whose decoder runs a block of its layers several times in a row.

The MIDAS follow-ups loop a grown model's middle block at inference and watch primitive accuracy move; `loop`
writes such a model as a plain Hugging Face folder, so `primbench eval`, `sweep`, lm-eval and vLLM score it like
any other. Layers START..END-1 run R times: the repeats are deep copies (a saved folder cannot share weights
between layers), every module's `layer_idx` is renumbered (the KV cache is indexed by it), and the config's layer
count and per-layer lists (`layer_types` of Qwen2 and Gemma-3) follow the new order, so a copy of a
sliding-window layer stays sliding. With R = 1 the folder holds the original model, logits bit for bit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from torch import nn

from primbench.atomic import atomic_path, write_json
from primbench.harness.errors import HarnessError
from primbench.model_zoo.surgery import LAYER_COUNT_KEYS, decoder_layers, rebuild

# What `save_pretrained` writes itself, or what belongs to the original weights only (optimizer state).
NOT_COPIED = ("config.json", "generation_config.json", "trainer_state.pt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".index.json")
PROVENANCE_FILE = "loop.json"


def parse_layers(text: str) -> tuple[int, int]:
    """`"2:4"` -> `(2, 4)`; anything else is one line naming the expected form."""
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return int(start), int(end)
    except ValueError:
        raise HarnessError(f"--layers {text!r} is not START:END; e.g. --layers 2:4 repeats layers 2 and 3") from None


def loop_sources(num_layers: int, start: int, end: int, repeat: int) -> list[int]:
    """Original layer index of each layer of the looped model: layers start..end-1 run `repeat` times in a row."""
    if start >= end:
        raise HarnessError(f"--layers {start}:{end}: START must be below END (END is exclusive), e.g. --layers 2:4")
    if not 0 <= start < end <= num_layers:
        raise HarnessError(
            f"--layers {start}:{end} is outside the model's {num_layers} layers; "
            f"use START:END with 0 <= START < END <= {num_layers} (END is exclusive)"
        )
    if repeat < 1:
        raise HarnessError(f"--repeat must be 1 or more, not {repeat}")
    layers = list(range(num_layers))
    return layers[:end] + layers[start:end] * (repeat - 1) + layers[end:]


def layer_count(config: dict) -> int:
    """The decoder's layer count as its config.json states it."""
    for key in LAYER_COUNT_KEYS:
        if isinstance(config.get(key), int):
            return config[key]
    raise HarnessError(
        "the model's config.json names no layer count (num_hidden_layers); loop needs a decoder such as "
        "Llama, Qwen2, Gemma-3 or GPT-2"
    )


def loop_model(model: nn.Module, start: int, end: int, repeat: int) -> list[int]:
    """Rebuild `model`'s decoder in place so that it runs layers start..end-1 `repeat` times; return the sources."""
    sources = loop_sources(len(decoder_layers(model)), start, end, repeat)
    rebuild(model, sources)
    return sources


def write_looped(model_dir: str | Path, start: int, end: int, repeat: int, out: str | Path) -> dict:
    """Write the looped copy of the HF folder `model_dir` to `out` (all at once, or nothing); return its record.

    The range is checked against config.json before any weights load. Tokenizer files, the chat template and
    anything else that is not weights or config are copied unchanged; `loop.json` records what was done.
    """
    from primbench.harness.evaluation.models import check_model_source, load_causal_lm

    source, target = Path(model_dir), Path(out)
    check_model_source(str(source))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise HarnessError(f"--out {str(target)!r} already exists and is not empty; pass a new folder")
    num_layers = layer_count(json.loads((source / "config.json").read_text()))
    sources = loop_sources(num_layers, start, end, repeat)
    model = load_causal_lm(source, what="model")
    loop_model(model, start, end, repeat)
    record = {
        "source": str(source),
        "layers": [start, end],
        "repeat": repeat,
        "num_layers": [num_layers, len(sources)],
        "sources": sources,
    }
    with atomic_path(target, directory=True) as scratch:
        model.save_pretrained(scratch)
        for path in sorted(source.iterdir()):
            if path.is_file() and path.name not in NOT_COPIED and not path.name.endswith(WEIGHT_SUFFIXES):
                shutil.copy2(path, scratch / path.name)
        write_json(record, scratch / PROVENANCE_FILE)
    return record
