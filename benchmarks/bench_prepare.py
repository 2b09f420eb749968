"""Speed of `primbench prepare` in MB/s of text, against a plain `tokenizers` loop in the same process.

The baseline reads each file and calls `Tokenizer.encode_batch` on batches of its lines with the same tokenizer,
keeping nothing: the least work that tokenises the same text. `prepare` also cuts chunks, decides the split,
writes shards and hashes them. Both run single-threaded by default (TOKENIZERS_PARALLELISM=false) so the ratio
compares work, not thread counts; `--workers N` shows prepare's process pool instead.

    python benchmarks/bench_prepare.py                       # ~50 MB of generated text, about a minute
    python benchmarks/bench_prepare.py --mb 500 --workers 8  # on a bigger machine
    python benchmarks/bench_prepare.py --corpus /data/text/  # your own files
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synthetic_text import sentences  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from primbench.model_zoo import prepare  # noqa: E402
from primbench.model_zoo.config import load_config  # noqa: E402


def synthetic_corpus(folder: Path, megabytes: int) -> Path:
    """Files of generated sentences, 10 MB each (speed does not depend on what the words are)."""
    block = "".join(sentence + "\n" for sentence in sentences(20000))
    copies = max(1, round(10 * 2**20 / len(block)))
    for index in range(max(1, megabytes // 10)):
        (folder / f"part{index:03d}.txt").write_text(block * copies)
    return folder


def plain_encode_mb_per_s(tokenizer_json: str, files: list[Path]) -> float:
    tokenizer = Tokenizer.from_str(tokenizer_json)
    started, size = time.perf_counter(), 0
    for file in files:
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        size += file.stat().st_size
        for start in range(0, len(lines), 4096):
            tokenizer.encode_batch_fast(lines[start : start + 4096], add_special_tokens=False)
    return size / 2**20 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50, help="megabytes of generated text (ignored with --corpus)")
    parser.add_argument("--corpus", default=None, help="data.corpus to prepare instead of generated text")
    parser.add_argument("--workers", type=int, default=1, help="data.prepare_workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["PRIMBENCH_CACHE"] = str(Path(scratch) / "cache")
        corpus = args.corpus or str(synthetic_corpus(Path(scratch), args.mb))
        config = load_config("tiny-midas", [f"data.corpus={corpus}", "data.max_chars=0"])
        config.data.prepare_workers = args.workers
        files = prepare.corpus._files_of(corpus)
        size = sum(f.stat().st_size for f in files) / 2**20
        # the tokenizer is trained (or loaded) first and timed apart: both sides then encode with it
        folder = prepare.shard_folder(config)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        tokenizer = prepare._tokenizer(config, folder, 1.0, progress=False)
        trained = time.perf_counter() - started
        plain = plain_encode_mb_per_s(tokenizer.backend_tokenizer.to_str(), files)
        started = time.perf_counter()
        prepare.prepare_shards(config, progress=False)
        ours = size / (time.perf_counter() - started)
        plain = max(plain, plain_encode_mb_per_s(tokenizer.backend_tokenizer.to_str(), files))
        print(
            f"prepare ({args.workers} worker(s)): {ours:.1f} MB/s vs plain tokenizers encode_batch loop "
            f"{plain:.1f} MB/s -> {ours / plain:.2f}x over {size:.0f} MB (tokenizer training {trained:.1f} s apart)"
        )


if __name__ == "__main__":
    main()
