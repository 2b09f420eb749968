"""Examples per second of generate-to-JSONL for every preset, beside reasoning-gym's chain_sum in the same run.

    python benchmarks/bench_generate.py                       # every preset, 4,000 records each
    python benchmarks/bench_generate.py --n 20000 --presets arithmetic_psm3 variable_assignment_d1_math
    python benchmarks/bench_generate.py --ceiling            # also: the rate if drawing were free
    python benchmarks/bench_generate.py --stream-check 10000000   # peak RSS of a 10M-record `generate`

Each preset writes train, validation and test records in the ratio 3:1:1 (test and validation items cost more
draws: a problem must hash into the smaller splits) through `write_split`, the same streaming path `primbench
generate` uses (small enumerated spaces are written whole, repeatedly, up to the same count). chain_sum
(reasoning-gym's arithmetic task, `pip install -e '.[bench]'`) is timed writing the same number of items as JSON
lines before and after each preset; a preset's ratio is against the mean of those two runs, so load from other
processes on the machine shifts both sides alike. Target: ratio >= 2 for every preset.
The stream check runs `primbench generate` in a child process and reports its peak RSS (target: under 200 MB).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from primbench.primitives.dataset import SPLITS  # noqa: E402
from primbench.primitives.export import write_split  # noqa: E402
from primbench.primitives.registry import PRESETS, build_dataset  # noqa: E402

TARGET_RATIO = 2.0
RSS_LIMIT_MB = 200


def mix(n: int) -> dict[str, int]:
    return {"train": 3 * n // 5, "validation": n // 5, "test": n - 3 * n // 5 - n // 5}


def preset_rate(name: str, n: int, folder: Path) -> tuple[float, int]:
    """Records per second writing the 3:1:1 mix to JSONL. A small enumerated space is written whole, again and
    again within one file per split, up to the same count (so file opening does not dominate a 110-record PSM)."""
    dataset = build_dataset(name, 0)
    wanted = mix(n)
    counts = {split: min(count, dataset.capacity(split) or count) for split, count in wanted.items()}
    dataset.record("train", 0)  # enumerated spaces are built once per dataset; time the steady state
    written = 0
    start = time.perf_counter()
    for split in SPLITS:
        passes = -(-wanted[split] // counts[split])
        records = itertools.chain.from_iterable(dataset.records(split, counts[split]) for _ in range(passes))
        written += write_split(records, folder / f"{name}-{split}.jsonl")
    return written / (time.perf_counter() - start), written


def render_and_write_rate(name: str, n: int, folder: Path) -> float | None:
    """Records per second of the part of generation that is not drawing: render each prompt, encode, write.

    The records are drawn beforehand, so this is the rate generation would reach if drawing were free. None for
    enumerated spaces, whose prompts are rendered once when the space is built, not per record."""
    dataset = build_dataset(name, 0)
    if dataset.capacity("train") is not None:
        return None
    drawn = [
        dataset.record(split, index % (dataset.capacity(split) or n))
        for split, count in mix(n).items()
        for index in range(count)
    ]
    start = time.perf_counter()
    write_split(({**record, "prompt": dataset.render(record["meta"])} for record in drawn), folder / f"{name}.jsonl")
    return len(drawn) / (time.perf_counter() - start)


def chain_sum_rate(n: int, folder: Path) -> float | None:
    try:
        import reasoning_gym
    except ImportError:
        return None
    start = time.perf_counter()
    dataset = reasoning_gym.create_dataset("chain_sum", seed=42, size=n)
    with open(folder / "chain_sum.jsonl", "w", encoding="utf-8") as stream:
        for item in dataset:
            stream.write(json.dumps(item, ensure_ascii=False))
            stream.write("\n")
    return n / (time.perf_counter() - start)


def stream_check(n: int, preset: str) -> None:
    """Peak RSS of `primbench generate` writing n train records, against a 1,000-record run of the same."""
    peaks = {}
    for count in (1_000, n):
        with tempfile.TemporaryDirectory() as out:
            # VmHWM, not ru_maxrss: the latter keeps the high-water mark of the forked parent across exec.
            code = (
                "import re, sys; from primbench.primitives.writer import generate; "
                f"generate([{preset!r}], {out + '/d'!r}, {{'train': {count}, 'validation': 1, 'test': 1}}, "
                "seed=0, progress=sys.stderr.isatty()); "
                "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
            )
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            peaks[count] = int(result.stdout.split()[-1]) / 1024
            seconds = time.perf_counter() - start
        print(
            f"stream check: {preset}, {count:,} records: peak RSS {peaks[count]:.0f} MB, {seconds:.0f} s "
            f"({count / seconds:,.0f} records/s incl. startup)"
        )
    verdict = "meets" if peaks[n] < RSS_LIMIT_MB else "MISSES"
    print(
        f"peak RSS grows {peaks[n] - peaks[1_000]:+.1f} MB from 1,000 to {n:,} records; "
        f"{verdict} the {RSS_LIMIT_MB} MB target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="records per preset (3:1:1 train/validation/test)")
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also time rendering and writing records drawn beforehand (drawing made free)",
    )
    parser.add_argument("--stream-check", type=int, metavar="N", help="also measure peak RSS generating N records")
    parser.add_argument("--stream-preset", default="arithmetic_assign3")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        before = chain_sum_rate(args.n, folder)
        for name in args.presets:
            rate, count = preset_rate(name, args.n, folder)
            ceiling = render_and_write_rate(name, args.n, folder) if args.ceiling else None
            after = chain_sum_rate(args.n, folder)
            # The baseline of a preset is chain_sum run just before and just after it: load comes and goes.
            rows.append((name, count, rate, None if before is None else (before + after) / 2, ceiling))
            before = after

    if rows[0][3] is None:
        print("reasoning-gym is not installed (pip install -e '.[bench]'): printing our rates without a baseline")
    header = f"{'preset':42s} {'records':>8s} {'records/s':>10s} {'chain_sum/s':>12s} {'x chain_sum':>12s}"
    print(header + (f" {'ceiling x':>10s}" if args.ceiling else ""))
    for name, count, rate, baseline, ceiling in rows:
        ratio = "" if baseline is None else f"{rate / baseline:.2f}{'' if rate / baseline >= TARGET_RATIO else ' <2'}"
        line = f"{name:42s} {count:8d} {rate:10,.0f} {baseline or 0:12,.0f} {ratio:>12s}"
        if args.ceiling:
            line += f" {ceiling / (baseline or ceiling):10.2f}" if ceiling else f" {'-':>10s}"
        print(line)
    if args.ceiling:
        print(
            "ceiling x: chain_sum multiples of rendering and writing alone, records drawn beforehand "
            "(- : an enumerated space, rendered once)"
        )
    if rows[0][3] is not None:
        met = sum(rate / baseline >= TARGET_RATIO for _, _, rate, baseline, _ in rows)
        print(f"{met} of {len(rows)} presets reach {TARGET_RATIO}x chain_sum (reasoning-gym, run beside each)")
    if args.stream_check:
        stream_check(args.stream_check, args.stream_preset)
    print(
        f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
        f"cpu count {os.cpu_count()})"
    )


if __name__ == "__main__":
    main()
