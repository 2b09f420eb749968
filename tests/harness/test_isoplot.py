"""`primbench isoplot`: bits per byte against an independent transformers computation, run discovery, outputs."""

import csv
import math
import shutil

import pytest
import torch
from click.testing import CliRunner
from test_eval_hf import build_tiny_llama
from transformers import AutoModelForCausalLM, AutoTokenizer

from primbench.harness.analysis.isoplot import bits_per_byte, run_checkpoints
from primbench.harness.cli import main
from primbench.harness.errors import HarnessError

TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families. Café, naïve: ünïcode.\n"
)
TASK = "prim_variable_assignment_d0_math"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    return folder, AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def prefixed_ids(tokenizer, text):
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return torch.tensor([[prefix, *tokenizer(text, add_special_tokens=False)["input_ids"]]])


def hf_bits_per_byte(model, tokenizer, text, max_length, stride):
    """The sliding-window perplexity recipe of the transformers docs, in bits per UTF-8 byte."""
    ids = prefixed_ids(tokenizer, text)
    nll, previous_end = 0.0, 0
    for begin in range(0, ids.size(1), stride):
        end = min(begin + max_length, ids.size(1))
        window = ids[:, begin:end]
        labels = window.clone()
        labels[:, : -(end - previous_end)] = -100
        with torch.no_grad():
            loss = model(window, labels=labels).loss
        nll += loss.item() * ((labels[:, 1:] != -100).sum().item())
        previous_end = end
        if end == ids.size(1):
            break
    return nll / math.log(2) / len(text.encode("utf-8"))


def test_bits_per_byte_equals_the_labels_loss_when_the_text_fits_one_window(tiny):
    _, model, tokenizer = tiny
    ids = prefixed_ids(tokenizer, TEXT)
    with torch.no_grad():
        mean_nll = model(ids, labels=ids).loss.item()
    expected = mean_nll * (ids.size(1) - 1) / math.log(2) / len(TEXT.encode("utf-8"))
    assert bits_per_byte(model, tokenizer, TEXT) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "window, copies",
    [
        (24, 1),  # ten windows, the default run's version
        pytest.param(16, 3, marks=pytest.mark.slow),  # 45 windows: a forward pass each, ~30 s on shared cores
        pytest.param(37, 3, marks=pytest.mark.slow),
    ],
)
def test_bits_per_byte_in_short_windows_is_within_one_percent_of_the_sliding_window_recipe(tiny, window, copies):
    _, model, tokenizer = tiny
    text = TEXT * copies
    assert prefixed_ids(tokenizer, text).size(1) > 8 * window  # many windows, the last one partial
    ours = bits_per_byte(model, tokenizer, text, window=window)
    reference = hf_bits_per_byte(model, tokenizer, text, max_length=window, stride=window // 2)
    assert ours == pytest.approx(reference, rel=0.01)
    assert ours != bits_per_byte(model, tokenizer, text)  # the window does change what the model sees


def test_empty_text_is_refused(tiny):
    _, model, tokenizer = tiny
    with pytest.raises(HarnessError, match="empty"):
        bits_per_byte(model, tokenizer, "")


def make_run(root, tiny_folder):
    for name in ("checkpoints/step_0000010", "checkpoints/step_0000002", "final"):
        shutil.copytree(tiny_folder, root / name)
    return root


def test_runs_are_found_in_every_layout(tiny, tmp_path):
    folder = tiny[0]
    run = make_run(tmp_path / "run", folder)
    assert [name for name, _ in run_checkpoints(run)] == [
        "checkpoints/step_0000002",
        "checkpoints/step_0000010",
        "final",
    ]
    for name in ("checkpoint-500", "checkpoint-1000"):
        shutil.copytree(folder, tmp_path / "hf" / name)
    assert [name for name, _ in run_checkpoints(tmp_path / "hf")] == ["checkpoint-500", "checkpoint-1000"]
    assert run_checkpoints(folder) == [(folder.name, folder)]
    (tmp_path / "empty" / "logs").mkdir(parents=True)
    with pytest.raises(HarnessError, match="holds no checkpoints"):
        run_checkpoints(tmp_path / "empty")


def test_cli_writes_one_row_per_checkpoint_and_task(tiny, tmp_path):
    folder, model, tokenizer = tiny
    run = make_run(tmp_path / "run", folder)
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "isoplot",
            str(run),
            str(folder),
            "--text",
            str(tmp_path / "text.txt"),
            "-t",
            f"{TASK},{TASK}_gen",
            "--shots",
            "1",
            "--limit",
            "2",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "isoplot.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["run", "checkpoint", "bits_per_byte", "task", "accuracy", "n"]
    assert [(row["checkpoint"], row["task"]) for row in rows] == [
        (checkpoint, task)
        for checkpoint in ("checkpoints/step_0000002", "checkpoints/step_0000010", "final", folder.name)
        for task in (TASK, f"{TASK}_gen")
    ]
    assert {row["run"] for row in rows} == {str(run), str(folder)}
    assert float(rows[0]["bits_per_byte"]) == pytest.approx(bits_per_byte(model, tokenizer, TEXT), abs=1e-6)
    assert {row["n"] for row in rows} == {"2"}
    assert (tmp_path / "out" / "isoplot.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no checkpoints"),
        (lambda tmp: tmp / "missing", "is not a folder"),
    ],
)
def test_cli_refuses_runs_without_checkpoints_in_one_line(tiny, tmp_path, make, message):
    (tmp_path / "text.txt").write_text(TEXT)
    result = CliRunner().invoke(
        main, ["isoplot", str(make(tmp_path)), "--text", str(tmp_path / "text.txt"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output


def test_cli_refuses_a_missing_text_and_unknown_tasks(tiny, tmp_path):
    folder = tiny[0]
    result = CliRunner().invoke(main, ["isoplot", str(folder), "--text", str(tmp_path / "no.txt"), "--out", "o"])
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "text.txt").write_text(TEXT)
    result = CliRunner().invoke(
        main,
        ["isoplot", str(folder), "--text", str(tmp_path / "text.txt"), "-t", "prim_x", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2 and "unknown task" in result.output
