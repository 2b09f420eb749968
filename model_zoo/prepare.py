"""Turn the configured corpus into flat token shards once, before training (nanoGPT's `prepare.py`, streamed).

    primbench prepare --config tiny-midas                        # prints the shard folder
    python -m primbench.model_zoo.prepare --config 1b-midas --set data.corpus=/data/fineweb-edu/

The corpus is cut into work units (about UNIT_BYTES of text: a byte range of a file, Parquet row groups, or a
batch of a streamed HF dataset). A pool of `data.prepare_workers` processes tokenises one unit at a time and
writes its `train_<unit>.bin` / `val_<unit>.bin` (uint16 or uint32 ids, documents ended by EOS) and a small
`<unit>.json` record, each renamed into place; so peak memory is a few units whatever the corpus size, and an
interrupted preparation, killed at any moment, restarts at the first unit without a record and ends with the same
files. `manifest.json` (tokenizer hash, documents, tokens and sha256 of every shard) is written last and marks the
folder complete; then the temporaries a killed preparation left are deleted.

Documents are cut at line breaks into chunks of about CHUNK_CHARS; a chunk's split (train or validation) and,
under `data.max_chars`, whether it is kept at all are fixed by a hash of (unit, chunk index), never by content or
by how many workers ran. The corpus's final chunk is always held out, so a small corpus still has validation text.
The folder's name is a hash of cheap facts (file names, sizes and modification times, tokenizer, settings).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from primbench.atomic import KILL_ENV, atomic_path, remove_leftovers, write_json
from primbench.errors import exit_on_user_error
from primbench.model_zoo import corpus
from primbench.model_zoo.config import TrainConfig, load_config
from primbench.model_zoo.corpus import Unit, cache_root

FORMAT_VERSION = 2
UNIT_BYTES = 32 * 2**20  # text per work unit; a worker holds about one unit's text and tokens
CHUNK_CHARS = 4000  # documents are cut at line breaks into chunks of about this size; chunks are the split unit
TOKENIZER_TRAIN_CHARS = 200_000_000  # `data.tokenizer: train` learns its merges from at most this much text
ENCODE_BATCH = 512  # chunks per encode_batch call
MANIFEST = "manifest.json"
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs besides the unit; the same for every unit of a preparation."""

    folder: str
    val_fraction: float
    keep_fraction: float  # share of chunks kept under data.max_chars (1.0 = all)
    dtype: str
    eos: int


def shard_folder(config: TrainConfig) -> Path:
    """`$PRIMBENCH_CACHE/tokens/<key>/`, the key a hash of cheap facts about corpus, tokenizer and settings."""
    from primbench.model_zoo.tokenizer import tokenizer_digest

    d = config.data
    tokenizer = (
        f"train:{config.model.vocab_size}:{TOKENIZER_TRAIN_CHARS}"
        if d.tokenizer == "train"
        else tokenizer_digest(d.tokenizer)
    )
    settings = {
        "corpus": corpus.corpus_fingerprint(d.corpus, d.text_field),
        "tokenizer": tokenizer,
        "val_fraction": d.val_fraction,
        "max_chars": d.max_chars,
        "unit_bytes": UNIT_BYTES,
        "format": FORMAT_VERSION,
    }
    return cache_root() / "tokens" / hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _fraction(*parts: object) -> float:
    """A fixed pseudo-random number in [0, 1) for a tuple of identifiers."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


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


def unit_chunks(unit: Unit, val_fraction: float, keep_fraction: float) -> Iterator[tuple[str, bool, str]]:
    """(text, ends_document, split) for the kept chunks of a unit, in order."""
    pieces: list[tuple[str, bool]] = []
    for text, ends_document in corpus.read_unit(unit):
        chunks = _chunks(text)
        pieces.extend((chunk, ends_document and i == len(chunks) - 1) for i, chunk in enumerate(chunks))
    for index, (text, ends_document) in enumerate(pieces):
        final = unit.last and index == len(pieces) - 1
        if not final and keep_fraction < 1 and _fraction("keep", unit.index, index) >= keep_fraction:
            continue
        held_out = final or _fraction(unit.index, index) < val_fraction
        yield text, ends_document, "val" if held_out else "train"


_WORKER_TOKENIZER: Tokenizer | None = None


def _init_worker(tokenizer_json: str, parallel: bool) -> None:
    global _WORKER_TOKENIZER
    if not parallel:  # a pool worker, one process per core already; the Rust thread pool would oversubscribe
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        os.environ.pop(KILL_ENV, None)  # kill tests stop the command's own process, never a worker it waits on
    _WORKER_TOKENIZER = Tokenizer.from_str(tokenizer_json)


def _record_path(folder: Path, index: int) -> Path:
    return folder / f"{index:06d}.json"


def encode_unit(unit: Unit, plan: Plan) -> dict:
    """Tokenise one unit into its shard files and return (and write, last) its record."""
    folder = Path(plan.folder)
    batches: dict[str, list[tuple[str, bool]]] = {split: [] for split in SPLITS}
    arrays: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    documents = dict.fromkeys(SPLITS, 0)

    def flush(split: str) -> None:
        batch = batches[split]
        encodings = _WORKER_TOKENIZER.encode_batch_fast([text for text, _ in batch], add_special_tokens=False)
        for (_, ends_document), encoding in zip(batch, encodings):
            arrays[split].append(np.asarray(encoding.ids + [plan.eos] * ends_document, dtype=plan.dtype))
            documents[split] += ends_document
        batch.clear()

    chars = 0
    for text, ends_document, split in unit_chunks(unit, plan.val_fraction, plan.keep_fraction):
        batches[split].append((text, ends_document))
        chars += len(text)
        if len(batches[split]) >= ENCODE_BATCH:
            flush(split)
    record: dict = {"unit": unit.index, "chars": chars}
    for split in SPLITS:
        flush(split)
        tokens = np.concatenate(arrays[split]) if arrays[split] else np.zeros(0, dtype=plan.dtype)
        arrays[split].clear()
        name = f"{split}_{unit.index:06d}.bin"
        if len(tokens):
            with atomic_path(folder / name) as scratch:
                tokens.tofile(scratch)
        record[split] = {
            "file": name if len(tokens) else None,
            "tokens": int(len(tokens)),
            "documents": documents[split],
            "sha256": hashlib.sha256(tokens.tobytes()).hexdigest() if len(tokens) else None,
        }
    write_json(record, _record_path(folder, unit.index))
    return record


def bounded_map(function: Callable, items: Iterable, workers: int, initializer: Callable, initargs: tuple) -> Iterator:
    """`function(item)` over `items` in order, on a pool of `workers` processes, with at most 2 x workers items
    in flight, so a streamed input is never read far ahead of the workers. One worker runs in this process."""
    if workers <= 1:
        initializer(*initargs)
        yield from map(function, items)
        return
    with multiprocessing.get_context("spawn").Pool(workers, initializer, initargs) as pool:
        window: collections.deque = collections.deque()
        for item in items:
            window.append(pool.apply_async(function, (item,)))
            if len(window) >= 2 * workers:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()


def _workers(config: TrainConfig) -> int:
    return config.data.prepare_workers or min(8, os.cpu_count() or 1)


def _tokenizer(config: TrainConfig, folder: Path, keep_fraction: float, progress: bool):
    """The run's tokenizer, saved in `folder/tokenizer/` (reused when an interrupted preparation restarts)."""
    # transformers is imported here, not at the top, so that the spawned workers start quickly
    from transformers import PreTrainedTokenizerFast

    from primbench.model_zoo.tokenizer import load_tokenizer, train_tokenizer

    saved = folder / "tokenizer"
    if (saved / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(saved)
    d, seq_len = config.data, config.data.seq_len
    if d.tokenizer == "train":

        def training_text() -> Iterator[str]:
            budget = TOKENIZER_TRAIN_CHARS
            bar = tqdm(desc="reading for the tokenizer", unit="B", unit_scale=True, disable=not progress, leave=False)
            for unit in corpus.units(d.corpus, d.text_field, UNIT_BYTES):
                for text, _, split in unit_chunks(unit, d.val_fraction, keep_fraction):
                    if split == "train":
                        yield text
                        budget -= len(text)
                        bar.update(len(text))
                if budget <= 0:
                    break
            bar.close()

        tokenizer = train_tokenizer(training_text(), config.model.vocab_size, seq_len)
    else:
        tokenizer = load_tokenizer(d.tokenizer, seq_len)
    with atomic_path(saved, directory=True) as scratch:
        tokenizer.save_pretrained(scratch)
    return PreTrainedTokenizerFast.from_pretrained(saved)


def _token_dtype(vocab: int) -> str:
    return "uint16" if vocab <= 2**16 else "uint32"


def prepare_shards(config: TrainConfig, progress: bool = True) -> Path:
    """Build (or finish building) the token shards for `config` and return their folder."""
    folder = shard_folder(config)
    if (folder / MANIFEST).is_file():
        return folder
    d = config.data
    total = corpus.corpus_bytes(d.corpus)
    keep = min(1.0, d.max_chars / total) if d.max_chars and total else 1.0
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(config, folder, keep, progress)
    plan = Plan(str(folder), d.val_fraction, keep, _token_dtype(len(tokenizer)), tokenizer.eos_token_id)
    records: list[dict] = []

    def pending() -> Iterator[Unit]:
        for unit in corpus.units(d.corpus, d.text_field, UNIT_BYTES):
            if _record_path(folder, unit.index).is_file():  # done before an interruption
                records.append(json.loads(_record_path(folder, unit.index).read_text()))
                bar.update(unit.size)
            else:
                yield unit

    bar = tqdm(total=total, desc="tokenising", unit="B", unit_scale=True, disable=not progress)
    workers = _workers(config)
    initargs = (tokenizer.backend_tokenizer.to_str(), workers <= 1)
    for record in bounded_map(_Encoder(plan), pending(), workers, _init_worker, initargs):
        records.append(record)
        bar.update(record["chars"])
    bar.close()
    records.sort(key=lambda r: r["unit"])
    manifest = {
        "format": FORMAT_VERSION,
        "corpus": d.corpus,
        "text_field": d.text_field,
        "tokenizer": {
            "source": d.tokenizer,
            "sha256": hashlib.sha256((folder / "tokenizer" / "tokenizer.json").read_bytes()).hexdigest(),
            "vocab_size": len(tokenizer),
            "eos_token_id": tokenizer.eos_token_id,
        },
        "settings": {"val_fraction": d.val_fraction, "max_chars": d.max_chars, "unit_bytes": UNIT_BYTES},
        "dtype": plan.dtype,
        "units": len(records),
        "documents": sum(r[split]["documents"] for r in records for split in SPLITS),
        "tokens": {split: sum(r[split]["tokens"] for r in records) for split in SPLITS},
        "shards": [
            {"file": r[split]["file"], "split": split, **{k: r[split][k] for k in ("tokens", "documents", "sha256")}}
            for split in SPLITS
            for r in records
            if r[split]["file"]
        ],
    }
    write_json(manifest, folder / MANIFEST)
    remove_leftovers(folder, "*")  # every temporary: the shards, records and tokenizer are all complete now
    return folder


@dataclass(frozen=True)
class _Encoder:
    """A picklable `encode_unit` bound to the plan (the pool sends it to the workers)."""

    plan: Plan

    def __call__(self, unit: Unit) -> dict:
        return encode_unit(unit, self.plan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML file or shipped name such as tiny-midas")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        print(prepare_shards(load_config(args.config, args.overrides)))


if __name__ == "__main__":
    main()
