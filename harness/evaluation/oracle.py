"""lm-eval language models without weights, whose answers are known: for checking the registry itself.

`solver_model()` answers every item with the primitives' solver, which re-derives the answer from the prompt
text alone, so it must score 1.0 on every task in both scorings; anything less is a bug in the task YAML, the
data hook or lm-eval's plumbing. `constant_model(text)` always answers `text`, so its score is exactly the share
of items whose answer is `text`. Both speak lm-eval's `LM` interface, so `primbench.harness.evaluation.evaluate.evaluate` takes
them.
"""

from __future__ import annotations

from collections.abc import Callable

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM

Answerer = Callable[[str, dict], str]  # (the test item's prompt as it ends the context, its doc) -> answer


class AnsweringModel(LM):
    """Answers each item with `answer(prompt, doc)`: generation returns it after the delimiter space, and a
    loglikelihood request is greedy exactly when its continuation is that answer."""

    def __init__(self, answer: Answerer, wrong_logprob: float = -10.0) -> None:
        super().__init__()
        self._answer = answer
        self._wrong_logprob = wrong_logprob

    def _answer_for(self, request: Instance) -> str:
        context, prompt = request.args[0], request.doc["prompt"]
        if not context.endswith(prompt):  # the task must put the test prompt last, after the examples
            raise AssertionError(f"context does not end with the item's prompt: {context[-200:]!r}")
        return self._answer(prompt, request.doc)

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        results = []
        for request in requests:
            greedy = request.args[1] == " " + self._answer_for(request)
            results.append((0.0 if greedy else self._wrong_logprob, greedy))
        return results

    def generate_until(self, requests: list[Instance]) -> list[str]:
        return [" " + self._answer_for(request) for request in requests]

    def loglikelihood_rolling(self, requests: list[Instance]) -> list[float]:
        raise NotImplementedError("primbench tasks never ask for rolling loglikelihoods")


def solver_model() -> AnsweringModel:
    """The oracle: the primitives' own solver, reading only the prompt."""
    from primbench.primitives import solve
    from primbench.primitives.registry import get_preset

    return AnsweringModel(lambda prompt, doc: solve(prompt, get_preset(doc["preset"]).primitive))


def constant_model(text: str) -> AnsweringModel:
    """Always answers `text`."""
    return AnsweringModel(lambda prompt, doc: text)
