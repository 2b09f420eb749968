"""The reproduction presets: how much evaluation each model size affords (training is model_zoo's configs).

Kept apart from the pipeline so that `primbench reproduce --help` can list them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from primbench.harness.evaluation.finetune import FinetuneConfig


@dataclass(frozen=True)
class ReproducePreset:
    """How much evaluation a preset affords; training itself is model_zoo's `<size>-<method>.yaml`."""

    size: str
    limit: int | None  # test items per task, few-shot and isoplot
    isoplot_points: int  # saved checkpoints scored besides the final model
    finetune: FinetuneConfig
    shots: int = 5  # the paper's few-shot protocol
    tasks: tuple[str, ...] = ("reasoning_primitives",)

    def to_dict(self) -> dict:
        from primbench.harness.evaluation.evaluate import DEFAULT_SEED as FEWSHOT_SEED

        return {
            "size": self.size,
            "tasks": list(self.tasks),
            "seeds": {
                "data": self.finetune.data_seed,
                "fewshot_draw": FEWSHOT_SEED,
                "finetune": list(self.finetune.seeds),
            },
            "fewshot": {"shots": self.shots, "limit": self.limit},
            "isoplot": {"checkpoints": self.isoplot_points, "shots": self.shots, "limit": self.limit},
            "finetune": self.finetune.to_dict(),
        }


# Budgets: `tiny` must finish in 20 minutes on 2 CPU cores including training; `micro` in a test's two minutes.
PRESETS: dict[str, ReproducePreset] = {
    "micro": ReproducePreset(
        "micro", limit=8, isoplot_points=1, finetune=FinetuneConfig(n_train=16, seeds=(0, 1), steps=4, lr=1e-3, limit=8)
    ),
    "tiny": ReproducePreset(
        "tiny",
        limit=50,
        isoplot_points=2,
        finetune=FinetuneConfig(n_train=64, seeds=(0, 1, 2), steps=32, lr=1e-3, limit=50),
    ),
    "small": ReproducePreset(
        "small",
        limit=200,
        isoplot_points=4,
        finetune=FinetuneConfig(n_train=64, seeds=(0, 1, 2), steps=64, lr=5e-4, limit=200),
    ),
    "base": ReproducePreset(
        "base",
        limit=500,
        isoplot_points=6,
        finetune=FinetuneConfig(n_train=64, seeds=(0, 1, 2), steps=64, lr=1e-4, limit=500),
    ),
    "1b": ReproducePreset(
        "1b",
        limit=500,
        isoplot_points=8,
        finetune=FinetuneConfig(n_train=64, seeds=(0, 1, 2), steps=64, lr=3e-5, limit=500),
    ),
}
