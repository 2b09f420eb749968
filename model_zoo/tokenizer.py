"""The run's tokenizer: a byte-level BPE trained on the corpus (digits one per token), or the user's own.

Digits are split one per token so that numbers are spelled the same way everywhere, which arithmetic primitives
need; byte-level means no text is ever unknown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GPT2TokenizerFast, PreTrainedTokenizerFast

from primbench.model_zoo.errors import ConfigError

EOS_TOKEN = "<|endoftext|>"  # also the BOS token, as in GPT-2
PAD_TOKEN = "<|pad|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int) -> PreTrainedTokenizerFast:
    """Train BPE on `texts` up to `vocab_size` entries (256 bytes + 2 special tokens + merges)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def special_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """bos/eos/pad ids, written into the model config so generation stops and pads correctly."""
    return {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}


# a bare tokenizer.json names no end-of-text token; these are the usual spellings, in order of preference
EOS_SPELLINGS = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")


def _tokenizer_path(spec: str) -> Path:
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(
            f"data.tokenizer {path} does not exist; set it to 'train' or to a Hugging Face tokenizer folder "
            f"or tokenizer.json"
        )
    return path


def tokenizer_digest(spec: str) -> str:
    """sha256 over a user tokenizer's files (small; no corpus involved), part of the token cache's key."""
    path = _tokenizer_path(spec)
    files = [path] if path.is_file() else [path / name for name in _TOKENIZER_FILES if (path / name).is_file()]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def load_tokenizer(spec: str, model_max_length: int) -> PreTrainedTokenizerFast:
    """A Hugging Face tokenizer folder (tokenizer.json, or GPT-2 style vocab.json + merges.txt) or a bare
    tokenizer.json. It must have an end-of-text token (documents are joined with it); a missing pad token
    becomes the end-of-text token, as is usual for GPT-2 and Llama."""
    path = _tokenizer_path(spec)
    try:
        if path.is_file():
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path), clean_up_tokenization_spaces=False)
            vocab = tokenizer.get_vocab()
            tokenizer.eos_token = next((t for t in EOS_SPELLINGS if t in vocab), None)
        elif (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        else:
            tokenizer = GPT2TokenizerFast.from_pretrained(path)
    except Exception as error:  # noqa: BLE001 - the Rust side raises bare Exceptions for malformed files
        raise ConfigError(
            f"data.tokenizer {path} is not a readable Hugging Face tokenizer ({type(error).__name__}); "
            f"point it at a folder with tokenizer.json or vocab.json + merges.txt"
        ) from None
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise ConfigError(f"data.tokenizer {path} has no fast (Rust) tokenizer; save it with tokenizer.json")
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            f"data.tokenizer {path} has no end-of-text token; give it an eos_token in tokenizer_config.json"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.bos_token_id is None:
        tokenizer.bos_token = tokenizer.eos_token
    tokenizer.model_max_length = model_max_length
    return tokenizer
