"""Instruct models: `eval --apply-chat-template [--system-instruction]`, and flexible-extract beside strict-match."""

import json

import pytest
from click.testing import CliRunner
from test_eval_hf import build_tiny_llama, tokenizer_reads
from transformers import AutoModelForCausalLM, AutoTokenizer

from primbench.harness.cli import main
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.evaluate import evaluate

TASK = "prim_variable_assignment_d0_math_gen"
CHAT = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    plain = build_tiny_llama(tmp_path_factory.mktemp("plain"))
    chat = build_tiny_llama(tmp_path_factory.mktemp("chat"))
    tokenizer = AutoTokenizer.from_pretrained(chat)
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(chat)
    return plain, chat


def test_chat_template_puts_the_shots_in_turns_after_the_system_message(folders, monkeypatch):
    with tokenizer_reads(monkeypatch) as reads:
        result = evaluate(
            str(folders[1]),
            [TASK],
            shots=2,
            limit=2,
            metadata={"n": 2, "n_train": 4},
            apply_chat_template=True,
            system_instruction="Answer with a number.",
            quiet=True,
        )
    assert reads == [str(folders[1])]  # the chat-template check and the backend share one tokenizer
    context = result.samples[TASK][0]["arguments"][0][0]
    assert context.startswith("<|system|>Answer with a number.<|end|><|user|>")
    assert context.count("<|user|>") == 3 and context.count("<|assistant|>") == 3  # 2 shots as turns + the question
    assert context.endswith("Answer:<|end|><|assistant|>")
    assert result.raw["config"]["primbench"]["apply_chat_template"] is True


def test_a_model_without_a_chat_template_is_refused_in_one_line(folders):
    with pytest.raises(HarnessError, match="has no chat template"):
        evaluate(str(folders[0]), [TASK], shots=0, limit=1, apply_chat_template=True, quiet=True)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folders[0]), AutoTokenizer.from_pretrained(folders[0])
    with pytest.raises(HarnessError, match="LlamaForCausalLM has no chat template"):
        evaluate(model, [TASK], shots=0, limit=1, tokenizer=tokenizer, apply_chat_template=True, quiet=True)
    result = CliRunner().invoke(main, ["eval", str(folders[0]), "-t", TASK, "--apply-chat-template", "--limit", "1"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output


def test_flexible_extract_is_reported_beside_strict_match(folders, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "eval",
            str(folders[1]),
            "-t",
            f"{TASK},prim_variable_assignment_d0_math",
            "--shots",
            "1",
            "--limit",
            "3",
            "--metadata",
            json.dumps({"n": 3}),
            "--apply-chat-template",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| accuracy | stderr | flexible | version |" in result.output
    raw = json.loads((tmp_path / "results.json").read_text())["results"][TASK]
    samples = [json.loads(line) for line in (tmp_path / f"samples_{TASK}.jsonl").read_text().splitlines()]
    # recompute flexible-extract accuracy from the raw replies, independently of lm-eval's aggregation
    from primbench.tasks.filters import flexible_extract

    replies = {s["doc_id"]: (s["resps"][0][0], s["doc"]["answer"]) for s in samples}
    expected = sum(flexible_extract(reply, answer) == answer for reply, answer in replies.values()) / len(replies)
    assert raw["exact_match,flexible-extract"] == pytest.approx(expected)
    lines = {line.split("|")[1].strip(): line for line in result.output.splitlines() if line.startswith("| prim_")}
    assert f"| {expected:.4f} |" in lines[TASK]
    assert lines["prim_variable_assignment_d0_math"].split("|")[7].strip() == "-"


def test_a_chat_template_leaves_room_for_the_replys_opening_words():
    from types import SimpleNamespace

    from primbench.harness.evaluation.evaluate import CHAT_REPLY_TOKENS, _size_generation

    class Task:
        config = SimpleNamespace(output_type="generate_until")
        dataset = {"train": {"answer": ["7", "12"]}, "test": {"answer": ["345"]}}

        def set_config(self, key, value, update):
            self.generation_kwargs = value

    raw, chat = Task(), Task()
    _size_generation({"t": raw})
    _size_generation({"t": chat}, chat=True)
    assert raw.generation_kwargs == {"max_gen_toks": 5}  # the longest answer, 3 characters, plus 2
    assert chat.generation_kwargs == {"max_gen_toks": 5 + CHAT_REPLY_TOKENS}
