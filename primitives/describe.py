"""Text for `primbench list` and `primbench show`: the knob tables and pretty-printed examples."""

from __future__ import annotations

from primbench.primitives.dataset import PrimitiveDataset
from primbench.primitives.knobs import knob_specs
from primbench.primitives.registry import PAPER_SUITE, PRESETS, PRIMITIVES


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def catalog_text(primitive: str | None = None) -> str:
    """Every primitive (or one) with its knobs (default, range, meaning) and its presets."""
    lines: list[str] = []
    for name, module in PRIMITIVES.items():
        if primitive is not None and name != primitive:
            continue
        summary = module.__doc__.strip().splitlines()[0]
        lines += [f"{name}: {summary}", "", "  knobs:"]
        specs = knob_specs(module.Config)
        lines += _table(
            [["name", "default", "range", "meaning"]] + [[s.name, str(s.default), s.range_text, s.help] for s in specs],
            indent="    ",
        )
        lines += ["", "  presets (* = in the paper's suite):"]
        rows = []
        for preset in PRESETS.values():
            if preset.primitive == name:
                knobs = " ".join(f"{k}={v}" for k, v in preset.knobs.items()) or "(defaults)"
                marker = "*" if preset.name in PAPER_SUITE else " "
                rows.append([f"{marker} {preset.name}", knobs, preset.description])
        lines += _table(rows, indent="    ")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def examples_text(dataset: PrimitiveDataset, split: str, n: int, start: int = 0) -> str:
    """A header line, then each record's id, prompt and answer."""
    preset = dataset.preset
    changed = {k: v for k, v in dataset.knobs.items() if v != getattr(type(dataset.config)(), k)}
    knobs = " ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"
    lines = [f"{preset.name}: {preset.description}", f"seed {dataset.seed}, split {split}, knobs: {knobs}"]
    for record in dataset.records(split, n, start):
        lines += ["", f"--- {record['id']} ---", record["prompt"], f"=> {record['answer']}"]
    return "\n".join(lines) + "\n"
