"""The pretraining mixture (`data.mix`): train-split text only, no test prompt in it, blended at its share."""

import json

import numpy as np
import pytest

from primbench.harness.errors import HarnessError
from primbench.harness.reproduce.mixture import check_disjoint, mixture_documents, scored_test_prompts, write_mixture
from primbench.model_zoo.config import load_config
from primbench.model_zoo.data import ShardedTokens, TokenData
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.mixture import blend_mixture
from primbench.model_zoo.tokenizer import train_tokenizer
from primbench.primitives.dataset import split_of
from primbench.primitives.registry import PAPER_SUITE, build_dataset

PRESETS = list(PAPER_SUITE)


def test_the_mixture_holds_no_test_prompt_of_the_paper_suite(tmp_path):
    counts = write_mixture(tmp_path / "mix.jsonl", PRESETS, per_preset=40, examples=4)
    documents = [json.loads(line)["text"] for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert counts["documents"] == len(documents) == 8 * 10 and counts["examples"] == 320
    text = "\n".join(documents)
    prompts = scored_test_prompts(PRESETS)
    assert counts["test_prompts_checked"] == len(prompts) > 3000
    assert not any(prompt in text for prompt in prompts[::25])  # the plain substring search agrees on a sample
    for preset in PRESETS:  # every example is a train-split problem of its preset
        dataset = build_dataset(preset, 0)
        record = dataset.record("train", 0)
        assert f"{record['prompt']} {record['answer']}" in text
        assert split_of(dataset.primitive.problem_key(record["meta"])) == "train"


def test_a_test_prompt_anywhere_in_the_text_is_found():
    documents = mixture_documents(PRESETS, per_preset=8, examples=2)
    leaked = scored_test_prompts(["variable_assignment_d1_code"])[7]
    text = "\n".join(documents[:5]) + "\n\n" + leaked + " 12\n\n" + "\n".join(documents[5:])
    with pytest.raises(HarnessError, match="holds a test prompt"):
        check_disjoint(text, scored_test_prompts(PRESETS))
    check_disjoint("\n".join(documents), scored_test_prompts(PRESETS))


def test_the_blend_appends_the_mixture_at_its_share_of_training_tokens(tmp_path):
    tokenizer = train_tokenizer(
        ["the cat sat on the mat. " * 20, "a=1, b=a, b=? 1"], vocab_size=300, model_max_length=64
    )
    (tmp_path / "mix.jsonl").write_text(json.dumps({"text": "a=1, b=a, b=? 1"}) + "\n")
    corpus = np.arange(3000, dtype=np.uint16) % 250
    corpus.tofile(tmp_path / "train.bin")
    corpus[:100].tofile(tmp_path / "val.bin")
    shards = {split: ShardedTokens([tmp_path / f"{split}.bin"], "uint16") for split in ("train", "val")}
    data = TokenData(tmp_path, shards["train"], shards["val"], tokenizer, {}, {})
    config = load_config("micro-baseline", [f"data.mix={tmp_path / 'mix.jsonl'}", "data.mix_fraction=0.25"]).data
    blended = blend_mixture(data, config)
    mixture = tokenizer.encode("a=1, b=a, b=? 1", add_special_tokens=False) + [tokenizer.eos_token_id]
    assert np.array_equal(blended.train[:3000], corpus) and len(blended.train) == 3000 + 1000  # 1000 / 4000 = 0.25
    assert blended.train[3000:].tolist() == (mixture * 1000)[:1000] and blended.val is data.val
    assert blend_mixture(data, load_config("micro-baseline").data) is data
    with pytest.raises(ConfigError, match="go together"):
        load_config("micro-baseline", ["data.mix_fraction=0.25"])
