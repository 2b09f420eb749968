"""What `primbench eval --out` writes: lm-eval's results JSON and per-task samples, plus the score tables."""

from __future__ import annotations

import json
from pathlib import Path

from primbench.atomic import write_text
from primbench.harness.evaluation.evaluate import EvalResult


def markdown_table(result: EvalResult) -> str:
    """The tidy table as Markdown: accuracy (strict), stderr and the flexible-extract accuracy per group and task."""
    lines = [
        "| name | kind | scoring | n | accuracy | stderr | flexible | version |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in result.scores:
        stderr = "-" if row.stderr is None else f"{row.stderr:.4f}"
        flexible = "-" if row.flexible is None else f"{row.flexible:.4f}"
        lines.append(
            f"| {row.name} | {row.kind} | {row.scoring} | {row.n} | {row.accuracy:.4f} | {stderr} | {flexible} "
            f"| {row.version} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write lm-eval's results JSON, its samples (one JSONL per task) and the table as CSV and Markdown.

    Each file goes to a temporary name in `out_dir` and is renamed, so a crash leaves no half-written file.
    """
    from lm_eval.utils import handle_non_serializable

    out = Path(out_dir)
    summary = {key: value for key, value in result.raw.items() if key != "samples"}
    texts = {
        "results.json": json.dumps(summary, indent=2, default=handle_non_serializable, ensure_ascii=False),
        "scores.csv": result.table().to_csv(index=False),
        "scores.md": markdown_table(result),
    }
    for task, samples in sorted(result.samples.items()):
        texts[f"samples_{task}.jsonl"] = "".join(
            json.dumps(_as_saved_by_lm_eval(sample), default=handle_non_serializable, ensure_ascii=False) + "\n"
            for sample in samples
        )
    return {name: write_text(text, out / name) for name, text in texts.items()}


def _as_saved_by_lm_eval(sample: dict) -> dict:
    """A sample the way lm-eval's own `--log_samples` files hold it (so its loaders and viewers read ours)."""
    from lm_eval.utils import sanitize_list

    arguments = {
        f"gen_args_{i}": {f"arg_{j}": value for j, value in enumerate(argument)}
        for i, argument in enumerate(sample["arguments"])
    }
    return {
        **sample,
        "arguments": arguments,
        "resps": sanitize_list(sample["resps"]),
        "filtered_resps": sanitize_list(sample["filtered_resps"]),
        "target": str(sample["target"]),
    }
