"""The pictures: similarity heatmaps, the isoplot, accuracy per primitive, and the difficulty sweep.

Matplotlib runs on the Agg backend (no display needed) and every figure is written to a temporary file in the
target folder and renamed, so a crash never leaves half a PNG behind.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

from primbench.atomic import atomic_path
from primbench.harness.statistics import Z_95
from primbench.model_zoo.operators import methods

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# One colour per growth method, the same in every figure so the reader can match them by eye: the registry's order
# through this cycle (baseline blue, gradstack orange, midas green, then the operators registered after them).
COLOUR_CYCLE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
DPI = 100


def method_colour(name: str) -> str | None:
    """The colour of growth method `name`; None (matplotlib's next colour) for anything else, e.g. a run folder."""
    registered = methods()
    return COLOUR_CYCLE[registered.index(name) % len(COLOUR_CYCLE)] if name in registered else None


def save_figure(figure, path: str | Path) -> Path:
    """Write a figure as PNG atomically (temp file in the same folder, then rename) and close it."""
    try:
        with atomic_path(path) as scratch:
            # Fixed metadata keeps the bytes identical from run to run (matplotlib otherwise stamps its version).
            figure.savefig(scratch, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(figure)
    return Path(path)


def plot_similarity(matrix: list[list[float]], path: str | Path, title: str, block_size: int = 1) -> Path:
    """Heatmap of block cosine similarities, with the value written in each cell when the grid is small."""
    size = len(matrix)
    figure, axes = plt.subplots(figsize=(4.8, 4.2))
    image = axes.imshow(matrix, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
    figure.colorbar(image, ax=axes, label="cosine similarity")
    unit = "layer" if block_size == 1 else f"block of {block_size} layers"
    axes.set_xlabel(f"{unit} (input side first)")
    axes.set_ylabel(unit)
    axes.set_title(title)
    ticks = list(range(size))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    if size <= 12:
        for row in range(size):
            for column in range(size):
                value = matrix[row][column]
                axes.text(
                    column,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(value) > 0.6 else "black",
                )
    figure.tight_layout()
    return save_figure(figure, path)


def plot_isoplot(
    curves: dict[str, list[tuple[float, float]]],
    path: str | Path,
    title: str,
    xlabel: str = "validation loss (lower is better, training runs left to right)",
    bands: dict[str, tuple[list[float], list[float], list[float]]] | None = None,
) -> Path:
    """Accuracy against validation loss (or bits per byte) over training, one line per run (the paper's isoplot).

    The x axis is inverted so that training moves left to right; at equal loss a higher curve means a better
    inductive bias, which is the comparison the paper draws. `primbench reproduce`, `compare` and `isoplot` draw
    here. `bands` ({name: (x, low, high)}) shades each recipe's spread over its seeds around its line.
    """
    figure, axes = plt.subplots(figsize=(5.6, 4.2))
    for method, points in curves.items():
        ordered = sorted(points, key=lambda point: -point[0])
        (line,) = axes.plot(
            [loss for loss, _ in ordered],
            [accuracy for _, accuracy in ordered],
            marker="o",
            label=method,
            color=method_colour(method),
        )
        if bands and method in bands:
            axes.fill_between(*bands[method], color=line.get_color(), alpha=0.18, linewidth=0)
    axes.invert_xaxis()
    axes.set_xlabel(xlabel)
    axes.set_ylabel("mean few-shot accuracy over primitives")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if curves:
        axes.legend()
    figure.tight_layout()
    return save_figure(figure, path)


def plot_accuracy_per_primitive(
    accuracies: dict[str, dict[str, float]],
    chance: dict[str, float],
    path: str | Path,
    title: str,
    intervals: dict[str, dict[str, tuple[float, float]]] | None = None,
) -> Path:
    """Grouped bars: one group per task, one bar per method, a black tick at each task's chance level.

    `intervals` ({method: {task: (low, high)}}) draws each bar's 95% interval as an error bar.
    """
    methods = list(accuracies)
    tasks = list(chance)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(tasks) + 2), 4.4))
    width = 0.8 / max(len(methods), 1)
    for offset, method in enumerate(methods):
        positions = [index + (offset - (len(methods) - 1) / 2) * width for index in range(len(tasks))]
        heights = [accuracies[method].get(task) or 0.0 for task in tasks]
        axes.bar(positions, heights, width=width, label=method, color=method_colour(method))
        spans = (intervals or {}).get(method, {})
        marked = [(x, h, spans[task]) for x, h, task in zip(positions, heights, tasks) if task in spans]
        if marked:
            axes.errorbar(
                [x for x, _, _ in marked],
                [h for _, h, _ in marked],
                yerr=[
                    [max(h - low, 0.0) for _, h, (low, _) in marked],
                    [max(high - h, 0.0) for _, h, (_, high) in marked],
                ],
                fmt="none",
                ecolor="black",
                elinewidth=0.8,
                capsize=2,
            )
    for index, task in enumerate(tasks):
        axes.hlines(
            chance[task],
            index - 0.45,
            index + 0.45,
            colors="black",
            linewidth=1.5,
            zorder=3,
            label="chance" if index == 0 else None,
        )
    axes.set_xticks(list(range(len(tasks))))
    axes.set_xticklabels([task.removeprefix("prim_") for task in tasks], rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_sweep(rows, path: str | Path) -> Path:
    """Accuracy against the knob value, one line per model, a 95% interval band and the chance line.

    `rows` are `harness.analysis.sweep.SweepRow`s of one preset and knob grid, in grid order. A point whose
    prompts were cut by the model's context is drawn hollow: fewer shots than asked reached the model there.
    """
    values = list(dict.fromkeys(row.value for row in rows))
    positions = {value: index for index, value in enumerate(values)}
    figure, axes = plt.subplots(figsize=(max(5.6, 0.7 * len(values) + 2.5), 4.2))
    for model in dict.fromkeys(row.model for row in rows):
        mine = [row for row in rows if row.model == model]
        xs = [positions[row.value] for row in mine]
        accuracy = [row.accuracy for row in mine]
        margin = [Z_95 * (row.stderr or 0.0) for row in mine]
        (line,) = axes.plot(xs, accuracy, marker="o", label=Path(model).name or model)
        axes.fill_between(
            xs,
            [max(0.0, a - m) for a, m in zip(accuracy, margin)],
            [min(1.0, a + m) for a, m in zip(accuracy, margin)],
            color=line.get_color(),
            alpha=0.18,
        )
        cut = [(x, a) for x, a, row in zip(xs, accuracy, mine) if row.truncated]
        if cut:
            axes.scatter(
                *zip(*cut),
                s=90,
                facecolors="white",
                edgecolors=line.get_color(),
                zorder=3,
                label=f"{Path(model).name}: prompts cut by context",
            )
    chance = {positions[row.value]: row.chance for row in rows}
    axes.plot(sorted(chance), [chance[x] for x in sorted(chance)], linestyle="--", color="black", label="chance")
    axes.set_xticks(range(len(values)))
    axes.set_xticklabels(values, rotation=30 if len(values) > 8 else 0)
    axes.set_xlabel(rows[0].knob if rows else "knob")
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("few-shot accuracy (band: 95% interval)")
    axes.set_title(rows[0].preset if rows else "sweep")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)
