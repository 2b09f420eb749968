"""Block cosine similarity: exact values on constructed models, the heatmap file, and unreadable checkpoints."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

from primbench.harness.analysis.similarity import block_similarity, decoder_layers
from primbench.harness.cli import main
from primbench.harness.errors import HarnessError
from primbench.model_zoo.errors import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def random_llama(layers: int = 4, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config)


def numpy_block_vector(model, layer_indices):
    """An independent flattening: the matrices of the given layers via state_dict names, sorted per layer."""
    state = model.state_dict()
    parts = []
    for index in layer_indices:
        prefix = f"model.layers.{index}."
        for name in sorted(key for key in state if key.startswith(prefix) and state[key].dim() == 2):
            parts.append(state[name].numpy().astype(np.float64).ravel())
    return np.concatenate(parts)


def numpy_cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_copied_layer_scores_one_and_values_match_an_independent_computation():
    model = random_llama(layers=4)
    model.model.layers[2].load_state_dict(model.model.layers[1].state_dict())  # what a growth step does
    result = block_similarity(model, block_size=1)
    matrix = np.array(result.matrix)
    assert matrix.shape == (4, 4)
    assert result.num_layers == 4 and result.block_size == 1 and result.architecture == "LlamaForCausalLM"
    assert matrix[1, 2] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-6)
    np.testing.assert_array_equal(matrix, matrix.T)
    for i in range(4):
        for j in range(4):
            expected = numpy_cosine(numpy_block_vector(model, [i]), numpy_block_vector(model, [j]))
            assert matrix[i, j] == pytest.approx(expected, abs=2e-6)


def test_negated_weights_score_minus_one_and_blocks_group_consecutive_layers():
    model = random_llama(layers=4)
    with torch.no_grad():
        for target, source in zip(model.model.layers[2].parameters(), model.model.layers[0].parameters()):
            target.copy_(-source)
        for target, source in zip(model.model.layers[3].parameters(), model.model.layers[1].parameters()):
            target.copy_(-source)
    result = block_similarity(model, block_size=2)
    assert np.array(result.matrix).shape == (2, 2)
    assert result.matrix[0][1] == pytest.approx(-1.0, abs=1e-6)
    expected = numpy_cosine(numpy_block_vector(model, [0, 1]), numpy_block_vector(model, [2, 3]))
    assert result.matrix[0][1] == pytest.approx(expected, abs=2e-6)
    assert result.neighbour_mean() == pytest.approx(-1.0, abs=1e-6)


def test_norm_gains_do_not_count_so_fresh_layers_look_unrelated():
    """Every layer's RMSNorm gain starts at 1.0; counting them would make a fresh model look 50% self-similar."""
    matrix = np.array(block_similarity(random_llama(layers=4)).matrix)
    off_diagonal = matrix[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.05), matrix


def test_block_size_must_divide_the_layer_count():
    with pytest.raises(HarnessError, match="block size 3 does not divide the 4 layers"):
        block_similarity(random_llama(layers=4), block_size=3)


def test_a_model_without_a_layer_list_is_refused_with_the_supported_families():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    # found by model_zoo.surgery, whose user error is ConfigError (the CLI prints both as one line, exit 2)
    with pytest.raises(ConfigError, match="cannot find the decoder layers of Sequential"):
        decoder_layers(model)


def test_layers_of_different_shapes_cannot_be_compared():
    root = torch.nn.Module()
    root.model = torch.nn.Module()
    root.model.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 8)])
    with pytest.raises(HarnessError, match="differ in their weights"):
        block_similarity(root)


def test_cli_reads_the_block_size_from_a_growth_record(tmp_path):
    random_llama(layers=4).save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "growth.json").write_text(json.dumps({"method": "midas", "block_size": 2, "layers": 4}))
    matrix_json = tmp_path / "sim.json"
    args = ["similarity", str(tmp_path / "model"), "--out", str(tmp_path / "h.png"), "--json", str(matrix_json)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert json.loads(matrix_json.read_text())["block_size"] == 2
    assert CliRunner().invoke(main, [*args, "--block-size", "1"]).exit_code == 0  # an explicit size wins
    assert json.loads(matrix_json.read_text())["block_size"] == 1


def test_cli_writes_a_valid_heatmap_and_the_matrix(tmp_path):
    model = random_llama(layers=4)
    model.save_pretrained(tmp_path / "model")
    png, matrix_json = tmp_path / "out" / "heat.png", tmp_path / "sim.json"
    result = CliRunner().invoke(
        main,
        ["similarity", str(tmp_path / "model"), "--block-size", "2", "--out", str(png), "--json", str(matrix_json)],
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.size == (480, 420)  # 4.8 x 4.2 inches at 100 dpi
    saved = json.loads(matrix_json.read_text())
    assert saved["block_size"] == 2 and len(saved["matrix"]) == 2
    assert saved["matrix"] == block_similarity(model, block_size=2).matrix
    assert f"heatmap: {png}" in result.output
    assert not [p for p in png.parent.iterdir() if p.name.startswith(".")], "no temporary file left behind"


@pytest.mark.parametrize(
    "make_folder, message",
    [
        (
            lambda folder: T5ForConditionalGeneration(
                T5Config(num_layers=2, d_model=8, d_ff=16, num_heads=2, d_kv=4, vocab_size=32)
            ).save_pretrained(folder),
            "it is not a causal (decoder) language model",
        ),
        (
            lambda folder: (
                (folder / "config.json").write_text('{"model_type": "no-such-architecture"}'),
                save_file({"weight": torch.zeros(1)}, folder / "model.safetensors"),
            ),
            "does not know its architecture",
        ),
        (lambda folder: None, "has no config.json, so it is not a Hugging Face model folder"),  # eval's checks
        (lambda folder: LlamaConfig(num_hidden_layers=2).save_pretrained(folder), "holds no weights"),
    ],
)
def test_cli_refuses_unreadable_checkpoints_with_one_line(tmp_path, make_folder, message):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    make_folder(folder)
    result = CliRunner().invoke(main, ["similarity", str(folder), "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert not (tmp_path / "x.png").exists()
