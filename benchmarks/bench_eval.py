"""Loglikelihood scoring speed: lm-eval's `hf` backend, `primbench eval` (`primbench-hf`) and the physical floor.

    python benchmarks/bench_eval.py                        # paper suite, 2 items per task (16), 5-shot, batch 8
    python benchmarks/bench_eval.py --limit 2 --models smollm2 --threads 2

All three score the very same lm-eval requests (built once: the loglikelihood tasks of `reasoning_primitives`,
5-shot), in the same length-sorted batches, in float32:
  (a) `hf`: lm-eval's stock backend, logits and log-softmax at every position of every batch;
  (b) `primbench-hf`: what `primbench eval` runs, the output head only at the continuation positions;
  (c) floor: the decoder once per batch (`get_decoder()`), then the output head and log-softmax on the gathered
      continuation rows only, with no lm-eval around it (tokenisation is not timed here).
Model load and task build are timed apart and excluded from the ratios. Models: SmolLM2-135M-Instruct (shared
OFFLINE.md, fetched from PyPI and converted once into $PRIMBENCH_CACHE) and a randomly initialised model with
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


@torch.no_grad()
def floor(model, encoded: list[tuple[list[int], list[int]]], batch_size: int) -> list[tuple[float, bool]]:
    """Decoder once per batch, then head + log-softmax on the continuation rows only (lm-eval's batches)."""
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    order = sorted(
        range(len(encoded)), key=lambda i: (-len(encoded[i][0] + encoded[i][1]), tuple(encoded[i][0] + encoded[i][1]))
    )
    answers: dict[int, tuple[float, bool]] = {}
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        windows = [(encoded[i][0] + encoded[i][1])[:-1] for i in batch]
        inputs = torch.zeros((len(batch), max(map(len, windows))), dtype=torch.long)
        rows = []
        for row, window in enumerate(windows):
            inputs[row, : len(window)] = torch.tensor(window)
            length = len(encoded[batch[row]][1])
            rows.extend((row, position) for position in range(len(window) - length, len(window)))
        hidden = decoder(input_ids=inputs, use_cache=False).last_hidden_state
        picked = hidden[[r for r, _ in rows], [p for _, p in rows]]
        logprobs = F.log_softmax(head(picked), dim=-1)
        start = 0
        for i in batch:
            target = torch.tensor(encoded[i][1])
            scored = logprobs[start : start + len(target)]
            answers[i] = (float(scored.gather(1, target[:, None]).sum()), bool((scored.argmax(-1) == target).all()))
            start += len(target)
    return [answers[i] for i in range(len(encoded))]


def compare(label: str, folder: Path, requests: list, batch_size: int) -> None:
    tokenizer = load_tokenizer(str(folder))
    stock, load_a = timed(
        HFLM, pretrained=str(folder), tokenizer=tokenizer, batch_size=batch_size, device="cpu", dtype="float32"
    )
    ours, load_b = timed(
        PrimbenchLM, pretrained=str(folder), tokenizer=tokenizer, batch_size=batch_size, device="cpu", dtype="float32"
    )
    answers_b, seconds_b = timed(ours.loglikelihood, requests, disable_tqdm=True)
    encoded = [ours._encode_pair(*request.args) for request in requests]
    answers_c, seconds_c = timed(floor, ours.model, encoded, batch_size)
    del ours
    answers_a, seconds_a = timed(stock.loglikelihood, requests, disable_tqdm=True)
    del stock
    same = [g for _, g in answers_a] == [g for _, g in answers_b] == [g for _, g in answers_c]
    worst = max(abs(a[0] - b[0]) for a, b in zip(answers_a, answers_b))
    n = len(requests)
    print(f"\n{label}: {n} requests, batch {batch_size}; model load (a) {load_a:.1f} s, (b) {load_b:.1f} s")
    print(f"{'':<28}{'seconds':>9}{'items/s':>9}")
    for name, seconds in (("(a) lm-eval hf", seconds_a), ("(b) primbench eval", seconds_b), ("(c) floor", seconds_c)):
        print(f"{name:<28}{seconds:>9.2f}{n / seconds:>9.2f}")
    print(
        f"b/c = {seconds_b / seconds_c:.2f}x (target <= 1.3)   a/b = {seconds_a / seconds_b:.2f}x   "
        f"verdicts identical: {same}   max |loglikelihood a-b| = {worst:.1e}"
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
    """A bfloat16-saved checkpoint: primbench's default dtype choice against scoring it as saved."""
    AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.bfloat16).save_pretrained(out)
    AutoTokenizer.from_pretrained(smollm2).save_pretrained(out)
    tokenizer = load_tokenizer(str(out))
    chosen = choose_dtype(out, "cpu", None) or "auto"  # prints its note when it picks float32
    print(f"\nSmolLM2 saved in bfloat16, {len(requests)} requests: default dtype here = {chosen}")
    seconds = {}
    for dtype in dict.fromkeys((chosen, "float32", "bfloat16")):
        lm = PrimbenchLM(pretrained=str(out), tokenizer=tokenizer, batch_size=batch_size, device="cpu", dtype=dtype)
        _, seconds[dtype] = timed(lm.loglikelihood, requests, disable_tqdm=True)
        print(f"  primbench-hf, dtype {dtype:<9}{seconds[dtype]:>8.2f} s")
    print(
        f"default / float32 = {seconds[chosen] / seconds['float32']:.2f}x   "
        f"as saved (bfloat16) / default = {seconds['bfloat16'] / seconds[chosen]:.2f}x"
    )


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
