"""Train-split primitive text for `data.mix`, and the check that no test prompt occurs in it.

A run trained on such a mixture (`--set data.mix=FILE --set data.mix_fraction=F`) no longer asks the paper's question (does reasoning
emerge from plain text?) but the sister paper's: how far a model gets on primitives when part of its pretraining
text is made of them. Documents look like what the models are scored on: `examples` worked examples of one
preset (prompt, a space, the answer), separated by a blank line, as lm-eval joins few-shot examples. Only train
split problems are drawn (splits are disjoint by a hash of the problem), and `check_disjoint` re-checks the
written text itself against every test prompt the reproduction loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from primbench.atomic import write_text
from primbench.harness.errors import HarnessError
from primbench.tasks.data import DEFAULT_SEED, DEFAULT_TEST_ITEMS

FEWSHOT_DELIMITER = "\n\n"  # lm-eval's default between few-shot examples (tasks/_default.yaml keeps it)


def mixture_documents(presets: list[str], per_preset: int, examples: int, seed: int = DEFAULT_SEED) -> list[str]:
    """`per_preset` train examples of each preset, grouped `examples` to a document, presets interleaved."""
    from primbench.primitives.registry import build_dataset

    groups = []
    for preset in presets:
        dataset = build_dataset(preset, seed)
        capacity = dataset.capacity("train")
        records = [dataset.record("train", index % capacity if capacity else index) for index in range(per_preset)]
        texts = [f"{record['prompt']} {record['answer']}" for record in records]
        groups.append([FEWSHOT_DELIMITER.join(texts[i : i + examples]) for i in range(0, len(texts), examples)])
    return [document for batch in zip(*groups) for document in batch]


def scored_test_prompts(presets: list[str], seed: int = DEFAULT_SEED) -> list[str]:
    """Every test prompt the lm-eval tasks load for these presets (the default n, or all a small split holds)."""
    from primbench.primitives.registry import build_dataset

    prompts = []
    for preset in presets:
        dataset = build_dataset(preset, seed)
        count = min(DEFAULT_TEST_ITEMS, dataset.capacity("test") or DEFAULT_TEST_ITEMS)
        prompts.extend(record["prompt"] for record in dataset.records("test", count))
    return prompts


def check_disjoint(text: str, prompts: list[str]) -> None:
    """Raise when any of `prompts` occurs anywhere in `text`.

    Exact and fast: an occurrence of a prompt ends where the prompt's last line ends, so only the text before
    each occurrence of a last line is compared (a set lookup per prompt length) instead of scanning per prompt.
    """
    by_anchor: dict[str, dict[int, set[str]]] = {}
    for prompt in prompts:
        anchor = prompt.rsplit("\n", 1)[-1]
        by_anchor.setdefault(anchor, {}).setdefault(len(prompt), set()).add(prompt)
    for anchor, by_length in by_anchor.items():
        start = text.find(anchor)
        while start != -1:
            end = start + len(anchor)
            for length, candidates in by_length.items():
                if end >= length and text[end - length : end] in candidates:
                    found = text[end - length : end]
                    raise HarnessError(
                        f"the pretraining mixture holds a test prompt ({found[:60]!r}...); "
                        "draw the mixture from the train split only"
                    )
            start = text.find(anchor, start + 1)


def write_mixture(path: Path, presets: list[str], per_preset: int, examples: int, seed: int = DEFAULT_SEED) -> dict:
    """Write the mixture as JSONL (one `{"text": ...}` document a line) after checking it; return its counts."""
    documents = mixture_documents(presets, per_preset, examples, seed)
    prompts = scored_test_prompts(presets, seed)
    check_disjoint("\n".join(documents), prompts)
    write_text("".join(json.dumps({"text": document}) + "\n" for document in documents), path)
    return {
        "documents": len(documents),
        "examples": per_preset * len(presets),
        "test_prompts_checked": len(prompts),
        "characters": sum(map(len, documents)),
    }
