"""The files of the two diagnostics commands: `isoplot` (isoplot.csv/png) and `sweep` (sweep.csv/png).

They live with the other renderers so that the measuring package (`analysis`) never imports the drawing one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from primbench.atomic import write_text
from primbench.harness.analysis import isoplot, sweep
from primbench.harness.reports.plots import plot_isoplot, plot_sweep


def write_isoplot(points: list[isoplot.IsoplotPoint], out_dir: str | Path, text_name: str) -> dict[str, Path]:
    """`isoplot.csv` (one row per checkpoint and task) and `isoplot.png` (mean accuracy against bits per byte)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(isoplot.COLUMNS)
    for point in points:
        for task, cell in point.scores.items() or [("", {"accuracy": "", "n": ""})]:  # no tasks: bits per byte only
            writer.writerow([point.run, point.checkpoint, round(point.x, 6), task, cell["accuracy"], cell["n"]])
    out = Path(out_dir)
    written = {"isoplot.csv": write_text(buffer.getvalue(), out / "isoplot.csv")}
    curves: dict[str, list[tuple[float, float]]] = {}
    for point in points:
        if point.mean_accuracy is not None:
            curves.setdefault(point.run, []).append((point.x, point.mean_accuracy))
    written["isoplot.png"] = plot_isoplot(
        curves,
        out / "isoplot.png",
        f"few-shot accuracy vs bits per byte on {text_name}",
        xlabel=f"bits per byte on {text_name} (lower is better)",
    )
    return written


def write_sweep(rows: list[sweep.SweepRow], out_dir: str | Path) -> dict[str, Path]:
    """`sweep.csv` (one row per model and point) and `sweep.png`, each written atomically."""
    out = Path(out_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(sweep.COLUMNS)
    writer.writerows(row.csv_fields() for row in rows)
    written = {"sweep.csv": write_text(buffer.getvalue(), out / "sweep.csv")}
    written["sweep.png"] = plot_sweep(rows, out / "sweep.png")
    return written
