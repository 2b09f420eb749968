"""Runs trained with `transformers.Trainer` on primitive text: two learning rates, two seeds each (for compare)."""

from pathlib import Path

import torch
from test_eval_hf import build_tiny_llama
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

from primbench.primitives.registry import build_dataset

SEQ_LEN = 48
STEPS = 6
SAVE_EVERY = 2


class TokenBlocks(torch.utils.data.Dataset):
    """Fixed-length blocks of the tokenised text; labels are the inputs (the model shifts them)."""

    def __init__(self, ids: list[int]):
        self.blocks = [ids[i : i + SEQ_LEN] for i in range(0, len(ids) - SEQ_LEN, SEQ_LEN)]

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, index):
        block = torch.tensor(self.blocks[index])
        return {"input_ids": block, "labels": block.clone()}


def primitive_text(split: str, count: int) -> str:
    presets = ("variable_assignment_d0_math", "arithmetic_psm")
    return "\n".join(f"{r['prompt']} {r['answer']}" for p in presets for r in build_dataset(p, 0).records(split, count))


def train_runs(root: Path, learning_rates: dict[str, float], seeds=(0, 1)) -> dict[str, list[Path]]:
    """{name: [output folder per seed]}; each holds checkpoint-{2,4,6}/ with trainer_state.json (and eval_loss)."""
    start = build_tiny_llama(root / "init")
    tokenizer = AutoTokenizer.from_pretrained(start)
    train = TokenBlocks(tokenizer(primitive_text("train", 40), add_special_tokens=False)["input_ids"])
    held_out = TokenBlocks(tokenizer(primitive_text("validation", 5), add_special_tokens=False)["input_ids"])
    runs: dict[str, list[Path]] = {}
    for name, lr in learning_rates.items():
        for seed in seeds:
            out = root / f"{name}-seed{seed}"
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_pretrained(start)
            arguments = TrainingArguments(
                output_dir=str(out),
                max_steps=STEPS,
                per_device_train_batch_size=4,
                learning_rate=lr,
                lr_scheduler_type="constant",
                save_strategy="steps",
                save_steps=SAVE_EVERY,
                eval_strategy="steps",
                eval_steps=SAVE_EVERY,
                logging_steps=SAVE_EVERY,
                seed=seed,
                data_seed=seed,
                report_to="none",
                use_cpu=True,
                disable_tqdm=True,
                save_only_model=True,
            )
            trainer = Trainer(
                model,
                arguments,
                data_collator=default_data_collator,
                train_dataset=train,
                eval_dataset=held_out,
                processing_class=tokenizer,
            )
            trainer.train()
            runs.setdefault(name, []).append(out)
    return runs
