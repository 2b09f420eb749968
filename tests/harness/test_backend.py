"""`primbench-hf` against lm-eval's stock `hf` backend: the same loglikelihoods and verdicts on every paper task.

The backend computes logits only at the scored positions (`logits_to_keep=<mask>`), so each architecture's own
head has to be applied to the right rows: tested on tiny random Llama, Qwen2, GPT-NeoX, a Llama with a 262,144-token
vocabulary and a Gemma-3 with strong final soft-capping and tied embeddings.
"""

import json
import logging
import subprocess
import sys

import pytest
import torch
from lm_eval.api.registry import get_model
from lm_eval.models.huggingface import HFLM
from test_eval_hf import build_tiny_llama
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma3TextConfig,
    GPTNeoXConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
)

from primbench.harness.evaluation.backend import PrimbenchLM
from primbench.harness.evaluation.evaluate import build_requests, evaluate
from primbench.harness.evaluation.models import choose_dtype, load_causal_lm
from primbench.harness.evaluation.oracle import solver_model

METADATA = {"n": 4, "n_train": 6}
SHOTS, LIMIT = 2, 3
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
CONFIGS = {
    "llama": lambda vocab: LlamaConfig(vocab_size=vocab, **SMALL),
    "llama-262k-vocab": lambda vocab: LlamaConfig(vocab_size=262_144, **SMALL),
    # soft-capping at 0.2 bends every logit (random logits reach ~0.5), so a backend that skipped it would differ
    "gemma3": lambda vocab: Gemma3TextConfig(
        vocab_size=vocab, head_dim=8, final_logit_softcapping=0.2, sliding_window=16, tie_word_embeddings=True, **SMALL
    ),
    "qwen2": lambda vocab: Qwen2Config(vocab_size=vocab, **SMALL),
    "gpt-neox": lambda vocab: GPTNeoXConfig(
        vocab_size=vocab, **{k: v for k, v in SMALL.items() if k != "num_key_value_heads"}
    ),
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(build_tiny_llama(tmp_path_factory.mktemp("tokenizer")))


@pytest.fixture(scope="module")
def paper_requests():
    requests = build_requests(["reasoning_primitives"], SHOTS, LIMIT, METADATA)
    assert len(requests) == 8 * LIMIT
    return requests


def random_model(name: str, vocab: int):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(CONFIGS[name](vocab)).eval()


def both_backends(model, tokenizer, requests, **kwargs):
    stock = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=3, **kwargs)
    ours = PrimbenchLM(pretrained=model, tokenizer=tokenizer, batch_size=3, **kwargs)
    answers = stock.loglikelihood(requests, disable_tqdm=True), ours.loglikelihood(requests, disable_tqdm=True)
    assert ours.scores_positions_only, "the fast path must be the one under test"
    return answers


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_loglikelihoods_and_verdicts_as_stock_hf_on_every_paper_task(name, tokenizer, paper_requests):
    model = random_model(name, len(tokenizer))
    if model.config.vocab_size > 100_000:  # stock logits are [batch, sequence, 262144]: one item per task is enough
        paper_requests = paper_requests[::LIMIT]
    stock, ours = both_backends(model, tokenizer, paper_requests)
    assert [ll for ll, _ in ours] == pytest.approx([ll for ll, _ in stock], abs=1e-4)
    assert [greedy for _, greedy in ours] == [greedy for _, greedy in stock]
    assert len({round(ll, 3) for ll, _ in ours}) > len(ours) // 2, "distinct requests, distinct scores"


def test_gemma3_soft_capping_and_tied_head_are_the_models_own(tokenizer, paper_requests):
    """The control for the Gemma case: without its soft-capping the same weights score visibly otherwise."""
    model = random_model("gemma3", len(tokenizer))
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    _, capped = both_backends(model, tokenizer, paper_requests[:6])
    model.config.final_logit_softcapping = None
    _, uncapped = both_backends(model, tokenizer, paper_requests[:6])
    assert max(abs(a - b) for (a, _), (b, _) in zip(capped, uncapped)) > 100 * 1e-4  # 100x the tolerance


def test_left_truncation_to_the_context_window_matches_stock(tokenizer, paper_requests):
    stock, ours = both_backends(random_model("llama", len(tokenizer)), tokenizer, paper_requests, max_length=40)
    assert [ll for ll, _ in ours] == pytest.approx([ll for ll, _ in stock], abs=1e-4)
    assert [greedy for _, greedy in ours] == [greedy for _, greedy in stock]


class IgnoresPositionMask(LlamaForCausalLM):
    """A custom forward that drops `logits_to_keep`, as older or remote-code models do."""

    def forward(self, input_ids=None, logits_to_keep=0, **kwargs):
        return super().forward(input_ids=input_ids, **kwargs)


def test_a_model_that_ignores_the_mask_is_scored_the_stock_way(tokenizer, paper_requests, caplog):
    torch.manual_seed(0)
    model = IgnoresPositionMask(CONFIGS["llama"](len(tokenizer))).eval()
    ours = PrimbenchLM(pretrained=model, tokenizer=tokenizer, batch_size=3)
    stock = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=3)
    requests = paper_requests[:6]
    with caplog.at_level(logging.WARNING, logger="primbench.harness.evaluation.backend"):
        answers = ours.loglikelihood(requests, disable_tqdm=True)
    assert not ours.scores_positions_only
    assert "does not honour logits_to_keep=<mask> (logits of shape (3, " in caplog.text
    assert answers == stock.loglikelihood(requests, disable_tqdm=True)


def test_importing_the_evaluation_room_registers_the_backend_without_torch():
    code = (
        "import sys, primbench.harness.evaluation; from lm_eval.api.registry import model_registry as r; "
        "print(sorted(k for k in ('primbench-hf', 'hf', 'vllm', 'sglang') if k in r), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['hf',", "'primbench-hf',", "'sglang',", "'vllm']", "False"]
    assert get_model("primbench-hf") is PrimbenchLM


def test_primbench_eval_defaults_to_the_backend_and_matches_hf_per_item(tmp_path):
    folder = build_tiny_llama(tmp_path / "tiny")
    runs = {
        model_type: evaluate(
            str(folder),
            ["reasoning_primitives"],
            shots=SHOTS,
            limit=2,
            batch_size=4,
            metadata=METADATA,
            quiet=True,
            **({"model_type": model_type} if model_type else {}),
        )
        for model_type in ("hf", None)
    }
    stock, ours = runs["hf"], runs[None]
    assert ours.raw["config"]["primbench"]["model_type"] == "primbench-hf"
    assert ours.scores == stock.scores
    for task, samples in stock.samples.items():
        theirs = [sample["resps"][0][0] for sample in samples]
        mine = [sample["resps"][0][0] for sample in ours.samples[task]]
        assert [ll for ll, _ in mine] == pytest.approx([ll for ll, _ in theirs], abs=1e-4)
        assert [greedy for _, greedy in mine] == [greedy for _, greedy in theirs]


def test_no_git_noise_outside_a_checkout_and_the_same_hash_inside(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    outside = evaluate(solver_model(), ["prim_arithmetic_psm"], shots=1, limit=1, metadata=METADATA, quiet=True)
    assert "not a git repository" not in capfd.readouterr().err
    assert outside.raw["git_hash"] is None
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    expected = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True).stdout.strip()
    inside = evaluate(solver_model(), ["prim_arithmetic_psm"], shots=1, limit=1, metadata=METADATA, quiet=True)
    assert inside.raw["git_hash"] == expected and len(expected) >= 7


def saved_in(folder, dtype_key: str, dtype: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", dtype_key: dtype}))
    return folder


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("saved", ["bfloat16", "float16"])
def test_half_precision_loads_in_float32_on_a_cpu_that_emulates_it(tmp_path, monkeypatch, capsys, native, saved):
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported", "_is_amx_fp16_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: native)
    folder = saved_in(tmp_path / "m", "dtype", saved)
    assert choose_dtype(folder, "cpu", None) == (None if native else "float32")
    note = capsys.readouterr().err
    assert note == (
        ""
        if native
        else f"note: {folder} is saved in {saved}, which this CPU only emulates (no native "
        f"{saved} matmul); loading it in float32, which runs faster here (--dtype {saved} keeps {saved})\n"
    )
    assert choose_dtype(folder, "cuda:0", None) is None  # GPUs multiply half precision natively
    assert choose_dtype(folder, "cpu", saved) == saved and choose_dtype(folder, "cpu", "auto") == "auto"
    assert capsys.readouterr().err == ""


def test_float32_and_transformers_4_torch_dtype_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert choose_dtype(saved_in(tmp_path / "a", "dtype", "float32"), "cpu", None) is None
    assert choose_dtype(saved_in(tmp_path / "b", "torch_dtype", "bfloat16"), "cpu", None) == "float32"
    assert choose_dtype(tmp_path / "missing", "cpu", None) is None


def test_a_bf16_checkpoint_is_scored_and_loaded_in_float32_by_default_here(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    folder = build_tiny_llama(tmp_path / "fp32")
    AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    task = ["prim_arithmetic_psm"]
    default = evaluate(str(folder), task, shots=1, limit=1, metadata=METADATA, quiet=True)
    assert default.raw["config"]["model_dtype"] == torch.float32
    assert "loading it in float32" in capfd.readouterr().err
    kept = evaluate(str(folder), task, shots=1, limit=1, metadata=METADATA, quiet=True, dtype="bfloat16")
    assert kept.raw["config"]["model_dtype"] == torch.bfloat16
    assert next(load_causal_lm(folder).parameters()).dtype == torch.float32


@pytest.mark.slow  # a fresh lm_eval process spends ~20 s importing before it evaluates anything
def test_lm_evals_own_cli_runs_the_backend_through_python_m(tmp_path):
    folder = build_tiny_llama(tmp_path / "tiny")
    task = "prim_variable_assignment_d0_math"
    from primbench.tasks import TASKS_DIR

    tasks_path = str(TASKS_DIR)
    command = [sys.executable, "-m", "primbench.harness.evaluation", "--model", "primbench-hf", "--model_args",
               f"pretrained={folder}", "--include_path", tasks_path, "--tasks", task, "--num_fewshot", "2",
               "--limit", "3", "--device", "cpu", "--batch_size", "2", "--metadata", json.dumps(METADATA),
               "--output_path", str(tmp_path / "out"), "--log_samples"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    raw = json.loads(next((tmp_path / "out").glob("**/results_*.json")).read_text())
    assert raw["config"]["model"] == "primbench-hf"
    theirs = [json.loads(line) for line in next((tmp_path / "out").glob(f"**/samples_{task}_20*.jsonl")).open()]
    ours = evaluate(str(folder), [task], shots=2, limit=3, batch_size=2, metadata=METADATA, quiet=True)
    assert [float(s["resps"][0][0][0]) for s in theirs] == pytest.approx(
        [s["resps"][0][0][0] for s in ours.samples[task]]
    )


@pytest.mark.slow  # SmolLM2-135M, 5-shot: about a minute per backend on 2 cores
def test_smollm2_same_loglikelihoods_and_verdicts_as_stock_hf_on_every_paper_task():
    from primbench.harness.evaluation.real_checkpoint import smollm2_folder

    folder = smollm2_folder()
    requests = build_requests(["reasoning_primitives"], shots=5, limit=2, metadata={"n": 2})
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    stock, ours = both_backends(model, AutoTokenizer.from_pretrained(folder), requests)
    assert [ll for ll, _ in ours] == pytest.approx([ll for ll, _ in stock], abs=1e-4)
    assert [greedy for _, greedy in ours] == [greedy for _, greedy in stock]
    assert any(greedy for _, greedy in ours), "a real model gets some of these right"
