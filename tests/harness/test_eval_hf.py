"""A tiny random Llama end to end: `primbench eval`, the plain `lm_eval` CLI, an in-memory model, bad input."""

import contextlib
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from primbench.harness.cli import main
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.evaluate import evaluate
from primbench.primitives.registry import build_dataset

TASKS = ["prim_variable_assignment_d0_math", "prim_variable_assignment_d0_math_gen"]
METADATA = {"n": 4, "n_train": 6}
EOS = "<|endoftext|>"


def build_tiny_llama(folder: Path, with_eos: bool = True) -> Path:
    """A 2-layer random Llama with a byte-level BPE trained on primitive prompts (offline, about a second)."""
    texts = [
        f"{r['prompt']} {r['answer']}"
        for preset in ("variable_assignment_d0_math", "arithmetic_psm")
        for r in build_dataset(preset, 0).records("train", 20)
    ]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, **({"eos_token": EOS} if with_eos else {}))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=None,
        eos_token_id=bpe.token_to_id(EOS),
        pad_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def run_eval(*args: str):
    return CliRunner().invoke(main, ["eval", *args])


def test_primbench_eval_writes_lm_eval_results_samples_and_tables(tiny_model, tmp_path):
    out = tmp_path / "out"
    result = run_eval(
        str(tiny_model),
        "-t",
        ",".join(TASKS),
        "--shots",
        "2",
        "--limit",
        "3",
        "--batch-size",
        "2",
        "--metadata",
        json.dumps(METADATA),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "| prim_variable_assignment_d0_math | task | loglikelihood | 3 |" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["results.json", "scores.csv", "scores.md", *(f"samples_{task}.jsonl" for task in TASKS)]
    )
    raw = json.loads((out / "results.json").read_text())
    rows = {row["name"]: row for row in csv.DictReader((out / "scores.csv").open())}
    assert float(rows[TASKS[0]]["accuracy"]) == raw["results"][TASKS[0]]["acc,none"]
    assert float(rows[TASKS[1]]["accuracy"]) == raw["results"][TASKS[1]]["exact_match,strict-match"]
    accuracy = float(rows[TASKS[0]]["accuracy"])
    assert float(rows[TASKS[0]]["stderr"]) == pytest.approx((accuracy * (1 - accuracy) / 2) ** 0.5)
    assert raw["n-shot"][TASKS[0]] == 2 and rows[TASKS[1]]["n"] == "3"
    samples = [json.loads(line) for line in (out / f"samples_{TASKS[1]}.jsonl").read_text().splitlines()]
    assert len(samples) == 6  # three items, two filter pipelines
    assert {s["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] for s in samples} == {4}
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow  # a fresh lm_eval process spends ~20 s importing before it evaluates anything
def test_plain_lm_eval_cli_with_include_path_agrees_with_evaluate(tiny_model, tmp_path):
    tasks_path = subprocess.run(
        [sys.executable, "-m", "primbench.harness.cli", "tasks-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lm_eval = Path(sys.executable).with_name("lm_eval")
    command = [
        str(lm_eval),
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_model}",
        "--include_path",
        tasks_path,
        "--tasks",
        ",".join(TASKS),
        "--num_fewshot",
        "2",
        "--limit",
        "3",
        "--device",
        "cpu",
        "--batch_size",
        "2",
        "--metadata",
        json.dumps(METADATA),
        "--output_path",
        str(tmp_path),
        "--log_samples",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    raw = json.loads(next(tmp_path.glob("**/results_*.json")).read_text())["results"]
    ours = evaluate(str(tiny_model), tasks=TASKS, shots=2, limit=3, batch_size=2, metadata=METADATA, quiet=True)
    assert raw[TASKS[0]]["acc,none"] == ours.accuracy(TASKS[0])
    assert raw[TASKS[1]]["exact_match,strict-match"] == ours.accuracy(TASKS[1])
    # with every accuracy 0 for a random model, the per-item outputs are what shows the two paths agree
    for task in TASKS:
        theirs = [json.loads(line) for line in next(tmp_path.glob(f"**/samples_{task}_20*.jsonl")).open()]
        mine = ours.samples[task]
        assert [s["arguments"]["gen_args_0"]["arg_0"] for s in theirs] == [s["arguments"][0][0] for s in mine]
        if task.endswith("_gen"):
            assert [s["resps"] for s in theirs] == [s["resps"] for s in mine]
        else:  # lm-eval saves (loglikelihood, is_greedy) as strings
            assert [float(s["resps"][0][0][0]) for s in theirs] == pytest.approx([s["resps"][0][0][0] for s in mine])


@contextlib.contextmanager
def tokenizer_reads(monkeypatch):
    """The folders `AutoTokenizer.from_pretrained` reads inside the block (ours and lm-eval's calls alike)."""
    reads, load = [], AutoTokenizer.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        reads.append(str(args[0] if args else kwargs.get("pretrained_model_name_or_path")))
        return load(cls, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(AutoTokenizer, "from_pretrained", classmethod(counting))
        yield reads


def test_an_in_memory_model_scores_like_its_folder_which_reads_its_tokenizer_once(tiny_model, monkeypatch):
    with tokenizer_reads(monkeypatch) as reads:
        from_folder = evaluate(str(tiny_model), tasks=TASKS, shots=1, limit=2, metadata=METADATA, quiet=True)
    assert reads == [str(tiny_model)]  # the checks and lm-eval's backend share one tokenizer
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    in_memory = evaluate(model, tokenizer=tokenizer, tasks=TASKS, shots=1, limit=2, metadata=METADATA, quiet=True)
    assert in_memory.scores == from_folder.scores
    responses = [[s["resps"] for s in result.samples[TASKS[1]]] for result in (from_folder, in_memory)]
    assert responses[0] == responses[1]


def _copy_with(tiny_model: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    change(folder)
    return folder


BAD_FOLDERS = {
    "missing": (lambda f: shutil.rmtree(f), "does not exist"),
    "no config": (lambda f: (f / "config.json").unlink(), "has no config.json"),
    "corrupt config": (lambda f: (f / "config.json").write_text("{not json"), "config.json is corrupt"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "holds no weights"),
    "truncated weights": (
        lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
        "its weights file is truncated or corrupt",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_bad_model_folder_is_one_line_and_exit_2(tiny_model, tmp_path, case):
    change, message = BAD_FOLDERS[case]
    folder = _copy_with(tiny_model, tmp_path, change)
    result = run_eval(str(folder), "-t", TASKS[0], "--limit", "1", "--metadata", json.dumps(METADATA))
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_tokenizer_without_eos_is_refused(tmp_path):
    folder = build_tiny_llama(tmp_path / "no-eos", with_eos=False)
    result = run_eval(str(folder), "-t", TASKS[0], "--limit", "1", "--metadata", json.dumps(METADATA))
    assert result.exit_code == 2
    assert result.output.startswith("error: the tokenizer of") and "no eos_token" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["-t", "prim_variable_asignment_d0_math"], "did you mean prim_variable_assignment_d0_math"),
        (["-t", TASKS[0], "--shots", "7"], "--shots 7 is more than the 6 train items"),
        (["-t", TASKS[0], "--batch-size", "zero"], "--batch-size must be `auto` or a whole number"),
        (["-t", TASKS[0], "--metadata", '{"n": 4'], "--metadata is not valid JSON"),
        (["-t", TASKS[0], "--metadata", '{"knobs": {"chians": 2}}'], "unknown knob 'chians'"),
        (
            ["-t", "reasoning_primitives,prim_variable_assignment_d0_math"],
            "task prim_variable_assignment_d0_math is asked for twice (in reasoning_primitives and in prim_variable_assignment_d0_math)",
        ),
        (["-t", TASKS[0], "--model-type", "no-such-backend"], "unknown --model-type"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tiny_model, args, message):
    if "--metadata" not in args:
        args = [*args, "--metadata", json.dumps(METADATA)]
    result = run_eval(str(tiny_model), *args, "--limit", "1")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_tasks_path_prints_the_folder_lm_eval_indexes():
    from primbench.tasks import TASKS_DIR

    result = CliRunner().invoke(main, ["tasks-path"])
    assert result.exit_code == 0 and result.output == f"{TASKS_DIR}\n"
    assert (Path(result.output.strip()) / "groups" / "reasoning_primitives.yaml").is_file()


def _cut_items(samples, tokenizer, max_length):
    """Items lm-eval cuts, from the logged samples alone: answer or generation budget included."""
    cut = {}
    for task, task_samples in samples.items():
        cut[task] = set()
        for sample in task_samples:
            for context, rest in sample["arguments"]:
                budget = len(tokenizer(context + rest)["input_ids"]) if isinstance(rest, str) else None
                if budget is None:
                    budget = len(tokenizer(context)["input_ids"]) + rest["max_gen_toks"]
                if budget > max_length:
                    cut[task].add(sample["doc_id"])
    return {task: len(items) for task, items in cut.items()}


def test_prompts_longer_than_the_context_are_refused_naming_the_longest_and_the_fixes(tiny_model):
    with pytest.raises(HarnessError) as refused:
        evaluate(
            str(tiny_model), TASKS[:1], shots=3, limit=4, metadata=METADATA, quiet=True, model_args="max_length=60"
        )
    message = str(refused.value)
    assert message.startswith(f"{TASKS[0]}: its longest 3-shot prompt is ") and "context is 60" in message
    longest = int(message.split("prompt is ")[1].split(" tokens")[0])
    assert longest > 60 and "--shots" in message and "compact" in message and "--allow-truncation" in message


def test_allowed_truncation_is_counted_per_task_like_the_samples_say(tiny_model):
    """The count read from lm-eval's requests must match the logged samples' own token lengths."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    counts = {}
    for max_length in (1024, 60):
        result = evaluate(
            str(tiny_model),
            TASKS,
            shots=3,
            limit=4,
            batch_size=2,
            metadata=METADATA,
            quiet=True,
            model_args=f"max_length={max_length}",
            allow_truncation=True,
        )
        independent = _cut_items(result.samples, tokenizer, max_length)
        assert result.truncated == independent
        assert result.raw["config"]["primbench"]["truncated"] == independent
        assert result.raw["config"]["primbench"]["context"] == max_length
        counts[max_length] = independent
    assert set(counts[1024].values()) == {0}
    assert all(0 < count <= 4 for count in counts[60].values()), "60 tokens cut some 3-shot prompts, at most all 4"


def test_primbench_eval_refuses_cut_prompts_and_warns_when_allowed(tiny_model):
    arguments = [
        str(tiny_model),
        "-t",
        TASKS[0],
        "--shots",
        "3",
        "--limit",
        "2",
        "--model-args",
        "max_length=40",
        "--metadata",
        json.dumps(METADATA),
    ]
    refused = run_eval(*arguments)
    assert refused.exit_code == 2 and refused.output.strip().splitlines()[-1].startswith(f"error: {TASKS[0]}: its")
    allowed = run_eval(*arguments, "--allow-truncation")
    assert allowed.exit_code == 0, allowed.output
    assert (
        f"warning: 2 of 2 prompts of {TASKS[0]} are longer than the model's context, and lm-eval cut them "
        "from the left (fewer than 3 shots seen)"
    ) in allowed.output
