"""`primbench loop`: a decoder that runs a block of its layers several times, saved as a plain HF folder."""

import json

import pytest
import torch
from click.testing import CliRunner
from test_eval_hf import build_tiny_llama
from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

from primbench.harness.analysis.loop import loop_model, loop_sources, write_looped
from primbench.harness.cli import main
from primbench.harness.errors import HarnessError

SHAPE = dict(
    vocab_size=64,
    hidden_size=16,
    intermediate_size=32,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=8,
    max_position_embeddings=64,
)
TOKENS = torch.tensor([[3, 17, 42, 5, 9, 11, 60, 2]])


def random_folder(folder, config):
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder


def logits(folder):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(TOKENS).logits


def layer_weights(model):
    return [{name: p.detach().clone() for name, p in layer.named_parameters()} for layer in model.model.layers]


def test_sources_repeat_the_block_in_place():
    assert loop_sources(6, 2, 4, 2) == [0, 1, 2, 3, 2, 3, 4, 5]
    assert loop_sources(6, 2, 4, 1) == [0, 1, 2, 3, 4, 5]
    assert loop_sources(4, 0, 4, 3) == [0, 1, 2, 3] * 3
    assert loop_sources(5, 4, 5, 3) == [0, 1, 2, 3, 4, 4, 4]


@pytest.mark.parametrize("start, end, repeat", [(2, 7, 2), (-1, 2, 2), (3, 3, 2), (4, 2, 2), (0, 2, 0)])
def test_bad_ranges_are_refused(start, end, repeat):
    with pytest.raises(HarnessError, match="--layers|--repeat"):
        loop_sources(6, start, end, repeat)


def test_repeat_one_gives_bitwise_identical_logits(tmp_path):
    original = build_tiny_llama(tmp_path / "tiny")
    write_looped(original, 0, 2, 1, tmp_path / "looped")
    assert torch.equal(logits(original), logits(tmp_path / "looped"))
    # the tokenizer travels unchanged
    assert (tmp_path / "looped" / "tokenizer.json").read_bytes() == (original / "tokenizer.json").read_bytes()


def test_repeat_two_of_layers_2_4_of_six_gives_eight_layers_with_4_5_equal_to_2_3(tmp_path):
    original = random_folder(tmp_path / "six", LlamaConfig(num_hidden_layers=6, **SHAPE))
    record = write_looped(original, 2, 4, 2, tmp_path / "looped")
    assert record["sources"] == [0, 1, 2, 3, 2, 3, 4, 5]
    before = layer_weights(AutoModelForCausalLM.from_pretrained(original))
    looped = AutoModelForCausalLM.from_pretrained(tmp_path / "looped")
    after = layer_weights(looped)
    assert looped.config.num_hidden_layers == 8 and len(after) == 8
    for index, source in enumerate([0, 1, 2, 3, 2, 3, 4, 5]):
        assert after[index].keys() == before[source].keys()
        assert all(torch.equal(after[index][name], before[source][name]) for name in before[source]), index
    assert [layer.self_attn.layer_idx for layer in looped.model.layers] == list(range(8))
    assert json.loads((tmp_path / "looped" / "loop.json").read_text())["repeat"] == 2


def independent_forward(model, order):
    """Embed, run the decoder layers of `model` in `order` by hand, norm, head: what a loop should compute."""
    with torch.no_grad():
        hidden = model.model.embed_tokens(TOKENS)
        positions = torch.arange(TOKENS.shape[1])[None]
        mask = torch.full((TOKENS.shape[1],) * 2, float("-inf")).triu(1)[None, None]
        rotary = model.model.rotary_emb(hidden, positions)
        for index in order:
            hidden = model.model.layers[index](
                hidden, attention_mask=mask, position_ids=positions, position_embeddings=rotary
            )
        return model.lm_head(model.model.norm(hidden))


def test_a_looped_llama_computes_the_layers_in_the_new_order(tmp_path):
    original = random_folder(tmp_path / "six", LlamaConfig(num_hidden_layers=4, **SHAPE))
    write_looped(original, 1, 3, 3, tmp_path / "looped")
    expected = independent_forward(AutoModelForCausalLM.from_pretrained(original).eval(), [0, 1, 2, 1, 2, 1, 2, 3])
    assert torch.allclose(logits(tmp_path / "looped"), expected, atol=1e-5)


@pytest.mark.parametrize("config_class", [Qwen2Config, Gemma3TextConfig])
def test_per_layer_config_lists_follow_the_copied_layers(tmp_path, config_class):
    config = config_class(num_hidden_layers=6, **SHAPE)
    if config_class is Gemma3TextConfig:  # every third layer global, so the copies must mix both kinds
        config.layer_types = ["sliding_attention", "sliding_attention", "full_attention"] * 2
        config.sliding_window = 4
    original = random_folder(tmp_path / "orig", config)
    layer_types = AutoModelForCausalLM.from_pretrained(original).config.layer_types
    write_looped(original, 1, 4, 2, tmp_path / "looped")
    looped = AutoModelForCausalLM.from_pretrained(tmp_path / "looped")
    sources = [0, 1, 2, 3, 1, 2, 3, 4, 5]
    assert looped.config.num_hidden_layers == 9
    assert looped.config.layer_types == [layer_types[source] for source in sources]
    assert [layer.self_attn.layer_idx for layer in looped.model.layers] == list(range(9))
    reference = AutoModelForCausalLM.from_pretrained(original).eval()
    loop_model(reference, 1, 4, 2)  # the in-memory loop and the saved folder agree
    with torch.no_grad():
        assert torch.equal(reference(TOKENS).logits, logits(tmp_path / "looped"))


def run_loop(*args):
    return CliRunner().invoke(main, ["loop", *map(str, args)])


def test_cli_writes_the_folder_and_prints_the_order(tmp_path):
    original = random_folder(tmp_path / "six", LlamaConfig(num_hidden_layers=6, **SHAPE))
    result = run_loop(original, "--layers", "2:4", "--repeat", "2", "--out", tmp_path / "looped")
    assert result.exit_code == 0, result.output
    assert "6 layers -> 8" in result.output and "0 1 2 3 2 3 4 5" in result.output
    assert sorted(path.name for path in (tmp_path / "looped").iterdir()) == [
        "config.json",
        "generation_config.json",
        "loop.json",
        "model.safetensors",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "2:9"], "outside the model's 6 layers"),
        (["--layers", "two"], "is not START:END"),
        (["--layers", "10:5"], "--layers 10:5: START must be below END (END is exclusive)"),
        (["--layers", "2:4", "--repeat", "0"], "--repeat must be 1 or more"),
    ],
)
def test_cli_refuses_bad_ranges_with_one_line_before_loading(tmp_path, monkeypatch, args, message):
    original = random_folder(tmp_path / "six", LlamaConfig(num_hidden_layers=6, **SHAPE))
    monkeypatch.setattr("primbench.harness.evaluation.models.load_causal_lm", pytest.fail)
    result = run_loop(original, *args, "--out", tmp_path / "looped")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not (tmp_path / "looped").exists()


def test_cli_refuses_an_existing_out_folder_and_a_missing_model(tmp_path):
    original = random_folder(tmp_path / "six", LlamaConfig(num_hidden_layers=6, **SHAPE))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert "already exists" in run_loop(original, "--layers", "2:4", "--out", tmp_path / "taken").output
    result = run_loop(tmp_path / "nowhere", "--layers", "2:4", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "does not exist" in result.output
