"""Tokenise the corpus once into memory-mapped token files, and cut training batches as a pure function of the step.

Cache layout, keyed by corpus content and tokenizer settings: `$PRIMBENCH_CACHE/tokens/<key>/` holds
`tokenizer/` (a PreTrainedTokenizerFast), `train.bin` and `val.bin` (uint16 or uint32 token ids, documents
separated by EOS) and `meta.json`. Validation is a held-out set of corpus chunks, never seen by the tokenizer.
Batch `step` is drawn from `numpy.random.default_rng([seed, step])`, so the data position is just the step:
resuming, or running on any number of ranks, reads exactly the same sequences.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.corpus import cache_root, corpus_fingerprint, read_documents
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.tokenizer import special_ids, train_tokenizer

FORMAT_VERSION = 1
CHUNK_CHARS = 4000  # documents are cut at line breaks into chunks of about this size; chunks are the split unit


@dataclass
class TokenData:
    folder: Path
    train: np.ndarray  # memory-mapped token ids
    val: np.ndarray
    tokenizer: PreTrainedTokenizerFast
    special_ids: dict[str, int]


def _chunks(document: str) -> list[str]:
    """Cut a document at line breaks into pieces of at most ~CHUNK_CHARS characters."""
    pieces, current, size = [], [], 0
    for line in document.splitlines(keepends=True):
        if size + len(line) > CHUNK_CHARS and current:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append("".join(current))
    return pieces


def _is_validation(index: int, val_fraction: float) -> bool:
    """A fixed, content-independent pseudo-random choice per chunk index."""
    digest = hashlib.blake2b(str(index).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < val_fraction


def _split_chunks(config: TrainConfig) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """(text, ends_document) chunks for train and validation; `max_chars` keeps an even stride through the corpus."""
    chunks: list[tuple[str, bool]] = []
    for document in read_documents(config.data.corpus, config.data.text_field):
        pieces = _chunks(document)
        chunks.extend((piece, i == len(pieces) - 1) for i, piece in enumerate(pieces))
    if not chunks:
        raise ConfigError(f"corpus '{config.data.corpus}' holds no text; point data.corpus at non-empty files")
    total = sum(len(text) for text, _ in chunks)
    if config.data.max_chars and total > config.data.max_chars:
        stride = total / config.data.max_chars
        chunks = [chunks[int(i * stride)] for i in range(int(len(chunks) / stride))]
    train, val = [], []
    for index, chunk in enumerate(chunks):
        (val if _is_validation(index, config.data.val_fraction) else train).append(chunk)
    if not val and len(train) > 1:  # small corpora: always hold out at least the last chunk
        val.append(train.pop())
    if not train or not val:
        raise ConfigError(
            f"corpus '{config.data.corpus}' is too small to fill both a training and a validation "
            f"part ({len(chunks)} chunk of ~{CHUNK_CHARS} characters); use more text"
        )
    return train, val


def _encode(
    tokenizer: PreTrainedTokenizerFast, chunks: list[tuple[str, bool]], eos: int, path: Path, dtype: type, desc: str
) -> None:
    ids: list[np.ndarray] = []
    batch = 256
    for start in tqdm(range(0, len(chunks), batch), desc=desc, unit="batch", leave=False):
        part = chunks[start : start + batch]
        encoded = tokenizer.backend_tokenizer.encode_batch([text for text, _ in part], add_special_tokens=False)
        for (_, ends_document), encoding in zip(part, encoded):
            ids.append(np.asarray(encoding.ids + ([eos] if ends_document else []), dtype=dtype))
    np.concatenate(ids).tofile(path)


def cache_key(config: TrainConfig) -> str:
    d = config.data
    settings = {
        "corpus": corpus_fingerprint(d.corpus, d.text_field),
        "vocab_size": config.model.vocab_size,
        "val_fraction": d.val_fraction,
        "max_chars": d.max_chars,
        "format": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _build(config: TrainConfig, folder: Path) -> None:
    """Train the tokenizer and write the token files into a temporary folder, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    train_chunks, val_chunks = _split_chunks(config)
    tokenizer = train_tokenizer((text for text, _ in train_chunks), config.model.vocab_size, config.data.seq_len)
    dtype = np.uint16 if len(tokenizer) <= 2**16 else np.uint32
    eos = tokenizer.eos_token_id
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        tokenizer.save_pretrained(scratch / "tokenizer")
        _encode(tokenizer, train_chunks, eos, scratch / "train.bin", dtype, "tokenising train")
        _encode(tokenizer, val_chunks, eos, scratch / "val.bin", dtype, "tokenising validation")
        meta = {
            "dtype": np.dtype(dtype).name,
            "vocab_size": len(tokenizer),
            "corpus": config.data.corpus,
            "train_chunks": len(train_chunks),
            "val_chunks": len(val_chunks),
        }
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            scratch.rename(folder)
        except OSError:  # another process finished the same cache first; theirs is identical
            shutil.rmtree(scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def load_tokens(folder: Path) -> TokenData:
    meta = json.loads((folder / "meta.json").read_text())
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder / "tokenizer")
    train = np.memmap(folder / "train.bin", dtype=meta["dtype"], mode="r")
    val = np.memmap(folder / "val.bin", dtype=meta["dtype"], mode="r")
    return TokenData(folder, train, val, tokenizer, special_ids(tokenizer))


def prepare_data(config: TrainConfig, build: bool = True) -> TokenData:
    """The tokenised corpus for this config, built on first use. Non-zero ranks pass build=False after a barrier."""
    folder = cache_root() / "tokens" / cache_key(config)
    if not (folder / "meta.json").is_file():
        if not build:
            raise ConfigError(f"tokenised corpus cache {folder} is missing; run once on one process to build it")
        _build(config, folder)
    data = load_tokens(folder)
    for name, tokens in (("training", data.train), ("validation", data.val)):
        if len(tokens) <= config.data.seq_len + 1:
            raise ConfigError(
                f"the corpus has only {len(tokens)} {name} tokens, fewer than data.seq_len + 2 "
                f"({config.data.seq_len + 2}); use more text or a shorter data.seq_len"
            )
    return data


def train_batch(tokens: np.ndarray, step: int, seed: int, batch_size: int, seq_len: int) -> torch.Tensor:
    """The global batch of step `step`: [batch_size, seq_len + 1] windows at seeded random offsets."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=batch_size)
    return torch.from_numpy(np.stack([tokens[s : s + seq_len + 1] for s in starts]).astype(np.int64))


def val_batches(tokens: np.ndarray, batches: int, batch_size: int, seq_len: int) -> list[torch.Tensor]:
    """Fixed validation windows spread evenly over the held-out tokens (the same at every evaluation)."""
    count = batches * batch_size
    starts = np.linspace(0, len(tokens) - seq_len - 1, num=count).astype(np.int64)
    windows = np.stack([tokens[s : s + seq_len + 1] for s in starts]).astype(np.int64)
    return list(torch.from_numpy(windows).split(batch_size))
