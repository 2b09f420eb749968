"""The fine-tuned protocol: the mixture, the loss mask, determinism, a real accuracy lift, and the command."""

import json
import statistics

import pytest
import torch
from click.testing import CliRunner
from transformers import LlamaConfig, LlamaForCausalLM

from primbench.harness.cli import main
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.evaluate import score_tasks
from primbench.harness.evaluation.finetune import (
    IGNORE_INDEX,
    FinetuneConfig,
    encode_example,
    finetune,
    fitted,
    tune_copy,
)
from primbench.model_zoo.tokenizer import train_tokenizer
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.registry import PAPER_SUITE, build_dataset
from primbench.tasks.data import DEFAULT_SEED
from primbench.tasks.selection import chance_level, training_mixture

EASY_TASK = "prim_induction_copy_digits"


@pytest.fixture(scope="module")
def tokenizer():
    """A byte-level BPE trained offline on primitive prompts (seed 99, never the evaluation seed's items)."""
    texts = []
    for preset in [*PAPER_SUITE, "induction_copy_digits"]:
        texts += [f"{r['prompt']} {r['answer']}\n" for r in build_dataset(preset, 99).records("train", 20)]
    return train_tokenizer(texts, vocab_size=400, model_max_length=512)


def random_model(tokenizer, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def test_the_loss_sees_only_the_answer_and_its_stop(tokenizer):
    record = next(build_dataset("variable_assignment_d0_math", DEFAULT_SEED).records("train", 1))
    ids, labels = encode_example(record, tokenizer)
    assert len(ids) == len(labels)
    answer_positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert answer_positions == list(range(answer_positions[0], len(ids)))  # one tail, nothing in the prompt
    assert tokenizer.decode([ids[i] for i in answer_positions]) == " " + record["answer"] + "\n"
    assert tokenizer.decode(ids[: answer_positions[0]]) == record["prompt"]
    assert [labels[i] for i in answer_positions] == [ids[i] for i in answer_positions]


def test_the_mixture_spreads_examples_and_never_touches_the_test_split():
    presets = list(PAPER_SUITE)
    first, second = training_mixture(presets, 64, seed=0), training_mixture(presets, 64, seed=1)
    assert len(first) == 64
    assert [r["preset"] for r in first] == [p for p in presets for _ in range(64 // len(presets))]
    assert {r["split"] for r in first + second} == {"train"}
    unbounded = [r["id"] for r in first if r["preset"] != "arithmetic_psm"]
    assert not set(unbounded) & {r["id"] for r in second}, "each seed reads its own window"
    assert min(r["index"] for r in first if r["preset"] != "arithmetic_psm") >= 100, "after the few-shot pool"
    psm = build_dataset("arithmetic_psm", DEFAULT_SEED)
    test_prompts = {r["prompt"] for r in psm.records("test", psm.capacity("test"))}
    assert not test_prompts & {r["prompt"] for r in first if r["preset"] == "arithmetic_psm"}
    uneven = training_mixture(["arithmetic_psm", "induction_copy_digits", "variable_assignment_d0_math"], 10, 0)
    assert [r["preset"] for r in uneven].count("arithmetic_psm") == 4  # 10 = 4 + 3 + 3


def test_the_mixture_needs_one_example_per_task():
    with pytest.raises(PrimitiveError, match="--n-train 2 is smaller than the 3 tasks"):
        training_mixture(["arithmetic_psm", "induction_copy_digits", "variable_assignment_d0_math"], 2, 0)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"steps": 0}, "--steps must be at least 1"),
        ({"lr": 0.0}, "--lr must be positive"),
        ({"seeds": ()}, "--seeds must name at least one seed"),
        ({"seeds": (1, 1)}, "--seeds repeats a seed"),
        ({"limit": 0}, "--limit must be at least 1"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(HarnessError, match=message):
        FinetuneConfig(**settings).validate()


def test_tuning_is_deterministic_per_seed_and_leaves_the_original_alone(tokenizer):
    model = random_model(tokenizer)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    records = training_mixture(["induction_copy_digits"], 16, seed=0)
    config = FinetuneConfig(steps=6, batch_size=4)
    first, again = tune_copy(model, tokenizer, records, config, seed=0), tune_copy(model, tokenizer, records, config, 0)
    other = tune_copy(model, tokenizer, records, config, seed=1)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name])
        assert torch.equal(first.state_dict()[name], again.state_dict()[name])
    assert any(not torch.equal(first.state_dict()[n], other.state_dict()[n]) for n in before)
    assert any(not torch.equal(first.state_dict()[n], before[n]) for n in before)


@pytest.mark.slow
def test_fine_tuning_lifts_a_random_model_above_its_start_and_above_chance(tokenizer):
    """Copying digits is learnable from 64 examples by a 2-layer model; from random weights it starts at zero.

    150 steps and 200 scored items (~25 s idle, ~100 s on shared cores). The default run's version of "tuning
    learns" is the fitted-accuracy test below: the tuned copy reproduces its examples, the random start none."""
    model = random_model(tokenizer)
    start = score_tasks(model, tokenizer, [EASY_TASK], shots=0, limit=100)[EASY_TASK]["accuracy"]
    config = FinetuneConfig(n_train=64, seeds=(0,), steps=150, lr=3e-3, limit=100)
    cell = finetune(model, tokenizer, [EASY_TASK], config, progress=False).tasks[EASY_TASK]
    chance = chance_level(EASY_TASK, 100)
    assert start == 0.0
    assert 0.1 <= chance <= 0.2
    assert cell["mean"] >= 0.3, cell  # measured 0.58: more than twice the chance level, far from the start
    assert cell["per_seed"] == [cell["mean"]] and cell["std"] is None and cell["n"] == 100


def _greedy_continues_with_the_answer(model, tokenizer, record) -> bool:
    """Independent of `fitted`: generate as many tokens as the answer has, greedily, and compare the text."""
    prompt = tokenizer.encode(record["prompt"], add_special_tokens=False)
    answer = tokenizer.encode(record["prompt"] + " " + record["answer"], add_special_tokens=False)[len(prompt) :]
    out = model.generate(torch.tensor([prompt]), max_new_tokens=len(answer), do_sample=False, pad_token_id=0)
    return out[0, len(prompt) :].tolist() == answer


# (examples, steps, lr, batch size) that fit the examples exactly: 2 examples fast, 8 in the slow run
FITTING = [(2, 15, 2e-2, 2), pytest.param(8, 80, 3e-3, 4, marks=pytest.mark.slow)]


@pytest.mark.parametrize("examples, steps, lr, batch_size", FITTING)
def test_fitted_accuracy_is_greedy_decoding_of_the_training_answers(tokenizer, examples, steps, lr, batch_size):
    """A copy tuned long on a few examples reproduces them; the random start reproduces none; both agree with
    generate."""
    model = random_model(tokenizer)
    records = training_mixture(["induction_copy_digits"], examples, seed=0)
    config = FinetuneConfig(steps=steps, lr=lr, batch_size=batch_size)
    tuned = tune_copy(model, tokenizer, records, config, seed=0)
    for candidate, expected in ((model, 0.0), (tuned, 1.0)):
        right = fitted(candidate, tokenizer, records)
        assert right == [_greedy_continues_with_the_answer(candidate, tokenizer, r) for r in records]
        assert sum(right) / len(right) == expected


def test_one_seed_reports_its_fit_beside_test_accuracy_and_no_spread(tokenizer):
    config = FinetuneConfig(n_train=2, seeds=(0,), steps=15, lr=2e-2, batch_size=2, limit=5)
    result = finetune(random_model(tokenizer), tokenizer, [EASY_TASK], config, progress=False).to_dict()
    cell = result["tasks"][EASY_TASK]
    assert cell["fit_per_seed"] == [1.0] and cell["fit"] == 1.0 and result["fit"] == 1.0
    assert cell["std"] is None and cell["per_seed"] == [cell["mean"]]
    assert len(cell["items"]) == 5 and statistics.fmean(cell["items"]) == pytest.approx(cell["mean"])


@pytest.mark.slow
def test_the_result_reports_the_fit_beside_test_accuracy(tokenizer):
    """Two seeds of 80 steps (~65 s on shared cores); the one-seed test above is the default run's version."""
    config = FinetuneConfig(n_train=8, seeds=(0, 1), steps=80, lr=3e-3, batch_size=4, limit=10)
    result = finetune(random_model(tokenizer), tokenizer, [EASY_TASK], config, progress=False).to_dict()
    cell = result["tasks"][EASY_TASK]
    assert cell["fit_per_seed"] == [1.0, 1.0] and cell["fit"] == 1.0 and result["fit"] == 1.0
    assert cell["std"] == pytest.approx(statistics.stdev(cell["per_seed"]))
    assert len(cell["items"]) == 10 and statistics.fmean(cell["items"]) == pytest.approx(cell["mean"])


def test_the_command_with_one_seed_prints_accuracy_and_fit_without_a_spread(tmp_path, tokenizer):
    random_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    arguments = ["finetune", str(tmp_path / "model"), "--tasks", EASY_TASK, "--n-train", "2", "--seeds", "1"]
    result = CliRunner().invoke(main, [*arguments, "--steps", "2", "--limit", "3", "--out", str(tmp_path / "ft")])
    assert result.exit_code == 0, result.output
    cell = json.loads((tmp_path / "ft" / "finetune.json").read_text())["tasks"][EASY_TASK]
    assert cell["std"] is None and len(cell["per_seed"]) == 1 and cell["n"] == 3
    table = f"{'task':<{len(EASY_TASK)}}  accuracy  fit\n{EASY_TASK}  {cell['mean']:.3f}     {cell['fit']:.3f}\n"
    assert table in result.output, result.output
    assert "std" not in result.output


@pytest.mark.slow
def test_the_command_writes_per_seed_scores_and_their_mean(tmp_path, tokenizer):
    random_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    result = CliRunner().invoke(
        main,
        [
            "finetune",
            str(tmp_path / "model"),
            "--tasks",
            EASY_TASK,
            "--n-train",
            "8",
            "--seeds",
            "2",
            "--steps",
            "3",
            "--limit",
            "10",
            "--out",
            str(tmp_path / "ft"),
        ],
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    cell = saved["tasks"][EASY_TASK]
    assert len(cell["per_seed"]) == 2 and cell["n"] == 10
    assert cell["mean"] == pytest.approx(statistics.fmean(cell["per_seed"]))
    assert saved["settings"]["seeds"] == [0, 1] and saved["settings"]["n_train"] == 8
    assert f"{EASY_TASK}  {cell['mean']:.3f}" in result.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{missing}"], "does not exist"),
        (["{model}", "--tasks", "prim_no_such_task"], "unknown task or group 'prim_no_such_task'"),
        (["{model}", "--seeds", "0"], "--seeds must be at least 1"),
        (
            ["{model}", "--tasks", "prim_arithmetic_psm,prim_induction_copy_digits", "--n-train", "1"],
            "--n-train 1 is smaller than the 2 tasks",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, tokenizer, arguments, message):
    random_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    filled = [a.format(model=tmp_path / "model", missing=tmp_path / "nothing") for a in arguments]
    result = CliRunner().invoke(
        main, ["finetune", *filled, "--steps", "1", "--limit", "2", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert not (tmp_path / "o").exists()
