"""Reading and writing splits as JSONL (default), Parquet or a `datasets.save_to_disk` folder.

All three stream: records are written as they are drawn (Parquet and HF in fixed-size batches), so memory does
not grow with the count. All three read back to records equal to the ones written, key order included.
pyarrow and datasets are imported only inside the Parquet and HF paths.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from primbench.primitives.errors import PrimitiveError

FORMATS = ("jsonl", "parquet", "hf")
SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}  # hf splits are folders
BATCH_SIZE = 4096
# Made once: json.dumps(record, ensure_ascii=False) builds a new encoder for every record.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PrimitiveError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _batches(records: Iterable[dict]) -> Iterator[list[dict]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, BATCH_SIZE)):
        yield batch


def _write_jsonl(records: Iterable[dict], path: Path) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as stream:
        for record in records:
            stream.write(_JSON_LINE(record) + "\n")
            count += 1
    return count


def _arrow_batches(records: Iterable[dict]):
    """Arrow record batches with one schema, taken from the first batch (a preset's records share their shape)."""
    import pyarrow as pa

    schema = None
    for batch in _batches(records):
        table = pa.Table.from_pylist(batch, schema=schema)
        schema = table.schema
        yield from table.to_batches()
    if schema is None:
        raise PrimitiveError("no records to write; ask for at least one record per split")


def _write_parquet(records: Iterable[dict], path: Path) -> int:
    import pyarrow.parquet as pq

    count, writer = 0, None
    try:
        for batch in _arrow_batches(records):
            writer = writer or pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
            count += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return count


def _write_hf(records: Iterable[dict], path: Path) -> int:
    """An Arrow stream file, memory-mapped into a Dataset and saved; its fingerprint is the file's hash."""
    import datasets
    import pyarrow as pa
    from datasets.table import MemoryMappedTable

    stream_path = path.with_name(path.name + ".arrow-stream")
    count, writer = 0, None
    try:
        with pa.OSFile(str(stream_path), "wb") as sink:
            for batch in _arrow_batches(records):
                writer = writer or pa.ipc.new_stream(sink, batch.schema)
                writer.write_batch(batch)
                count += batch.num_rows
            writer.close()
        dataset = datasets.Dataset(
            MemoryMappedTable.from_file(str(stream_path)), fingerprint=sha256_of(stream_path)[:16]
        )
        bars_were_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            dataset.save_to_disk(str(path))
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        del dataset
    finally:
        stream_path.unlink(missing_ok=True)
    return count


_WRITERS = {"jsonl": _write_jsonl, "parquet": _write_parquet, "hf": _write_hf}


def write_split(records: Iterable[dict], path: str | Path, fmt: str = "jsonl") -> int:
    """Write records to `path` (a file, or a folder for hf); returns how many were written."""
    check_format(fmt)
    return _WRITERS[fmt](records, Path(path))


def format_of(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        return "hf"
    for fmt, suffix in SUFFIXES.items():
        if suffix and path.name.endswith(suffix):
            return fmt
    raise PrimitiveError(f"cannot tell the format of {path}; expected a .jsonl or .parquet file or an hf folder")


def iter_split(path: str | Path) -> Iterator[dict]:
    """The records of one written split, one at a time."""
    path = Path(path)
    if not path.exists():
        raise PrimitiveError(f"{path} does not exist; write it with `primbench generate` first")
    fmt = format_of(path)
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                yield json.loads(line)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_SIZE):
            yield from batch.to_pylist()
    else:
        import datasets

        yield from datasets.load_from_disk(str(path))


def read_split(path: str | Path) -> list[dict]:
    """All records of one written split."""
    return list(iter_split(path))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """sha256 of each named file, or of every file inside a named folder (hf splits), by relative path."""
    hashes = {}
    for name in names:
        target = folder / name
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for file in files:
            hashes[file.relative_to(folder).as_posix()] = sha256_of(file)
    return hashes


def read_generated(folder: str | Path) -> dict[str, list[dict]]:
    """{split: records} of one preset folder written by `primbench generate`, checked against its manifest."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise PrimitiveError(f"{folder} has no manifest.json; pass a preset folder written by `primbench generate`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    split_files = manifest["split_files"]
    if file_hashes(folder, split_files.values()) != manifest["files"]:
        raise PrimitiveError(f"{folder}: files differ from the sha256 sums in manifest.json; regenerate the folder")
    return {split: read_split(folder / name) for split, name in split_files.items()}
