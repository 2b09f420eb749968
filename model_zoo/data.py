"""Read prepared token shards (see prepare.py) memory-mapped, and cut training batches as a pure function of step.

Batch `step` is drawn from `numpy.random.default_rng([seed, step])` over the concatenated training shards, so the
data position is just the step: resuming, or running on any number of ranks, reads exactly the same sequences.
Each rank maps the shards itself; nothing is read whole and no rank waits for another.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.prepare import MANIFEST, prepare_shards, shard_folder
from primbench.model_zoo.tokenizer import special_ids


class ShardedTokens:
    """Token shards read as one flat sequence: `len()` and contiguous slices (which may span two shards).

    Shards are memory-mapped files; `with_part` appends an in-memory array (the `data.mix` blend) without
    reading the files, so memory stays bounded by what is appended, not by the corpus.
    """

    def __init__(self, files: list[Path], dtype: str):
        self.dtype = np.dtype(dtype)
        self._set_parts([np.memmap(file, dtype=self.dtype, mode="r") for file in files])

    def _set_parts(self, parts: list[np.ndarray]) -> None:
        self.shards = parts
        self.starts = np.cumsum([0] + [len(shard) for shard in self.shards])

    def with_part(self, tokens: np.ndarray) -> ShardedTokens:
        """A new view of these shards with `tokens` appended at the end."""
        extended = ShardedTokens([], self.dtype.name)
        extended._set_parts([*self.shards, np.asarray(tokens, dtype=self.dtype)])
        return extended

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, window: slice) -> np.ndarray:
        start, stop, step = window.indices(len(self))
        if step != 1:
            raise IndexError("ShardedTokens takes contiguous slices only")
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        while start < stop:
            offset = start - self.starts[first]
            piece = self.shards[first][offset : offset + stop - start]
            pieces.append(piece)
            start += len(piece)
            first += 1
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else np.zeros(0, self.dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self[:] if dtype is None else self[:].astype(dtype)


@dataclass
class TokenData:
    folder: Path
    train: ShardedTokens
    val: ShardedTokens
    tokenizer: PreTrainedTokenizerFast
    special_ids: dict[str, int]
    manifest: dict


def load_tokens(folder: Path) -> TokenData:
    manifest = json.loads((folder / MANIFEST).read_text())
    files = {
        split: [folder / s["file"] for s in manifest["shards"] if s["split"] == split] for split in ("train", "val")
    }
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder / "tokenizer")
    train, val = (ShardedTokens(files[split], manifest["dtype"]) for split in ("train", "val"))
    return TokenData(folder, train, val, tokenizer, special_ids(tokenizer), manifest)


def prepare_data(config: TrainConfig, build: bool = True, progress: bool = False) -> TokenData:
    """The token shards for this config. A single process builds missing shards itself; ranks of a torchrun
    launch pass build=False and get a clear error instead of all preparing at once."""
    folder = shard_folder(config)
    if not (folder / MANIFEST).is_file():
        if not build:
            raise ConfigError(
                f"the token shards for this config are missing ({folder}); run `primbench prepare --config "
                f"CONFIG [--set ...]` with the same data settings once before launching with torchrun"
            )
        prepare_shards(config, progress=progress)
    data = load_tokens(folder)
    for name, tokens in (("training", data.train), ("validation", data.val)):
        if len(tokens) <= config.data.seq_len + 1:
            raise ConfigError(
                f"the corpus has only {len(tokens)} {name} tokens, fewer than data.seq_len + 2 "
                f"({config.data.seq_len + 2}); use more text or a shorter data.seq_len"
            )
    return data


def with_tokenizer_vocab(config: TrainConfig, data: TokenData) -> TrainConfig:
    """The config with model.vocab_size set to the tokenizer's size when the tokenizer is the user's own."""
    if config.data.tokenizer == "train":
        return config
    model = dataclasses.replace(config.model, vocab_size=len(data.tokenizer))
    return dataclasses.replace(config, model=model)


def train_batch(
    tokens: ShardedTokens | np.ndarray, step: int, seed: int, batch_size: int, seq_len: int
) -> torch.Tensor:
    """The global batch of step `step`: [batch_size, seq_len + 1] windows at seeded random offsets."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=batch_size)
    return torch.from_numpy(np.stack([tokens[s : s + seq_len + 1] for s in starts]).astype(np.int64))


def val_batches(tokens: ShardedTokens | np.ndarray, batches: int, batch_size: int, seq_len: int) -> list[torch.Tensor]:
    """Fixed validation windows spread evenly over the held-out tokens (the same at every evaluation)."""
    count = batches * batch_size
    starts = np.linspace(0, len(tokens) - seq_len - 1, num=count).astype(np.int64)
    windows = np.stack([tokens[s : s + seq_len + 1] for s in starts]).astype(np.int64)
    return list(torch.from_numpy(windows).split(batch_size))
