"""Shared fixtures: a small local English-like corpus (no network) and an isolated token cache."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from primbench.model_zoo.config import CONFIG_DIR, TrainConfig, load_config

SUBJECTS = ["the old sailor", "a young queen", "the tired farmer", "my brother", "the clever fox", "our teacher"]
VERBS = ["found", "carried", "painted", "sold", "counted", "watched"]
OBJECTS = ["a red boat", "three apples", "the silver key", "an empty box", "the long road", "seven stones"]
PLACES = ["by the river", "in the market", "at dawn", "near the hill", "under the bridge", "after supper"]


def write_corpus(path: Path, sentences: int = 6000, seed: int = 0) -> Path:
    """Sentences from a tiny grammar: regular enough that a micro model's loss clearly falls."""
    rng = random.Random(seed)
    lines = []
    for i in range(sentences):
        lines.append(
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(PLACES)}, and {rng.randint(1, 99)} + {rng.randint(1, 9)} made a sum."
        )
        if i % 40 == 39:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "stories.txt")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of tiny models: with 2 shared cores a second spinning thread makes them ~4x
    slower. Restored afterwards, so other modules keep torch's default."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def token_cache(tmp_path_factory, monkeypatch) -> Path:
    """One token cache per test session, never the user's ~/.cache."""
    folder = tmp_path_factory.getbasetemp() / "primbench-cache"
    monkeypatch.setenv("PRIMBENCH_CACHE", str(folder))
    return folder


def micro_config(method: str, corpus: Path, *overrides: str) -> TrainConfig:
    return load_config(CONFIG_DIR / f"micro-{method}.yaml", [f"data.corpus={corpus}", *overrides])
