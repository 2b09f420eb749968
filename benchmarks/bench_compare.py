"""What `primbench compare` costs next to the same evaluations run by hand, on the same checkpoints.

    python benchmarks/bench_compare.py                    # 2 recipes x 2 seeds x 3 checkpoints, 2 tasks, 20 items
    python benchmarks/bench_compare.py --limit 50 --repeats 6

The checkpoints are small random Llamas (a byte-level BPE trained on primitive text, no download), saved as
"folders of HF checkpoints". By hand is what a user would run without `compare`: `isoplot` over every run (bits
per byte and few-shot accuracy at every checkpoint, then isoplot.csv/png) and `similarity` on each recipe's first
final model (its heatmap). `compare` does those same evaluations plus the bootstrap readings, its state.json and
its report (tables and two more plots); the last line times a re-run of compare, which is that overhead alone.
Both run in this process in ABBA order, each into a fresh folder; the best wall-clock and the best CPU time
(process_time, steadier on a shared machine) of `--repeats` are kept for each.
Target: compare / by hand <= 1.1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from primbench.harness.analysis.isoplot import isoplot  # noqa: E402
from primbench.harness.analysis.similarity import checkpoint_similarity  # noqa: E402
from primbench.harness.comparison.compare import CompareSettings, compare  # noqa: E402
from primbench.harness.reports.diagnostics import write_isoplot  # noqa: E402
from primbench.harness.reports.plots import plot_similarity  # noqa: E402
from primbench.model_zoo.tokenizer import train_tokenizer  # noqa: E402
from primbench.primitives.registry import build_dataset  # noqa: E402

TASKS = ("prim_variable_assignment_d0_math", "prim_arithmetic_psm")


def primitive_text(split: str, count: int) -> str:
    return "\n".join(
        f"{r['prompt']} {r['answer']}" for task in TASKS for r in build_dataset(task[5:], 0).records(split, count)
    )


def build_runs(root: Path, recipes: int, seeds: int, checkpoints: int) -> dict[str, list[str]]:
    """{recipe: [run folder per seed]}, each run a folder of `checkpoints` HF checkpoints (step_1, step_2, ...)."""
    tokenizer = train_tokenizer(primitive_text("train", 50).splitlines(), vocab_size=400, model_max_length=1024)
    runs: dict[str, list[str]] = {}
    for recipe in range(recipes):
        for seed in range(seeds):
            run = root / f"recipe{recipe}-seed{seed}"
            for step in range(1, checkpoints + 1):
                torch.manual_seed(1000 * recipe + 100 * seed + step)
                config = LlamaConfig(
                    vocab_size=len(tokenizer),
                    hidden_size=64,
                    intermediate_size=128,
                    num_hidden_layers=2 + recipe,
                    num_attention_heads=4,
                    num_key_value_heads=2,
                    max_position_embeddings=1024,
                    bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
                LlamaForCausalLM(config).save_pretrained(run / f"step_{step}")
                tokenizer.save_pretrained(run / f"step_{step}")
            runs.setdefault(f"recipe{recipe}", []).append(str(run))
    return runs


def by_hand(runs: dict[str, list[str]], text: Path, out: Path, shots: int, limit: int) -> None:
    """`primbench isoplot` over every run, then `primbench similarity` on each recipe's first final model."""
    points = isoplot([run for paths in runs.values() for run in paths], text, TASKS, shots, limit, progress=False)
    write_isoplot(points, out, text.name)
    for recipe, paths in runs.items():
        result = checkpoint_similarity(sorted(Path(paths[0]).iterdir())[-1])
        plot_similarity(result.matrix, out / f"similarity_{recipe}.png", title=recipe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        runs = build_runs(root / "runs", recipes=2, seeds=2, checkpoints=3)
        text = root / "heldout.txt"
        text.write_text(primitive_text("validation", 5))
        settings = CompareSettings(tasks=TASKS, shots=args.shots, limit=args.limit)
        best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in ("by hand", "compare")}
        for repeat in range(args.repeats):
            order = list(best) if repeat % 2 == 0 else list(reversed(best))  # ABBA: load drifts hit both alike
            for name in order:
                out = root / f"{name.replace(' ', '-')}-{repeat}"
                wall, cpu = time.perf_counter(), time.process_time()
                if name == "compare":
                    compare(runs, "recipe0", out, text=text, settings=settings, log=lambda line: None, progress=False)
                else:
                    by_hand(runs, text, out, args.shots, args.limit)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                best[name] = {"wall": min(best[name]["wall"], wall), "cpu": min(best[name]["cpu"], cpu)}
                print(f"repeat {repeat}: {name:8s} {wall:7.2f} s wall, {cpu:7.2f} s CPU", flush=True)
        start = time.perf_counter()
        compare(
            runs, "recipe0", root / "compare-0", text=text, settings=settings, log=lambda line: None, progress=False
        )
        redraw = time.perf_counter() - start
    checkpoints = sum(len(paths) for paths in runs.values()) * 3
    print(f"{checkpoints} checkpoints, {len(TASKS)} tasks, {args.limit} items, {args.shots}-shot")
    for kind in ("wall", "cpu"):
        hand, mine = best["by hand"][kind], best["compare"][kind]
        print(f"{kind:4s}: by hand (isoplot + similarity) {hand:.2f} s, compare {mine:.2f} s, ratio {mine / hand:.3f}")
    print("target: compare / by hand <= 1.1")
    print(f"compare re-run (readings and report only): {redraw:.2f} s")


if __name__ == "__main__":
    main()
