"""primbench's reasoning primitives: seeded, random-access generators with disjoint splits.

    from primbench.primitives.registry import build_dataset
    dataset = build_dataset("variable_assignment_d1_math", seed=0)
    record = dataset.record("test", 0)
    assert primitives.solve(record) == record["answer"]

This package imports nothing of primbench's but `primbench.atomic` and `primbench.errors`, and neither torch nor
lm-eval.
"""

from __future__ import annotations

from primbench.primitives.errors import PrimitiveError

__all__ = ["PrimitiveError", "score", "solve"]


def solve(record_or_prompt: dict | str, primitive: str | None = None) -> str:
    """Re-derive the answer from the prompt text alone (the independent check on every record).

    A record names its primitive; for a bare prompt pass `primitive`, or each primitive's solver is tried.
    """
    from primbench.primitives.registry import PRIMITIVES

    if isinstance(record_or_prompt, dict):
        prompt, primitive = record_or_prompt["prompt"], primitive or record_or_prompt["primitive"]
    else:
        prompt = record_or_prompt
    if primitive is not None:
        if primitive not in PRIMITIVES:
            raise PrimitiveError(f"unknown primitive {primitive!r}; use one of {', '.join(PRIMITIVES)}")
        return PRIMITIVES[primitive].solve(prompt)
    for module in PRIMITIVES.values():
        try:
            return module.solve(prompt)
        except PrimitiveError:
            continue
    raise PrimitiveError("no primitive's solver understands this prompt; pass primitive= to see why")


def score(prediction: str, record: dict) -> bool:
    """Score `prediction` against a record with its own primitive's `score` (exact match, surrounding whitespace
    ignored, for every primitive shipped today)."""
    from primbench.primitives.registry import PRIMITIVES

    if record.get("primitive") not in PRIMITIVES:
        raise PrimitiveError(
            f"record has unknown primitive {record.get('primitive')!r}; use one of {', '.join(PRIMITIVES)}"
        )
    return PRIMITIVES[record["primitive"]].score(prediction, record)
