"""Run under torchrun (or alone) by test_growth_callback.py and benchmarks/gpu_check.sh; not a test module itself.

torchrun --nproc_per_node 2 trainer_growth_probe.py OUT [--no-average]

transformers.Trainer + GrowthCallback (MIDAS, 3 stages of 2 layers) on a tiny random Llama, gradient clipping and
accumulation on, each rank reading its own half of the batches. Every rank writes OUT/rank_<r>.json with the
sha256 of its final state dict, the depth and the step, and the same for a second run resumed from checkpoint-4
(4 layers, before the last growth). `--no-average` turns the callback's averaging of the
grown layers' gradients off: the negative control, whose ranks must end apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from primbench.model_zoo.growth import GrowthCallback


def state_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(out: str, average: bool, resume: str | None = None) -> tuple[torch.nn.Module, int]:
    """Train from scratch (or resume a checkpoint); the final model and step."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2
    )
    model = LlamaForCausalLM(config)
    tokens = torch.randint(0, 128, (96, 16), generator=torch.Generator().manual_seed(1))
    data = [{"input_ids": ids, "labels": ids} for ids in tokens]
    args = TrainingArguments(
        out,
        max_steps=9,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        learning_rate=1e-2,
        max_grad_norm=0.5,
        save_steps=4,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),  # benchmarks/gpu_check.sh runs it on GPUs (NCCL)
        disable_tqdm=True,
        seed=0,
    )
    callback = GrowthCallback(method="midas", block_size=2, stages=3)
    if not average:
        callback._gradient_ready = lambda parameter: None
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    trainer.train(resume_from_checkpoint=resume)
    return model, trainer.state.global_step


def main(out: str, average: bool) -> None:
    model, step = train(out, average)
    record = {"hash": state_hash(model), "layers": model.config.num_hidden_layers, "step": step}
    if average:  # resume the 4-layer checkpoint under DDP: it grows once more, as the whole run did
        resumed, resumed_step = train(out, average, resume=os.path.join(out, "checkpoint-4"))
        record["resumed"] = {
            "hash": state_hash(resumed),
            "layers": resumed.config.num_hidden_layers,
            "step": resumed_step,
        }
    rank = int(os.environ.get("RANK", "0"))
    with open(os.path.join(out, f"rank_{rank}.json"), "w") as file:
        json.dump(record, file)


if __name__ == "__main__":
    main(sys.argv[1], "--no-average" not in sys.argv)
