"""Growth operators place layers exactly; new layers' Adam state follows its source (by name and by object)."""

from __future__ import annotations

import pytest
import torch

from primbench.model_zoo import operators
from primbench.model_zoo.config import load_config
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.growth import grow, grow_optimizer, grow_optimizer_state, new_layer_names
from primbench.model_zoo.model import build_model
from primbench.model_zoo.operators import layer_sources, methods, register_operator, stacked_methods

SPECIAL = {"bos": 0, "eos": 0, "pad": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Hand-derived layer orders (labels = pre-growth layer index) for block size 2, growing from n blocks.
# gradstack: copy the top block onto the top. midas: copy block ceil(n/2) (1-indexed), insert it right after.
# solar (SOLAR depth up-scaling): two copies of the stack end to end, the first without its top ceil((2n-2)/2)
# layers, the second without its bottom floor((2n-2)/2). llama_pro (LLaMA-Pro placement): 2 equal groups, a copy of
# each group's last layer after it.
EXPECTED = {
    "solar": {
        1: [0, 1, 0, 1],
        2: [0, 1, 2, 1, 2, 3],
        3: [0, 1, 2, 3, 2, 3, 4, 5],
        4: [0, 1, 2, 3, 4, 3, 4, 5, 6, 7],
        5: [0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9],
    },
    "llama_pro": {
        1: [0, 0, 1, 1],
        2: [0, 1, 1, 2, 3, 3],
        3: [0, 1, 2, 2, 3, 4, 5, 5],
        4: [0, 1, 2, 3, 3, 4, 5, 6, 7, 7],
        5: [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9],
    },
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


def test_registry_lists_baseline_first_and_every_shipped_operator():
    assert methods() == ("baseline", "gradstack", "midas", "solar", "llama_pro")
    assert stacked_methods() == ("gradstack", "midas", "solar", "llama_pro")
    assert set(EXPECTED) == set(stacked_methods())  # every shipped operator has a hand-written test below


@pytest.mark.parametrize("method", list(EXPECTED))
def test_growth_places_layers_exactly_at_every_stage(method):
    model = _small_model(2)
    for blocks in range(1, 6):
        _mark(model)  # as if training had made each layer different
        sources = grow(model, method, block_size=2)
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
    assert layer_sources("solar", 3, 1) == [0, 1, 1, 2]  # cuts of 1 and 1
    assert layer_sources("solar", 9, 3) == [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8]  # SOLAR's 2n-2m with m = 3
    assert layer_sources("llama_pro", 6, 3) == [0, 1, 1, 2, 3, 3, 4, 5, 5]
    with pytest.raises(ConfigError, match="multiple"):
        layer_sources("midas", 5, 2)
    with pytest.raises(ConfigError, match="does not grow"):
        layer_sources("baseline", 4, 2)
    with pytest.raises(ConfigError, match="not registered; choose one of baseline, gradstack, midas"):
        layer_sources("midsa", 4, 2)


def test_an_operator_that_loses_a_layer_or_adds_the_wrong_count_is_refused(monkeypatch):
    monkeypatch.setattr(operators, "_OPERATORS", dict(operators._OPERATORS))
    register_operator("drop_top")(lambda layers, block: [0] * block + list(range(layers - 1)))
    register_operator("one_more")(lambda layers, block: [*range(layers), 0])
    with pytest.raises(ConfigError, match=r"'drop_top' returned \[0, 0, 0, 1, 2\] .* keep every layer"):
        layer_sources("drop_top", 4, 2)
    with pytest.raises(ConfigError, match="'one_more' returned .* must list 6 indices"):
        layer_sources("one_more", 4, 2)
    with pytest.raises(ConfigError, match="registered twice"):
        register_operator("midas")(lambda layers, block: [])


@pytest.mark.parametrize("method", ["gradstack", "midas"])
def test_grown_model_generates_the_same_with_and_without_kv_cache(method):
    # The KV cache is indexed by self_attn.layer_idx: wrong numbering after an insertion changes the output.
    model = _small_model(2)
    for _ in range(2):
        grow(model, method, block_size=2)
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
    assert new_layer_names(new_names, sources, "model.layers.") == {
        "model.layers.2.mlp.up_proj.weight",
        "model.layers.3.mlp.up_proj.weight",
    }
    copied = grow_optimizer_state(state, new_names, sources, "copy", "model.layers.")
    assert [copied[f"model.layers.{i}.mlp.up_proj.weight"]["exp_avg"][0].item() for i in range(6)] == [0, 1, 0, 1, 2, 3]
    assert copied["model.embed_tokens.weight"]["exp_avg_sq"][0].item() == -0.5
    assert (
        copied["model.layers.2.mlp.up_proj.weight"]["exp_avg"]
        is not state["model.layers.0.mlp.up_proj.weight"]["exp_avg"]
    )
    zeroed = grow_optimizer_state(state, new_names, sources, "zero", "model.layers.")
    values = [zeroed[f"model.layers.{i}.mlp.up_proj.weight"]["exp_avg_sq"][0].item() for i in range(6)]
    assert values == [0.5, 1.5, 0.0, 0.0, 2.5, 3.5]  # only the new copies start from zero moments
    assert all(zeroed[n]["step"].item() == 7.0 for n in new_names)


@pytest.mark.parametrize("mode", ["copy", "zero"])
def test_grow_optimizer_adds_new_parameters_to_their_source_group_with_its_state(mode):
    model = _small_model(4)
    parameters = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=1e-2,
    )
    model(torch.tensor([[3, 4, 5, 6]]), labels=torch.tensor([[3, 4, 5, 6]])).loss.backward()
    optimizer.step()  # three steps, so the moments and step count are not the initial ones
    optimizer.step()
    optimizer.step()
    sources = grow(model, "midas", block_size=2)  # [0, 1, 0, 1, 2, 3]: layers 2 and 3 are copies of 0 and 1
    added = grow_optimizer(optimizer, model, sources, mode)
    layers = model.model.layers
    assert added == [*layers[2].parameters(), *layers[3].parameters()]
    # each group lists its parameters in model order, as a fresh optimizer over the grown model would
    for group, keep in zip(optimizer.param_groups, (lambda p: p.dim() >= 2, lambda p: p.dim() < 2), strict=True):
        assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters() if keep(p)]
    for new, old in zip(layers[2].parameters(), layers[0].parameters(), strict=True):
        new_state, old_state = optimizer.state[new], optimizer.state[old]
        assert new_state["step"].item() == old_state["step"].item() == 3.0
        assert new_state["exp_avg"] is not old_state["exp_avg"]
        if mode == "copy":
            assert torch.equal(new_state["exp_avg"], old_state["exp_avg"])
            assert torch.equal(new_state["exp_avg_sq"], old_state["exp_avg_sq"])
        else:
            assert not new_state["exp_avg"].any() and not new_state["exp_avg_sq"].any()
    optimizer.zero_grad()
    model(torch.tensor([[3, 4, 5, 6]]), labels=torch.tensor([[3, 4, 5, 6]])).loss.backward()
    optimizer.step()  # the grown optimizer steps over every parameter
    assert all(optimizer.state[p]["step"].item() == 4.0 for p in model.parameters())
