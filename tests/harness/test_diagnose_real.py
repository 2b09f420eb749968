"""loop, sweep, isoplot and the chat template on the real SmolLM2-135M-Instruct checkpoint of docs/offline.md."""

import csv
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from primbench.harness.cli import main

pytestmark = pytest.mark.slow  # a converted 135M checkpoint; each command here takes 10-60 s on 2 cores

TASK = "prim_variable_assignment_d0_math"
PROMPT = "The capital of France is Paris. The capital of Italy is"
README_TEXT = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")[:3000]


@pytest.fixture(scope="module")
def smollm2():
    from primbench.harness.evaluation.real_checkpoint import smollm2_folder

    return smollm2_folder()


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def prompt_logits(folder):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(**AutoTokenizer.from_pretrained(folder)(PROMPT, return_tensors="pt")).logits


def test_loop_repeat_one_is_the_model_and_repeat_two_runs_32_layers(smollm2, tmp_path):
    import torch

    assert run("loop", smollm2, "--layers", "10:12", "--repeat", "1", "--out", tmp_path / "same").exit_code == 0
    original = prompt_logits(smollm2)
    assert torch.equal(prompt_logits(tmp_path / "same"), original)
    result = run("loop", smollm2, "--layers", "10:12", "--repeat", "2", "--out", tmp_path / "looped")
    assert result.exit_code == 0 and "30 layers -> 32" in result.output, result.output
    assert (tmp_path / "looped" / "chat_template.jinja").is_file()
    looped = prompt_logits(tmp_path / "looped")
    assert torch.isfinite(looped).all() and not torch.equal(looped, original)
    assert run("loop", smollm2, "--layers", "28:31", "--out", tmp_path / "bad").exit_code == 2


def test_sweep_over_depth(smollm2, tmp_path):
    result = run(
        "sweep",
        smollm2,
        "--preset",
        TASK.removeprefix("prim_"),
        "--knob",
        "depth=0,2",
        "--shots",
        "2",
        "--limit",
        "4",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert [(row["knob"], row["value"], row["n"]) for row in rows] == [("depth", "0", "4"), ("depth", "2", "4")]
    assert all(0.0 <= float(row["accuracy"]) <= 1.0 and 0.0 < float(row["chance"]) < 1.0 for row in rows)


def test_isoplot_bits_per_byte_matches_plain_transformers(smollm2, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from primbench.harness.analysis.isoplot import bits_per_byte

    model, tokenizer = AutoModelForCausalLM.from_pretrained(smollm2).eval(), AutoTokenizer.from_pretrained(smollm2)
    ids = tokenizer(README_TEXT, return_tensors="pt", add_special_tokens=False).input_ids
    ids = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), ids], dim=1)
    with torch.no_grad():
        loss = model(ids, labels=ids).loss.item()
    reference = loss * (ids.shape[1] - 1) / math.log(2) / len(README_TEXT.encode("utf-8"))
    ours = bits_per_byte(model, tokenizer, README_TEXT)
    assert ours == pytest.approx(reference, rel=0.01)
    assert 0.3 < ours < 2.0  # English prose for a small pretrained model; a random one is near 16 bits / token
    (tmp_path / "text.txt").write_text(README_TEXT, encoding="utf-8")
    result = run(
        "isoplot",
        smollm2,
        "--text",
        tmp_path / "text.txt",
        "-t",
        TASK,
        "--shots",
        "2",
        "--limit",
        "3",
        "--out",
        tmp_path / "out",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out" / "isoplot.csv").open()))
    assert len(rows) == 1 and float(rows[0]["bits_per_byte"]) == pytest.approx(ours, rel=1e-5)


def test_eval_with_the_chat_template_and_a_system_instruction(smollm2, tmp_path):
    result = run(
        "eval",
        smollm2,
        "-t",
        f"{TASK}_gen",
        "--shots",
        "2",
        "--limit",
        "3",
        "--apply-chat-template",
        "--system-instruction",
        "Answer with the number only.",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    sample = json.loads((tmp_path / f"samples_{TASK}_gen.jsonl").read_text().splitlines()[0])
    context = sample["arguments"]["gen_args_0"]["arg_0"]
    assert context.startswith("<|im_start|>system\nAnswer with the number only.")
    assert context.count("<|im_start|>assistant") == 3
    results = json.loads((tmp_path / "results.json").read_text())["results"][f"{TASK}_gen"]
    assert "exact_match,flexible-extract" in results and "exact_match,strict-match" in results
