"""Token shards: cut into units, the same for any number of workers, resumable, keyed by cheap facts, memory-bounded."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import micro_config, write_corpus

from primbench.model_zoo import corpus, prepare
from primbench.model_zoo.data import ShardedTokens, load_tokens


@pytest.fixture
def mixed_corpus(tmp_path):
    """A folder of .txt, .jsonl and .parquet files, several units each at a 16 KB unit size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "mixed"
    folder.mkdir()
    write_corpus(folder / "a.txt", sentences=1500, seed=1)
    lines = write_corpus(tmp_path / "lines.txt", sentences=1500, seed=2).read_text().splitlines()
    (folder / "b.jsonl").write_text("".join(json.dumps({"text": line}) + "\n" for line in lines if line))
    rows = write_corpus(tmp_path / "rows.txt", sentences=1500, seed=3).read_text().split("\n\n")
    pq.write_table(pa.table({"text": rows}), folder / "c.parquet", row_group_size=8)
    return folder


def _prepare(config, monkeypatch, unit_bytes=16_384):
    monkeypatch.setattr(prepare, "UNIT_BYTES", unit_bytes)
    return prepare.prepare_shards(config, progress=False)


def test_units_cut_files_at_line_breaks_and_keep_every_byte(mixed_corpus):
    units = corpus.local_units(sorted(mixed_corpus.iterdir()), "text", 16_384)
    text_units = [u for u in units if u.path.endswith("a.txt")]
    assert len(text_units) > 3 and [u.ends_document for u in text_units] == [False] * (len(text_units) - 1) + [True]
    assert (
        b"".join(open(u.path, "rb").read()[u.start : u.end] for u in text_units)
        == (mixed_corpus / "a.txt").read_bytes()
    )
    assert all(open(u.path, "rb").read()[: u.start].endswith(b"\n") for u in text_units[1:])
    assert [u.index for u in units] == list(range(len(units))) and [u.last for u in units].count(True) == 1
    # whole documents read back through units equal the files' own documents
    documents = list(corpus.read_documents(str(mixed_corpus)))
    assert documents[0] == (mixed_corpus / "a.txt").read_text()
    jsonl = [json.loads(line)["text"] for line in (mixed_corpus / "b.jsonl").read_text().splitlines()]
    assert documents[1 : 1 + len(jsonl)] == jsonl


def test_shards_do_not_depend_on_the_number_of_workers(mixed_corpus, monkeypatch, token_cache, tmp_path):
    config = micro_config("midas", mixed_corpus, "data.prepare_workers=1")
    one = _prepare(config, monkeypatch)
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["units"] > 6 and manifest["dtype"] == "uint16" and manifest["documents"] > 1000
    for shard in manifest["shards"]:  # every sha256 and count checks out against the file itself
        tokens = np.fromfile(one / shard["file"], dtype=np.uint16)
        assert len(tokens) == shard["tokens"] and hashlib.sha256(tokens.tobytes()).hexdigest() == shard["sha256"]
    assert sum(s["tokens"] for s in manifest["shards"]) == sum(manifest["tokens"].values())
    monkeypatch.setenv("PRIMBENCH_CACHE", str(tmp_path / "other-cache"))
    two = _prepare(micro_config("midas", mixed_corpus, "data.prepare_workers=2"), monkeypatch)
    assert two != one and json.loads((two / "manifest.json").read_text())["shards"] == manifest["shards"]


def test_an_interrupted_preparation_resumes_where_it_stopped(mixed_corpus, monkeypatch):
    config = micro_config("midas", mixed_corpus, "data.prepare_workers=1")
    folder = _prepare(config, monkeypatch)
    manifest = (folder / "manifest.json").read_text()
    # as after a crash in unit 3: no manifest, unit 3's record and shards gone, units 0-2 and 4+ done
    (folder / "manifest.json").unlink()
    (folder / "000003.json").unlink()
    for shard in folder.glob("*_000003.bin"):
        shard.unlink()
    encoded = []
    original = prepare.encode_unit
    monkeypatch.setattr(prepare, "encode_unit", lambda unit, plan: encoded.append(unit.index) or original(unit, plan))
    assert _prepare(config, monkeypatch) == folder
    assert encoded == [3] and (folder / "manifest.json").read_text() == manifest


def test_cache_key_comes_from_cheap_facts(tmp_path, monkeypatch):
    path = write_corpus(tmp_path / "text.txt", sentences=300)
    config = micro_config("midas", path)
    key = prepare.shard_folder(config)
    real_open = open

    def no_corpus_reads(file, *args, **kwargs):
        assert str(file) != str(path), "the cache key must not read the corpus"
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr("builtins.open", no_corpus_reads)
        assert prepare.shard_folder(config) == key
    assert prepare.shard_folder(micro_config("midas", path, "data.val_fraction=0.02")) != key
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert prepare.shard_folder(config) != key


def test_sharded_tokens_slice_across_shard_boundaries(tmp_path):
    parts = [np.arange(0, 5, dtype=np.uint16), np.arange(5, 7, dtype=np.uint16), np.arange(7, 20, dtype=np.uint16)]
    for i, part in enumerate(parts):
        part.tofile(tmp_path / f"{i}.bin")
    tokens = ShardedTokens([tmp_path / f"{i}.bin" for i in range(3)], "uint16")
    assert len(tokens) == 20
    for start in range(20):
        for stop in range(start, 21):
            assert tokens[start:stop].tolist() == list(range(start, stop))
    assert np.asarray(tokens).tolist() == list(range(20))


def test_hf_spec_streams_a_dataset_folder(mixed_corpus, tmp_path, monkeypatch):
    assert corpus.parse_hf_spec("hf:HuggingFaceFW/fineweb-edu:sample-10BT@train") == (
        "HuggingFaceFW/fineweb-edu",
        "sample-10BT",
        "train",
    )
    assert corpus.parse_hf_spec("hf:wikitext") == ("wikitext", None, "train")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "b.jsonl").write_bytes((mixed_corpus / "b.jsonl").read_bytes())
    streamed = list(corpus.read_documents(f"hf:{folder}@train"))
    assert streamed == list(corpus.read_documents(str(folder / "b.jsonl")))
    data = load_tokens(_prepare(micro_config("midas", f"hf:{folder}@train", "data.prepare_workers=1"), monkeypatch))
    assert data.manifest["documents"] == len(streamed) and data.manifest["units"] > 1


_MEASURE = """
import json, resource, sys
from primbench.model_zoo import prepare
from primbench.model_zoo.config import load_config
prepare.UNIT_BYTES, prepare.TOKENIZER_TRAIN_CHARS = int(sys.argv[2]), int(sys.argv[4])
overrides = [f"data.corpus={sys.argv[1]}", "data.max_chars=0", f"data.prepare_workers={sys.argv[3]}"]
folder = prepare.prepare_shards(load_config("micro-midas", overrides), progress=False)
peak_kb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
workers_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker's peak
print(json.dumps({"peak": peak_kb * 1024, "worker_peak": workers_kb * 1024, "folder": folder.as_posix()}))
"""


def peak_memory_of_prepare(corpus_path, unit_bytes: int, workers: int, cache, tokenizer_chars: int) -> dict:
    """Prepare in a fresh interpreter; its peak resident memory (VmHWM) and its largest worker's."""
    env = {**os.environ, "PRIMBENCH_CACHE": str(cache), "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_MEASURE),
            str(corpus_path),
            str(unit_bytes),
            str(workers),
            str(tokenizer_chars),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is read from /proc")
def test_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    """0.7 MB and 5.7 MB of text in 250 KB units: the peak is the same to within a fraction of the extra text, so
    memory is bounded by the unit, not by the corpus. (The tokenizer learns from the first 250 KB here, to be quick;
    its training state is bounded by TOKENIZER_TRAIN_CHARS and the vocabulary.)"""
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    for i in range(8):
        write_corpus(large / f"part{i}.txt", sentences=10_000, seed=i)
    (small / "part0.txt").write_bytes((large / "part0.txt").read_bytes())
    sizes = [sum(f.stat().st_size for f in folder.iterdir()) for folder in (small, large)]
    peaks = [
        peak_memory_of_prepare(folder, 250_000, 1, tmp_path / "cache", 250_000)["peak"] for folder in (small, large)
    ]
    assert peaks[1] - peaks[0] < (sizes[1] - sizes[0]) / 4, (peaks, sizes)


@pytest.mark.slow
def test_two_gigabytes_prepare_under_one_and_a_half_gigabytes(tmp_path):
    """About 2 GB of generated text with two workers: the issue's acceptance check (many minutes on 2 cores)."""
    folder = tmp_path / "2gb"
    folder.mkdir()
    block = write_corpus(tmp_path / "block.txt", sentences=200_000).read_bytes()  # ~15 MB
    for i in range(2 * 2**30 // (8 * len(block)) + 1):
        (folder / f"part{i:03d}.txt").write_bytes(block * 8)
    assert sum(f.stat().st_size for f in folder.iterdir()) >= 2 * 2**30
    measured = peak_memory_of_prepare(folder, prepare.UNIT_BYTES, 2, tmp_path / "cache", prepare.TOKENIZER_TRAIN_CHARS)
    assert measured["peak"] + 2 * measured["worker_peak"] < 1.5 * 2**30, measured
    manifest = json.loads((Path(measured["folder"]) / "manifest.json").read_text())
    assert manifest["tokens"]["train"] > 300_000_000
