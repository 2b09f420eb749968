"""Layer surgery on tiny random models of each supported family: a grown model is a consistent Hugging Face model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from primbench.model_zoo.growth import grow
from primbench.model_zoo.surgery import decoder_layers, layer_path

VOCAB = 96
SHAPE = {"vocab_size": VOCAB, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4}
# Gemma-3 mixes sliding-window and full attention; an asymmetric pattern shows whether the list follows the sources
GEMMA_TYPES = ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
FAMILIES = {
    "llama": dict(SHAPE, num_key_value_heads=2),
    "qwen2": dict(SHAPE, num_key_value_heads=2),
    "gemma3_text": dict(
        SHAPE, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, sliding_window=3, layer_types=GEMMA_TYPES
    ),
    "gpt2": {"vocab_size": VOCAB, "n_embd": 32, "n_head": 4, "n_positions": 64},
    "gpt_neox": dict(SHAPE),
}
# MIDAS on 2 blocks of 2: copy block 1 (layers 0 and 1) and insert the copy right after it
SOURCES = [0, 1, 0, 1, 2, 3]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(model_type: str):
    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, num_hidden_layers=4, **FAMILIES[model_type])
    config.tie_word_embeddings = False
    return AutoModelForCausalLM.from_config(config).eval()


def argmax_decode(model, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy decoding without any cache: the whole sequence through the model for every token."""
    ids = prompt
    with torch.no_grad():
        for _ in range(new_tokens):
            ids = torch.cat([ids, model(ids, use_cache=False).logits[:, -1:].argmax(-1)], dim=1)
    return ids


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_grown_model_saves_loads_and_decodes_consistently(tmp_path, model_type):
    model = tiny_model(model_type)
    before = [{name: p.clone() for name, p in layer.named_parameters()} for layer in decoder_layers(model)]
    assert grow(model, "midas", block_size=2) == SOURCES
    layers = decoder_layers(model)
    assert len(layers) == 6
    for index, source in enumerate(SOURCES):  # every layer, moved or copied, holds its source's weights bitwise
        for name, parameter in layers[index].named_parameters():
            assert torch.equal(parameter, before[source][name]), (index, name)
    with torch.no_grad():  # make the copies differ from their sources, so a KV-cache slot mix-up would show
        for index in (2, 3):
            for parameter in layers[index].parameters():
                parameter.add_(torch.randn_like(parameter) * 0.3)
    prompt = torch.tensor([[5, 9, 17, 33, 2, 41, 7]])
    model.generation_config.pad_token_id = 0
    cached = model.generate(prompt, max_new_tokens=6, do_sample=False, use_cache=True)
    assert torch.equal(cached, argmax_decode(model, prompt, 6))

    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved.get("num_hidden_layers", saved.get("n_layer")) == 6
    if model_type == "gemma3_text":
        assert saved["layer_types"] == [GEMMA_TYPES[source] for source in SOURCES]
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert layer_path(loaded) == layer_path(model)
    with torch.no_grad():
        assert torch.equal(loaded(cached).logits, model(cached).logits)
