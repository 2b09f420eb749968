"""Growth operators place layers exactly; new layers' Adam state follows its source."""

from __future__ import annotations

import pytest
import torch

from primbench.model_zoo.config import load_config
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.growth import grow_model, grow_optimizer_state, layer_sources, new_layer_names
from primbench.model_zoo.model import build_model

SPECIAL = {"bos": 0, "eos": 0, "pad": 1}

# Hand-derived layer orders (labels = pre-growth layer index) for block size 2, growing from n blocks.
# gradstack: copy the top block onto the top. midas: copy block ceil(n/2) (1-indexed), insert it right after.
EXPECTED = {
    "gradstack": {
        1: [0, 1, 0, 1],
        2: [0, 1, 2, 3, 2, 3],
        3: [0, 1, 2, 3, 4, 5, 4, 5],
        4: [0, 1, 2, 3, 4, 5, 6, 7, 6, 7],
        5: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 9],
    },
    "midas": {
        1: [0, 1, 0, 1],
        2: [0, 1, 0, 1, 2, 3],
        3: [0, 1, 2, 3, 2, 3, 4, 5],
        4: [0, 1, 2, 3, 2, 3, 4, 5, 6, 7],
        5: [0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9],
    },
}


def _small_model(layers: int):
    config = load_config(
        None,
        [
            "model.vocab_size=300",
            "model.hidden_size=32",
            "model.intermediate_size=48",
            "model.num_attention_heads=4",
            "model.num_key_value_heads=2",
            "data.seq_len=16",
        ],
    )
    torch.manual_seed(0)
    return build_model(config, layers, SPECIAL)


def _mark(model) -> None:
    """Fill every weight of layer i with the value i, so a layer's origin can be read off its weights."""
    with torch.no_grad():
        for index, layer in enumerate(model.model.layers):
            for parameter in layer.parameters():
                parameter.fill_(float(index))


def _labels(model) -> list[int]:
    labels = []
    for layer in model.model.layers:
        values = {p.flatten()[0].item() for p in layer.parameters()} | {
            p.flatten()[-1].item() for p in layer.parameters()
        }
        assert len(values) == 1, "a layer mixes weights from different sources"
        labels.append(int(values.pop()))
    return labels


@pytest.mark.parametrize("method", ["gradstack", "midas"])
def test_growth_places_layers_exactly_at_every_stage(method):
    model = _small_model(2)
    for blocks in range(1, 6):
        _mark(model)  # as if training had made each layer different
        sources = grow_model(model, method, block_size=2)
        assert _labels(model) == EXPECTED[method][blocks]
        assert sources == EXPECTED[method][blocks]
        assert model.config.num_hidden_layers == 2 * (blocks + 1)
        assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(2 * (blocks + 1)))
        # copies are new tensors: no parameter object appears twice
        ids = [id(p) for p in model.parameters()]
        assert len(ids) == len(set(ids))


def test_layer_sources_for_block_of_one_and_three():
    assert layer_sources("midas", 3, 1) == [0, 1, 1, 2]  # n=3, middle block 2
    assert layer_sources("midas", 4, 1) == [0, 1, 1, 2, 3]  # n=4, middle block 2
    assert layer_sources("gradstack", 3, 1) == [0, 1, 2, 2]
    assert layer_sources("midas", 9, 3) == [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8]
    with pytest.raises(ConfigError, match="multiple"):
        layer_sources("midas", 5, 2)
    with pytest.raises(ConfigError, match="does not grow"):
        layer_sources("baseline", 4, 2)


@pytest.mark.parametrize("method", ["gradstack", "midas"])
def test_grown_model_generates_the_same_with_and_without_kv_cache(method):
    # The KV cache is indexed by self_attn.layer_idx: wrong numbering after an insertion changes the output.
    model = _small_model(2)
    for _ in range(2):
        grow_model(model, method, block_size=2)
        with torch.no_grad():
            for layer in model.model.layers:  # make copies differ, so a mixed-up cache would show
                layer.mlp.up_proj.weight.add_(torch.randn_like(layer.mlp.up_proj.weight) * 0.5)
    model.eval()
    prompt = torch.tensor([[5, 9, 17, 33, 2]])
    cached = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=True)
    uncached = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)
    assert model(prompt).logits.shape == (1, 5, 300)


def _adam_state(names, value_of):
    return {
        n: {
            "step": torch.tensor(7.0),
            "exp_avg": torch.full((2,), value_of(n)),
            "exp_avg_sq": torch.full((2,), value_of(n) + 0.5),
        }
        for n in names
    }


def _layer_value(name: str) -> float:
    parts = name.split(".")
    return float(parts[2]) if parts[1] == "layers" else -1.0


def test_optimizer_state_follows_moved_and_copied_layers():
    old_names = [f"model.layers.{i}.mlp.up_proj.weight" for i in range(4)] + ["model.embed_tokens.weight"]
    state = _adam_state(old_names, _layer_value)
    sources = layer_sources("midas", 4, 2)  # n=2 blocks: the copy of block 1 goes right after it
    assert sources == [0, 1, 0, 1, 2, 3]
    new_names = [f"model.layers.{i}.mlp.up_proj.weight" for i in range(6)] + ["model.embed_tokens.weight"]
    assert new_layer_names(new_names, sources) == {
        "model.layers.2.mlp.up_proj.weight",
        "model.layers.3.mlp.up_proj.weight",
    }
    copied = grow_optimizer_state(state, new_names, sources, "copy")
    assert [copied[f"model.layers.{i}.mlp.up_proj.weight"]["exp_avg"][0].item() for i in range(6)] == [0, 1, 0, 1, 2, 3]
    assert copied["model.embed_tokens.weight"]["exp_avg_sq"][0].item() == -0.5
    assert (
        copied["model.layers.2.mlp.up_proj.weight"]["exp_avg"]
        is not state["model.layers.0.mlp.up_proj.weight"]["exp_avg"]
    )
    zeroed = grow_optimizer_state(state, new_names, sources, "zero")
    values = [zeroed[f"model.layers.{i}.mlp.up_proj.weight"]["exp_avg_sq"][0].item() for i in range(6)]
    assert values == [0.5, 1.5, 0.0, 0.0, 2.5, 3.5]  # only the new copies start from zero moments
    assert all(zeroed[n]["step"].item() == 7.0 for n in new_names)
