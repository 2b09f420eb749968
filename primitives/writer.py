"""`primbench generate`'s library side: write presets to one folder each, with a manifest and a dataset card.

Nothing is half-written: every count is checked against the splits' capacity before a file is opened, the
presets are written into a hidden temporary folder inside the output folder, and each preset folder is renamed
into place only once all of them are complete. Every written record is re-checked: its problem must hash to its
split, and its prompt must not appear in another split (a user's template that hides drawn values could make two
problems look alike). That check keeps an 8-byte digest per prompt of every split but the largest, which is
written last, so memory does not grow with the largest split.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from primbench import __version__
from primbench.primitives.dataset import SPLITS, PrimitiveDataset, load_template
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.export import SUFFIXES, check_format, file_hashes, write_split
from primbench.primitives.registry import build_dataset, route_knobs

PROGRESS_THRESHOLD = 20_000  # records; smaller runs finish too fast for a progress bar to help
# Counts used when the user gives none; each is capped at what the split holds (`PrimitiveDataset.capacity`).
DEFAULT_COUNTS = {"train": 1000, "validation": 200, "test": 500}


def build_datasets(
    presets: list[str], seed: int, overrides: dict[str, Any] | None = None, template: str | Path | None = None
) -> list[PrimitiveDataset]:
    """One dataset per preset; each `--set` knob goes to the presets whose primitive has it."""
    routed = route_knobs(overrides, presets)
    return [build_dataset(name, seed, routed[name], template) for name in presets]


def _prepare_output(out: Path, overwrite: bool) -> bool:
    """Make sure `out` is a writable folder we may fill; returns whether it was created here."""
    if out.exists() and not out.is_dir():
        raise PrimitiveError(f"--out {out} is a file; pass a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PrimitiveError(
            f"--out {out} is not empty; pass --overwrite to replace its preset folders, or choose an empty folder"
        )
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PrimitiveError(f"cannot create --out {out}: {error.strerror}; choose a writable folder")
    if not os.access(out, os.W_OK | os.X_OK):
        raise PrimitiveError(f"--out {out} is not writable; choose a writable folder")
    return created


def _command(dataset: PrimitiveDataset, counts: dict[str, int], fmt: str, overrides: dict[str, Any]) -> str:
    parts = [
        "primbench",
        "generate",
        dataset.preset.name,
        "--out",
        "DIR",
        "--seed",
        str(dataset.seed),
        "--n-train",
        str(counts["train"]),
        "--n-val",
        str(counts["validation"]),
        "--n-test",
        str(counts["test"]),
        "--format",
        fmt,
    ]
    for name, value in overrides.items():
        parts += ["--set", f"{name}={value}"]
    if dataset.template_source is not None:
        parts += ["--template", Path(dataset.template_name).name]
    return shlex.join(parts)


def _checked(records, dataset: PrimitiveDataset, split: str, earlier: set[bytes], current: set[bytes] | None, bar):
    """Pass records through, checking each problem's split and that its prompt is in no earlier-written split.

    Digests of this split's prompts go into `current` (None for the last split written: nothing is checked
    against it)."""
    count = 0
    for count, record in enumerate(records, 1):
        if dataset.split_of_problem(record["meta"]) != split:
            raise RuntimeError(
                f"record {record['id']} is a problem of split {dataset.split_of_problem(record['meta'])}, not {split}"
            )
        digest = hashlib.blake2b(record["prompt"].encode(), digest_size=8).digest()
        if digest in earlier:
            raise PrimitiveError(
                f"template {Path(dataset.template_name).name} renders the same prompt for problems "
                f"of two splits ({record['id']} is one); it must show every drawn value "
                f"(primitives/templates/README.md lists them)"
            )
        if current is not None:
            current.add(digest)
        if bar is not None and count % 1024 == 0:
            bar.update(1024)
        yield record
    if bar is not None:
        bar.update(count % 1024)


def write_preset(
    dataset: PrimitiveDataset,
    folder: Path,
    counts: dict[str, int],
    fmt: str,
    overrides: dict[str, Any] | None = None,
    bar=None,
) -> dict:
    """Write one preset's splits, manifest.json and README.md into `folder` (which must not exist yet)."""
    folder.mkdir()
    split_files = {split: f"{split}{SUFFIXES[fmt]}" for split in SPLITS}
    earlier: set[bytes] = set()  # prompt digests of the splits written so far
    order = sorted(SPLITS, key=lambda split: counts[split])  # the largest last: its digests are never kept
    for split in order:
        current = None if split == order[-1] else set()
        write_split(
            _checked(dataset.records(split, counts[split]), dataset, split, earlier, current, bar),
            folder / split_files[split],
            fmt,
        )
        earlier |= current or set()
    if fmt == "hf":  # makes the preset folder load as one DatasetDict with datasets.load_from_disk
        (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(SPLITS)}), encoding="utf-8")
    source = dataset.template_source
    if source is None:
        source = Path(load_template(dataset.template_name).filename).read_text(encoding="utf-8")
    capacity = {split: dataset.capacity(split) for split in SPLITS}
    overrides = {k: v for k, v in (overrides or {}).items() if k in dataset.knobs}
    manifest = {
        "primbench_version": __version__,
        "preset": dataset.preset.name,
        "primitive": dataset.preset.primitive,
        "variant": dataset.preset.variant,
        "description": dataset.preset.description,
        "seed": dataset.seed,
        "knobs": dataset.knobs,
        "template": {"name": Path(dataset.template_name).name, "sha256": hashlib.sha256(source.encode()).hexdigest()},
        "format": fmt,
        "counts": dict(counts),
        "capacity": capacity,
        "split_shares": dataset.split_shares,
        "split_files": split_files,
        "files": file_hashes(folder, split_files.values()),
        "command": _command(dataset, counts, fmt, overrides),
    }
    total = sum(counts.values())
    card = load_template("dataset_card.md.j2").render(
        preset=dataset.preset,
        version=manifest["primbench_version"],
        seed=dataset.seed,
        command=manifest["command"],
        counts=counts,
        capacity=capacity,
        knobs=dataset.knobs,
        template_name=manifest["template"]["name"],
        template_sha256=manifest["template"]["sha256"],
        example=dataset.record("train", 0),
        data_files=split_files if fmt != "hf" else None,
        size_category="n<1K"
        if total < 1_000
        else "1K<n<10K"
        if total < 10_000
        else "10K<n<100K"
        if total < 100_000
        else "100K<n<1M"
        if total < 1_000_000
        else "1M<n<10M",
    )
    (folder / "README.md").write_text(card + "\n", encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def resolve_counts(dataset: PrimitiveDataset, counts: dict[str, int | None], strict: bool = False) -> dict[str, int]:
    """Missing counts are the defaults capped at capacity. A given count above capacity is clipped to it with one
    warning line on stderr per split (a suite such as --paper mixes spaces of very different sizes), or with
    `strict` refused by a PrimitiveError that gives the numbers."""
    resolved = {}
    for split in SPLITS:
        wanted, capacity = counts.get(split), dataset.capacity(split)
        if wanted is None:
            wanted = DEFAULT_COUNTS[split] if capacity is None else min(DEFAULT_COUNTS[split], capacity)
        elif wanted < 1:
            raise PrimitiveError(f"--n-{'val' if split == 'validation' else split} must be at least 1, not {wanted}")
        elif capacity is not None and wanted > capacity and not strict:
            print(
                f"warning: {dataset.preset.name}: its {split} split holds {capacity} distinct problems, so it gets "
                f"{capacity} records, not {wanted} (--strict refuses instead)",
                file=sys.stderr,
            )
            wanted = capacity
        resolved[split] = wanted
    dataset.check_counts(resolved)
    return resolved


def generate(
    presets: list[str],
    out: str | Path,
    counts: dict[str, int | None] | None = None,
    seed: int = 0,
    fmt: str = "jsonl",
    overrides: dict[str, Any] | None = None,
    template: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    strict: bool = False,
) -> list[dict]:
    """Write each preset to `out/<preset>/`; returns the manifests. Raises PrimitiveError before writing anything.

    A count above what a split holds is clipped to it with a warning line, or refused when `strict`."""
    check_format(fmt)
    if not presets:
        raise PrimitiveError("no presets given; name some (see `primbench list`) or pass --all")
    datasets = build_datasets(list(dict.fromkeys(presets)), seed, overrides, template)
    plan = [(dataset, resolve_counts(dataset, counts or {}, strict)) for dataset in datasets]
    out = Path(out)
    created = _prepare_output(out, overwrite)
    staging = Path(tempfile.mkdtemp(prefix=".primbench-generate-", dir=out))
    total = sum(sum(split_counts.values()) for _, split_counts in plan)
    bar = None
    if progress and total >= PROGRESS_THRESHOLD:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="rec", desc="generate")
    try:
        manifests = []
        for dataset, split_counts in plan:
            if bar is not None:
                bar.set_postfix_str(dataset.preset.name)
            manifests.append(write_preset(dataset, staging / dataset.preset.name, split_counts, fmt, overrides, bar))
        for dataset, _ in plan:
            target = out / dataset.preset.name
            if target.exists():
                target.rename(staging / f".replaced-{dataset.preset.name}")
            (staging / dataset.preset.name).rename(target)
        return manifests
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
