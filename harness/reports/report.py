"""Turn a reproduction's `results.json` into tables people can read at a glance, and the plots beside them.

`table.md`, `table.csv` and `intervals.csv` are rendered from the jinja2 templates in `templates/`, so the wording
lives in one place and the numbers in another. Every accuracy stands beside its task's chance level and is marked when it
is not distinguishable from chance with the number of items scored: a tiny model's 23% on a task whose chance is
20% is noise, and the table has to say so rather than leave it to the reader.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from primbench.atomic import write_text
from primbench.harness.analysis.similarity import SimilarityResult
from primbench.harness.reports import plots
from primbench.harness.statistics import PROTOCOLS, above_chance, chance_margin, mean_accuracy
from primbench.model_zoo.config import METHODS


def table_context(results: dict) -> dict:
    """Everything the templates need, computed once here so the templates only lay it out."""
    tasks = results["tasks"]
    models = results["models"]
    methods = [method for method in METHODS if method in models] + [m for m in models if m not in METHODS]
    baseline_flops = (models.get("baseline", {}).get("training") or {}).get("flops")
    rows = []
    for task, info in tasks.items():
        chance = info["chance"]
        cells = {}
        for method in methods:
            fewshot = models[method].get("fewshot", {}).get("accuracy", {}).get(task)
            finetuned = models[method].get("finetuned", {}).get(task)
            fewshot_n = fewshot["n"] if fewshot else 0
            cells[method] = {
                "fewshot": fewshot["accuracy"] if fewshot else None,
                "fewshot_n": fewshot_n,
                "fewshot_signal": bool(fewshot) and above_chance(fewshot["accuracy"], chance, fewshot_n),
                "finetuned": finetuned["mean"] if finetuned else None,
                "finetuned_std": finetuned["std"] if finetuned else None,
                "finetuned_n": finetuned["n"] if finetuned else 0,
                "finetuned_signal": bool(finetuned) and above_chance(finetuned["mean"], chance, finetuned["n"]),
                "finetuned_fit": finetuned.get("fit") if finetuned else None,
                # below the blind-guess level: the tuning failed, the number is not a finding about the model
                "finetuned_failed": bool(finetuned) and finetuned["mean"] < chance,
            }
        rows.append({"task": task, "chance": chance, "cells": cells})
    training = []
    for method in methods:
        model = models[method]
        stats = model.get("training") or {}
        flops = stats.get("flops")
        training.append(
            {
                "method": method,
                "source": model.get("source"),
                "validation_loss": model.get("validation_loss"),
                "steps": stats.get("steps"),
                "tokens": stats.get("tokens"),
                "flops": flops,
                "flops_source": stats.get("flops_source"),
                "flops_vs_baseline": flops / baseline_flops if flops and baseline_flops else None,
                "wall_clock_s": stats.get("wall_clock_s"),
                "seed": stats.get("seed"),
                "fewshot_mean": mean_accuracy(
                    {task: row["cells"][method]["fewshot"] for task, row in zip(tasks, rows)}
                ),
                "finetuned_mean": mean_accuracy(
                    {task: row["cells"][method]["finetuned"] for task, row in zip(tasks, rows)}
                ),
                "neighbour_similarity": SimilarityResult(**model["similarity"]).neighbour_mean()
                if model.get("similarity")
                else None,
            }
        )
    items = [cell["fewshot_n"] for row in rows for cell in row["cells"].values() if cell["fewshot_n"]]
    fewest, most = (min(items), max(items)) if items else (0, 0)
    marks = [
        cell[f"{protocol}_signal"]
        for row in rows
        for cell in row["cells"].values()
        for protocol in ("fewshot", "finetuned")
        if cell[protocol] is not None
    ]
    tokens = [t["tokens"] for t in training if t["tokens"]]
    fewshot_scores = [
        score for model in models.values() for score in model.get("fewshot", {}).get("accuracy", {}).values()
    ]
    return {
        "results": results,
        "comparison": results.get("kind") == "comparison",
        "reference": results.get("reference", "baseline"),
        "x_label": results.get("x_label", "validation loss"),
        "methods": methods,
        "rows": rows,
        "training": training,
        "fewest_items": fewest,
        "most_items": most,
        "margin_at_half": chance_margin(0.5, most) if most else None,
        "measured": len(marks),
        "at_chance": marks.count(False),
        "most_tokens": max(tokens) if tokens else None,
        "fewshot_prompts": sum(score["n"] for score in fewshot_scores),
        "fewshot_truncated": sum(score.get("truncated", 0) for score in fewshot_scores),
        "settings": results.get("settings", {}),
        **interval_context(results, methods, results.get("reference", "baseline")),
    }


def interval_context(results: dict, methods: list[str], reference: str = "baseline") -> dict:
    """Rows of intervals over seeds and items, of paired differences, and the counts the closing statement states.

    Empty for a results.json without intervals (made before `--seeds`).
    """
    intervals, differences = results.get("intervals") or {}, results.get("differences") or {}
    rows, clears = [], {protocol: 0 for protocol in PROTOCOLS}
    verdict = {name: {protocol: {"above": 0, "below": 0, "zero": 0} for protocol in PROTOCOLS} for name in differences}
    for task, info in results["tasks"].items():
        cells = {}
        for method in methods:
            for protocol in PROTOCOLS:
                cell = intervals.get(method, {}).get(protocol, {}).get(task)
                cells[f"{method}/{protocol}"] = cell and {**cell, "signal": cell["low"] > info["chance"]}
                if cell and method == reference and cell["low"] > info["chance"]:
                    clears[protocol] += 1
        gaps = {}
        for name, by_protocol in differences.items():
            for protocol in PROTOCOLS:
                gap = by_protocol.get(protocol, {}).get(task)
                gaps[f"{name}/{protocol}"] = gap
                if gap:
                    side = "above" if gap["low"] > 0 else "below" if gap["high"] < 0 else "zero"
                    verdict[name][protocol][side] += 1
        rows.append({"task": task, "chance": info["chance"], "cells": cells, "gaps": gaps})
    return {
        "interval_rows": rows if intervals else [],
        "difference_names": list(differences),
        "baseline_clears": clears,
        "verdict": verdict,
        "separated": sum(v["above"] + v["below"] for by in verdict.values() for v in by.values()),
        "protocols": PROTOCOLS,
    }


def render_tables(results: dict) -> dict[str, str]:
    """{file name: text} of table.md, table.csv and, when results.json has intervals, intervals.csv."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("primbench.harness.reports", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(pct=_pct, num=_num, sci=_sci, csv=_csv_field, spct=_signed_pct)
    context = table_context(results)
    names = ["table.md", "table.csv"] + (["intervals.csv"] if context["interval_rows"] else [])
    return {name: environment.get_template(f"{name}.j2").render(context) for name in names}


def write_report(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write table.md, table.csv (and intervals.csv) and every PNG under out_dir; return what was written."""
    out = Path(out_dir)
    written = {name: write_text(text, out / name) for name, text in render_tables(results).items()}
    written.update(write_plots(results, out / "plots"))
    return written


def write_plots(results: dict, folder: Path) -> dict[str, Path]:
    """The isoplot, the per-primitive bars (few-shot and fine-tuned) and one similarity heatmap per model."""
    models = results["models"]
    chance = {task: info["chance"] for task, info in results["tasks"].items()}
    preset = results.get("preset", "comparison")
    written = {}
    curves = {
        method: [
            (point["validation_loss"], point["mean_accuracy"])
            for point in model.get("isoplot", [])
            if point.get("validation_loss") is not None and point.get("mean_accuracy") is not None
        ]
        for method, model in models.items()
    }
    bands = {}
    for method, model in models.items():
        seed_curves = model.get("seed_curves") or []
        if len(seed_curves) > 1 and len({len(curve) for curve in seed_curves}) == 1:
            curves[method], bands[method] = seed_band(seed_curves)
    title = f"{preset}: few-shot accuracy vs validation loss"
    xlabel = "validation loss (lower is better, training runs left to right)"
    if results.get("kind") == "comparison":
        title, xlabel = f"few-shot accuracy vs {results['x_label']}", f"{results['x_label']} (lower is better)"
    if any(curves.values()):
        written["isoplot.png"] = plots.plot_isoplot(curves, folder / "isoplot.png", title, xlabel, bands)
    for protocol, label in (("fewshot", "few-shot"), ("finetuned", "fine-tuned")):
        accuracies = {method: _protocol_accuracies(model, protocol) for method, model in models.items()}
        spans = {}
        for method, by_protocol in (results.get("intervals") or {}).items():
            cells = by_protocol.get(protocol, {})
            spans[method] = {task: (cell["low"], cell["high"]) for task, cell in cells.items()}
            accuracies[method] = {**accuracies.get(method, {}), **{task: c["mean"] for task, c in cells.items()}}
        if any(accuracies.values()):
            name = f"accuracy_{protocol}.png"
            written[name] = plots.plot_accuracy_per_primitive(
                accuracies, chance, folder / name, f"{preset}: {label} accuracy per primitive", spans
            )
    for method, model in models.items():
        similarity = model.get("similarity")
        if similarity:
            name = f"similarity_{method}.png"
            written[name] = plots.plot_similarity(
                similarity["matrix"],
                folder / name,
                f"{preset} {method}: block similarity",
                block_size=similarity["block_size"],
            )
    return written


def seed_band(seed_curves: list[list[list[float]]]) -> tuple[list[tuple[float, float]], tuple[list, list, list]]:
    """Checkpoint by checkpoint over a recipe's seeds: the mean (x, accuracy) line, and the accuracy's min-max band."""
    line, xs, lows, highs = [], [], [], []
    for points in zip(*seed_curves):
        x = sum(point[0] for point in points) / len(points)
        accuracies = [point[1] for point in points if point[1] is not None]
        if not accuracies:
            continue
        line.append((x, sum(accuracies) / len(accuracies)))
        xs.append(x)
        lows.append(min(accuracies))
        highs.append(max(accuracies))
    return line, (xs, lows, highs)


def _protocol_accuracies(model: dict, protocol: str) -> dict[str, float]:
    if protocol == "fewshot":
        return {task: cell["accuracy"] for task, cell in model.get("fewshot", {}).get("accuracy", {}).items()}
    return {task: cell["mean"] for task, cell in model.get("finetuned", {}).items()}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _signed_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _sci(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _csv_field(value) -> str:
    """One CSV field: empty for missing, quoted only when the text needs it (RFC 4180)."""
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    if any(mark in text for mark in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
